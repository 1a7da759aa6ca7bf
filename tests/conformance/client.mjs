// Scenarios run by the official AG-UI client (@ag-ui/client 1.0) against a
// live graphwire server. Usage: node client.mjs <scenario> <baseUrl>
// Prints one JSON object; the pytest side asserts on it. Every run goes
// through HttpAgent, whose pipeline verifies each event against the 1.0 rules.
import { buildResumeArray } from "@ag-ui/client";
import { harness, last, sleep, texts, verified } from "./lib.mjs";

const [scenario, base] = process.argv.slice(2);
const { agent, user, run, liveCount, reattach } = harness(scenario, base);

const scenarios = {
  async chat() {
    const a = agent("demo");
    a.addMessage(user("hello there"));
    const r = await run(a);
    return { error: r.error, outcome: last(r).outcome, texts: texts(a), types: r.types };
  },

  async backend_tool() {
    const a = agent("demo");
    a.addMessage(user("weather in Paris"));
    const r = await run(a);
    const toolMessages = a.messages.filter((m) => m.role === "tool").map((m) => m.content);
    return { error: r.error, outcome: last(r).outcome, toolMessages, texts: texts(a) };
  },

  async frontend_tool() {
    const a = agent("frontend");
    const tools = [{ name: "confirm_color", description: "Ask the user", parameters: { type: "object", properties: {} } }];
    a.addMessage(user("pick a color"));
    const first = await run(a, { tools });
    const pending = last(first).outcome.pendingToolCallIds;
    a.addMessage({ id: "tool-answer", role: "tool", toolCallId: pending[0], content: "blue" });
    const second = await run(a, { tools });
    return { error: first.error || second.error, pending, outcome: last(second).outcome, texts: texts(a) };
  },

  async interrupt() {
    const a = agent("demo");
    a.addMessage(user("deploy to staging"));
    const first = await run(a);
    const pending = a.pendingInterrupts.map((i) => ({ id: i.id, message: i.message, toolCallId: i.toolCallId }));
    const responses = Object.fromEntries(a.pendingInterrupts.map((i) => [i.id, { status: "resolved", payload: { approved: true } }]));
    const resume = buildResumeArray(a.pendingInterrupts, responses);
    const second = await run(a, { resume });
    return {
      error: first.error || second.error,
      firstOutcome: last(first).outcome.type,
      pending,
      secondOutcome: last(second).outcome,
      afterPending: a.pendingInterrupts.length,
      toolMessages: a.messages.filter((m) => m.role === "tool").map((m) => m.content),
    };
  },

  async errors() {
    const before = agent("broken", "thread-broken");
    before.addMessage(user("fail before"));
    const b = await run(before);
    const mid = agent("broken", "thread-broken-mid");
    mid.addMessage(user("fail mid"));
    const m = await run(mid);
    return {
      before: { error: b.error, types: b.types, code: last(b).code },
      mid: { error: m.error, types: m.types, code: last(m).code, texts: texts(mid) },
    };
  },

  async cancel_route() {
    const a = agent("slow");
    a.addMessage(user("work"));
    let cancelled = null;
    const r = await run(a, {}, (event) => {
      if (event.type === "RUN_STARTED") {
        cancelled = sleep(200).then(() =>
          fetch(`${base}/runs/${event.runId}/cancel`, { method: "POST" }),
        );
      }
    });
    // The run can end before the cancel's own response arrives: wait for it.
    const cancelStatus = cancelled ? (await cancelled).status : null;
    return { error: r.error, cancelStatus, outcome: last(r).outcome, types: r.types };
  },

  async drop_default() {
    const a = agent("slow");
    a.addMessage(user("work"));
    let runId = null;
    const r = await run(a, {}, (event, ag) => {
      if (event.type === "RUN_STARTED") runId = event.runId;
      if (event.type === "CUSTOM" && event.value === 1) ag.abortRun();
    });
    await sleep(300);
    const log = await reattach(runId, 0, true);
    const b = agent("slow");
    b.addMessage(user("again"));
    const next = await run(b, {}, (event, ag) => {
      if (event.type === "CUSTOM") ag.abortRun();
    });
    return {
      seen: r.events.length,
      logTypes: log.map((e) => e.type),
      outcome: log[log.length - 1].outcome,
      nextStarted: next.types[0],
    };
  },

  async drop_continue() {
    const a = agent("slow");
    a.addMessage(user("work"));
    let runId = null;
    let seen = 0;
    const forwardedProps = { graphwire: { onDisconnect: "continue" } };
    const first = await run(a, { forwardedProps }, (event, ag) => {
      if (event.type === "RUN_STARTED") runId = event.runId;
      if (event.type === "CUSTOM" && event.value === 2 && seen === 0) {
        seen = liveCount(ag);
        ag.abortRun();
      }
    });
    // What the server sent before the drop; the client may append its own abort error.
    const received = first.events.slice(0, seen);
    const rest = await reattach(runId, seen, false);
    const whole = await reattach(runId, 0, true);
    const joined = [...received, ...rest];
    return {
      seen,
      afterAbort: first.types.slice(seen),
      rest: rest.length,
      joinedError: await verified(joined),
      same: JSON.stringify(joined.map((e) => [e.type, e.value ?? null])) ===
        JSON.stringify(whole.map((e) => [e.type, e.value ?? null])),
      outcome: rest[rest.length - 1].outcome,
    };
  },

  async concurrent() {
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const a = agent("demo", `thread-concurrent-${i}`);
        a.addMessage(user(`message number ${i}`));
        const r = await run(a);
        return { error: r.error, runIds: [...new Set(r.events.filter((e) => e.runId).map((e) => e.runId))], text: texts(a).join("") };
      }),
    );
    return { results };
  },

  async thread_busy() {
    const a = agent("slow", "thread-busy");
    a.addMessage(user("work"));
    const b = agent("slow", "thread-busy");
    b.addMessage(user("me too"));
    let second = null;
    const first = await run(a, {}, (event) => {
      if (event.type === "CUSTOM" && event.value === 1 && second === null) second = run(b);
    });
    const other = await second;
    return { firstOutcome: last(first).outcome, secondError: other.error, secondEvents: other.events.length };
  },
};

const result = await scenarios[scenario]();
process.stdout.write(JSON.stringify(result));
