// Approve (or reject) a task waiting for review: the ordinary AG-UI
// interrupt/resume handshake, a run on the task's thread answering every open
// interrupt. The task then goes on in the background; the card watches it.
import { agentUrl, serverUrl } from "../../../../graphwire";

type Interrupt = { id: string };

export async function POST(request: Request, context: { params: Promise<{ taskId: string }> }) {
  const { taskId } = await context.params;
  const { approved } = (await request.json()) as { approved: boolean };
  const task = await fetch(`${serverUrl}/tasks/${encodeURIComponent(taskId)}`, {
    cache: "no-store",
  });
  if (!task.ok) return new Response(task.body, { status: task.status });
  const { threadId, interrupts } = (await task.json()) as {
    threadId: string;
    interrupts: Interrupt[];
  };
  const run = await fetch(agentUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({
      threadId,
      runId: crypto.randomUUID(),
      protocolVersion: "1.0",
      messages: [],
      resume: interrupts.map((i) => ({
        interruptId: i.id,
        status: "resolved",
        payload: { approved },
      })),
    }),
  });
  // The resumed run is the task's: it goes on if we stop reading, so close the stream.
  await run.body?.cancel();
  return Response.json({ status: run.status }, { status: run.ok ? 202 : run.status });
}
