// Approve (or reject) a task waiting for review: the ordinary AG-UI
// interrupt/resume handshake, a run on the task's thread answering every open
// interrupt. The task goes on in the background (the card watches it), so only
// the run's first events are read: a refused handshake is a RUN_ERROR there.
import { type BaseEvent, runHttpRequest, transformHttpEventStream } from "@ag-ui/client";
import { firstValueFrom, take, toArray } from "rxjs";
import { agentUrl, authHeaders, serverUrl } from "../../../../graphwire";

type Interrupt = { id: string };

export async function POST(request: Request, context: { params: Promise<{ taskId: string }> }) {
  const { taskId } = await context.params;
  const { approved } = (await request.json()) as { approved: boolean };
  const task = await fetch(`${serverUrl}/tasks/${encodeURIComponent(taskId)}`, {
    cache: "no-store",
    headers: authHeaders,
  });
  if (!task.ok) return new Response(task.body, { status: task.status });
  const { threadId, interrupts } = (await task.json()) as {
    threadId: string;
    interrupts: Interrupt[];
  };
  const body = JSON.stringify({
    threadId,
    runId: crypto.randomUUID(),
    protocolVersion: "1.0",
    messages: [],
    resume: interrupts.map((i) => ({ interruptId: i.id, status: "resolved", payload: { approved } })),
  });
  const stop = new AbortController();
  const headers = { ...authHeaders, "content-type": "application/json", accept: "text/event-stream" };
  const events$ = transformHttpEventStream(
    runHttpRequest(() => fetch(agentUrl, { method: "POST", headers, body, signal: stop.signal })),
  );
  const first = await firstValueFrom(events$.pipe(take(2), toArray())).finally(() => stop.abort());
  const failed = first.find((e: BaseEvent) => e.type === "RUN_ERROR") as
    | { message?: string; code?: string }
    | undefined;
  if (failed) return Response.json({ code: failed.code, message: failed.message }, { status: 409 });
  return Response.json({ status: "resumed" }, { status: 202 });
}
