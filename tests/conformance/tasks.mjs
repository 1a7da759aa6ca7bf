// Delegated tasks driven by the official AG-UI client (@ag-ui/client 1.0):
// started by an agent's tool or over HTTP, tailed live (connectAgent on the
// task's event stream), re-attached with Last-Event-ID, answered through the
// interrupt/resume handshake, cancelled, followed up, retried.
// Usage: node tasks.mjs <scenario> <baseUrl>; prints one JSON object.
import { buildResumeArray, runHttpRequest, transformHttpEventStream } from "@ag-ui/client";
import { lastValueFrom, take, toArray } from "rxjs";
import { TaskAgent, harness, last, texts } from "./lib.mjs";

const [scenario, base] = process.argv.slice(2);
const { agent, user, run, readStream } = harness(scenario, base);

async function post(path, body) {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const getJson = async (path) => (await fetch(`${base}${path}`)).json();

function approveAll(a) {
  const responses = Object.fromEntries(
    a.pendingInterrupts.map((i) => [i.id, { status: "resolved", payload: { approved: true } }]),
  );
  return buildResumeArray(a.pendingInterrupts, responses);
}

const scenarios = {
  async via_tool() {
    const chat = agent("demo", "conversation-1");
    chat.addMessage(user("deploy to staging in the background"));
    const started = await run(chat);
    const snapshot = started.events.find((e) => e.type === "ACTIVITY_SNAPSHOT");
    const taskId = snapshot.content.taskId;
    const task = new TaskAgent({ base, agentName: "demo", taskId });
    const watched = await run(task, {}, null, true);
    const pending = task.pendingInterrupts.map((i) => ({ id: i.id, message: i.message }));
    const answered = await run(task, { resume: approveAll(task), runId: "handshake-run" });
    const board = await getJson(`/tasks/${taskId}`);
    return {
      error: started.error || watched.error || answered.error,
      startedTypes: started.types,
      activity: snapshot.content,
      activityMessages: chat.messages.filter((m) => m.role === "activity").length,
      watchedOutcome: last(watched).outcome,
      pending,
      answeredTypes: answered.types,
      answeredRunId: answered.events[0].runId,
      answeredOutcome: last(answered).outcome,
      afterPending: task.pendingInterrupts.length,
      state: board.state,
      result: board.result,
      parentRunId: board.parentRunId,
      texts: texts(task),
    };
  },

  async via_http() {
    const created = await post("/agents/demo/tasks", { prompt: "weather in Oslo", title: "Oslo" });
    const task = new TaskAgent({ base, agentName: "demo", taskId: created.body.taskId });
    const watched = await run(task, {}, null, true);
    return {
      status: created.status,
      created: created.body,
      error: watched.error,
      outcome: last(watched).outcome,
      runStarted: watched.events[0],
      texts: texts(task),
    };
  },

  async reattach() {
    const created = await post("/agents/slow/tasks", { prompt: "work" });
    const url = `${base}/tasks/${created.body.taskId}/events`;
    const first = await lastValueFrom(
      transformHttpEventStream(runHttpRequest(() => fetch(url))).pipe(take(4), toArray()),
    );
    const rest = await readStream(url, first.length, false);
    const whole = await readStream(url, 0, true);
    const key = (e) => JSON.stringify([e.type, e.value ?? null, e.delta ?? null]);
    return {
      first: first.length,
      rest: rest.length,
      same: [...first, ...rest].map(key).join() === whole.map(key).join(),
      outcome: whole[whole.length - 1].outcome,
    };
  },

  async cancel() {
    const created = await post("/agents/slow/tasks", { prompt: "work" });
    const taskId = created.body.taskId;
    const task = new TaskAgent({ base, agentName: "slow", taskId });
    let cancelled = null;
    const watched = await run(
      task,
      {},
      (event) => {
        if (event.type === "CUSTOM" && cancelled === null) cancelled = post(`/tasks/${taskId}/cancel`);
      },
      true,
    );
    const response = await cancelled;
    return {
      error: watched.error,
      cancelStatus: response.status,
      outcome: last(watched).outcome,
      state: (await getJson(`/tasks/${taskId}`)).state,
    };
  },

  async followup_retry() {
    const created = await post("/agents/demo/tasks", { prompt: "hello" });
    const taskId = created.body.taskId;
    const first = new TaskAgent({ base, agentName: "demo", taskId });
    const one = await run(first, {}, null, true);
    await post(`/tasks/${taskId}/followup`, { message: "weather in Rome" });
    const second = new TaskAgent({ base, agentName: "demo", taskId, lastEventId: one.events.length });
    const two = await run(second, {}, null, true);

    const failing = await post("/agents/flaky/tasks", { prompt: "try" });
    const flakyId = failing.body.taskId;
    const failed = await run(new TaskAgent({ base, agentName: "flaky", taskId: flakyId }), {}, null, true);
    const retried = await post(`/tasks/${flakyId}/retry`);
    const again = new TaskAgent({ base, agentName: "flaky", taskId: flakyId, lastEventId: failed.events.length });
    const rerun = await run(again, {}, null, true);
    return {
      errors: [one.error, two.error, failed.error, rerun.error],
      followupOutcome: last(two).outcome,
      followupTexts: texts(second),
      failedType: last(failed).type,
      failedCode: last(failed).code,
      retryStatus: retried.status,
      retryOutcome: last(rerun).outcome,
      retryState: (await getJson(`/tasks/${flakyId}`)).state,
    };
  },

  async board() {
    const ids = [];
    for (const prompt of ["one", "two", "three"]) {
      ids.push((await post("/agents/demo/tasks", { prompt })).body.taskId);
    }
    for (const id of ids) {
      await run(new TaskAgent({ base, agentName: "demo", taskId: id }), {}, null, true);
    }
    const firstPage = await getJson("/tasks?limit=2");
    const secondPage = await getJson(`/tasks?limit=2&cursor=${encodeURIComponent(firstPage.nextCursor)}`);
    const done = await getJson("/tasks?state=done&agent=demo");
    const queued = await getJson("/tasks?state=queued");
    const missing = await fetch(`${base}/tasks/no-such-task`);
    const conflict = await post(`/tasks/${ids[0]}/retry`);
    return {
      ids,
      firstPage: firstPage.tasks.map((t) => t.taskId),
      secondPage: secondPage.tasks.map((t) => t.taskId),
      secondCursor: secondPage.nextCursor,
      done: done.tasks.length,
      queued: queued.tasks.length,
      missing: { status: missing.status, code: (await missing.json()).code },
      conflict: { status: conflict.status, code: conflict.body.code },
    };
  },
};

const result = await scenarios[scenario]();
process.stdout.write(JSON.stringify(result));
