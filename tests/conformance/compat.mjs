// Agents written the way the AG-UI dojo and CopilotKit write them, served by
// graphwire, driven by the official client as a page would drive them.
// Usage: node compat.mjs <scenario> <baseUrl>. Prints what the page would show.
import { buildResumeArray } from "@ag-ui/client";
import { harness, last, texts } from "./lib.mjs";

const [scenario, base] = process.argv.slice(2);
const { agent, user, run } = harness(scenario, base);

const customs = (r, name) => r.events.filter((e) => e.type === "CUSTOM" && e.name === name);
const toolNames = (a) =>
  a.messages.flatMap((m) => (m.toolCalls || []).map((c) => c.function.name));
const toolResults = (a) => a.messages.filter((m) => m.role === "tool").map((m) => m.content);

// What CopilotKit does with PredictState: stream the named tool argument into
// the named state key while the call's arguments arrive.
function predicted(r) {
  const [announce] = customs(r, "PredictState");
  if (!announce) return null;
  const out = {};
  for (const { state_key, tool, tool_argument } of announce.value) {
    const start = r.events.find((e) => e.type === "TOOL_CALL_START" && e.toolCallName === tool);
    if (!start) continue;
    const args = r.events
      .filter((e) => e.type === "TOOL_CALL_ARGS" && e.toolCallId === start.toolCallId)
      .map((e) => e.delta)
      .join("");
    out[state_key] = JSON.parse(args)[tool_argument];
  }
  return out;
}

// A new conversation with the agent: one user message, one run.
async function ask(name, text, params = {}) {
  const a = agent(name);
  a.addMessage(user(text));
  return [a, await run(a, params)];
}

const approveAll = (a, payload) =>
  buildResumeArray(
    a.pendingInterrupts,
    Object.fromEntries(a.pendingInterrupts.map((i) => [i.id, { status: "resolved", payload }])),
  );

const scenarios = {
  async chat() {
    const [a, r] = await ask("chat", "hello");
    return { error: r.error, outcome: last(r).outcome, texts: texts(a) };
  },

  async backend_tool() {
    const [a, r] = await ask("chat", "what is the weather in Paris");
    return { error: r.error, tools: toolNames(a), results: toolResults(a), texts: texts(a) };
  },

  async frontend_tool() {
    const a = agent("chat");
    const tools = [
      {
        name: "change_background",
        description: "Change the page background",
        parameters: { type: "object", properties: { background: { type: "string" } } },
      },
    ];
    a.addMessage(user("change the background"));
    const first = await run(a, { tools });
    const pending = last(first).outcome.pendingToolCallIds;
    a.addMessage({ id: "fe-answer", role: "tool", toolCallId: pending[0], content: "navy it is" });
    const second = await run(a, { tools });
    return {
      error: first.error || second.error,
      pending,
      tools: toolNames(a),
      outcome: last(second).outcome,
      texts: texts(a),
    };
  },

  async hitl() {
    const a = agent("hitl");
    a.addMessage(user("plan a garden"));
    const first = await run(a);
    const [interrupt] = a.pendingInterrupts;
    const chosen = interrupt.metadata.payload.steps.filter((s) => s.description !== "Water it");
    const second = await run(a, { resume: approveAll(a, JSON.stringify(chosen)) });
    return {
      error: first.error || second.error,
      predicted: predicted(first),
      interrupt: { reason: interrupt.reason, steps: interrupt.metadata.payload.steps },
      outcome: last(second).outcome,
      state: a.state,
      texts: texts(a),
    };
  },

  async hitl_legacy() {
    const a = agent("hitl_legacy");
    a.addMessage(user("plan a garden"));
    const first = await run(a);
    const [event] = customs(first, "on_interrupt");
    const steps = JSON.parse(event.value).steps;
    const command = { resume: JSON.stringify(steps.slice(0, 1)), interruptEvent: event.value };
    const second = await run(a, { forwardedProps: { command } });
    return {
      error: first.error || second.error,
      firstOutcome: last(first).outcome,
      steps,
      state: a.state,
      texts: texts(a),
    };
  },

  async generative_ui() {
    const [a, r] = await ask("generative_ui", "write a report");
    const snapshots = r.events.filter((e) => e.type === "STATE_SNAPSHOT").map((e) => e.snapshot);
    return {
      error: r.error,
      progress: snapshots.map((s) => (s.steps || []).map((step) => step.status).join(",")),
      outcome: last(r).outcome,
      state: a.state,
      texts: texts(a),
    };
  },

  async subgraphs() {
    const a = agent("subgraphs");
    a.addMessage(user("plan a trip"));
    const first = await run(a);
    const asked = a.pendingInterrupts.map((i) => ({
      message: i.message,
      subagent: Boolean(i.subagentRunId),
    }));
    const answers = Object.fromEntries(
      a.pendingInterrupts.map((i) => [
        i.id,
        { status: "resolved", payload: { choice: i.metadata.payload.options[0] } },
      ]),
    );
    const resume = buildResumeArray(a.pendingInterrupts, answers);
    const second = await run(a, { resume });
    return {
      error: first.error || second.error,
      asked,
      subagents: first.events.filter((e) => e.type === "SUBAGENT_STARTED").map((e) => e.name),
      outcome: last(second).outcome,
      texts: texts(a),
    };
  },

  async travel() {
    const a = agent("travel");
    a.addMessage(user("plan a trip to Lisbon"));
    const first = await run(a);
    const [paused] = a.pendingInterrupts;
    const planned = structuredClone(a.state);
    const second = await run(a, { resume: approveAll(a, null) });
    return {
      error: first.error || second.error,
      paused: { reason: paused.reason, node: paused.metadata.payload.node },
      planned,
      outcome: last(second).outcome,
      state: a.state,
      texts: texts(a),
    };
  },

  async shared_state() {
    const [a, r] = await ask("shared_state", "a pasta recipe");
    const streamed = r.events.filter((e) => e.type === "TEXT_MESSAGE_CONTENT").map((e) => e.delta);
    return {
      error: r.error,
      predicted: predicted(r),
      streamed,
      toolStarts: r.events.filter((e) => e.type === "TOOL_CALL_START").map((e) => e.toolCallName),
      outcome: last(r).outcome,
      state: a.state,
    };
  },
};

const result = await scenarios[scenario]();
console.log(JSON.stringify(result));
