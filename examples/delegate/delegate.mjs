// Delegate a task to a graphwire agent, watch it live, answer its approval
// with the AG-UI interrupt/resume handshake, and print its result.
//
//   graphwire serve                      # the keyless demo agent, in another shell
//   npm ci && node delegate.mjs http://127.0.0.1:8000 "deploy to staging"
//
// Only the official AG-UI client is used: the task's event stream is read by
// HttpAgent's own pipeline (connectAgent), so its messages and pending
// interrupts are the client's usual state; the answer is an ordinary run on
// the task's thread with `resume`.
import { HttpAgent, buildResumeArray, runHttpRequest, transformHttpEventStream } from "@ag-ui/client";

const [base = "http://127.0.0.1:8000", prompt = "deploy to staging", agentName = "demo"] =
  process.argv.slice(2);

/** An HttpAgent that can also attach to a task's runs (GET /tasks/{id}/events). */
class TaskAgent extends HttpAgent {
  constructor(task) {
    super({ url: `${base}/agents/${task.agent}`, threadId: task.threadId });
    this.eventsUrl = task.eventsUrl;
    this.seen = 0;
  }

  connect() {
    // Resume the stream after the events already seen (Last-Event-ID).
    const headers = { "Last-Event-ID": String(this.seen) };
    return transformHttpEventStream(runHttpRequest(() => fetch(this.eventsUrl, { headers })));
  }
}

const log = (line) => process.stderr.write(`${line}\n`);

function printer(agent) {
  return {
    onEvent({ event }) {
      agent.seen += 1;
      if (event.type === "RUN_STARTED") log(`run ${event.runId} started`);
      if (event.type === "TEXT_MESSAGE_CONTENT") process.stderr.write(event.delta);
      if (event.type === "TEXT_MESSAGE_END") log("");
      if (event.type === "TOOL_CALL_START") log(`tool call: ${event.toolCallName}`);
      if (event.type === "RUN_FINISHED") log(`run finished: ${event.outcome?.type}`);
      if (event.type === "RUN_ERROR") log(`run failed: ${event.code} ${event.message}`);
    },
  };
}

// 1. Start the task over HTTP.
const created = await fetch(`${base}/agents/${agentName}/tasks`, {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ prompt, title: `example: ${prompt}` }),
});
if (created.status !== 201) throw new Error(`starting the task failed: ${await created.text()}`);
const task = await created.json();
log(`task ${task.taskId} is ${task.state}`);

// 2. Watch it live until it settles (done, failed, cancelled or waiting for review).
const agent = new TaskAgent(task);
await agent.connectAgent({}, printer(agent));

// 3. Answer every pending interrupt through the handshake, as long as it asks.
while (agent.pendingInterrupts.length > 0) {
  for (const interrupt of agent.pendingInterrupts) log(`approving: ${interrupt.message}`);
  const responses = Object.fromEntries(
    agent.pendingInterrupts.map((i) => [i.id, { status: "resolved", payload: { approved: true } }]),
  );
  await agent.runAgent({ resume: buildResumeArray(agent.pendingInterrupts, responses) }, printer(agent));
}

// 4. The result, from the board.
const finished = await (await fetch(`${base}/tasks/${task.taskId}`)).json();
process.stdout.write(
  JSON.stringify({ taskId: finished.taskId, state: finished.state, result: finished.result, runIds: finished.runIds }),
);
process.exitCode = finished.state === "done" ? 0 : 1;
