// Helpers shared by the conformance scenarios (client.mjs, tasks.mjs): the
// official @ag-ui/client drives a live graphwire server.
import {
  HttpAgent,
  runHttpRequest,
  transformHttpEventStream,
  verifyEvents,
} from "@ag-ui/client";
import { from, lastValueFrom, toArray } from "rxjs";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function harness(scenario, base) {
  let counter = 0;
  let liveEvents = [];

  function agent(name, threadId = `thread-${scenario}`, extra = {}) {
    return new HttpAgent({ url: `${base}/agents/${name}`, threadId, ...extra });
  }

  function user(text) {
    counter += 1;
    return { id: `u-${scenario}-${counter}`, role: "user", content: text };
  }

  const liveCount = () => liveEvents.length;

  // Every event of a run (or of a connectAgent stream) through the agent's pipeline.
  async function run(a, params = {}, onEvent, connect = false) {
    const events = [];
    liveEvents = events;
    let error = null;
    const subscriber = {
      onEvent: ({ event }) => {
        events.push(event);
        if (onEvent) onEvent(event, a);
      },
    };
    try {
      await (connect ? a.connectAgent(params, subscriber) : a.runAgent(params, subscriber));
    } catch (e) {
      error = String(e && e.message ? e.message : e);
    }
    return { events, error, types: events.map((e) => e.type) };
  }

  // A stream the client's own SSE code parses (optionally verified): GET url.
  async function readStream(url, lastEventId = 0, verify = true) {
    const http$ = runHttpRequest(() =>
      fetch(url, { headers: { "Last-Event-ID": String(lastEventId) } }),
    );
    let events$ = transformHttpEventStream(http$);
    if (verify) events$ = events$.pipe(verifyEvents());
    return lastValueFrom(events$.pipe(toArray()));
  }

  // Replay a run's log after Last-Event-ID.
  const reattach = (runId, lastEventId, verify) =>
    readStream(`${base}/runs/${runId}/events`, lastEventId, verify);

  return { agent, user, run, liveCount, readStream, reattach };
}

export function last(result) {
  return result.events[result.events.length - 1];
}

export function texts(a) {
  return a.messages.filter((m) => m.role === "assistant" && m.content).map((m) => m.content);
}

export async function verified(events) {
  try {
    await lastValueFrom(from(events).pipe(verifyEvents(), toArray()));
    return null;
  } catch (e) {
    return String(e.message || e);
  }
}

// An HttpAgent that can also attach to a task's AG-UI runs: connectAgent()
// tails GET /tasks/{taskId}/events through the client's whole pipeline, so the
// agent's messages and pendingInterrupts follow the task; runAgent() on the
// task's thread is the interrupt/resume handshake.
export class TaskAgent extends HttpAgent {
  constructor({ base, agentName, taskId, lastEventId = 0, ...config }) {
    super({ url: `${base}/agents/${agentName}`, threadId: taskId, ...config });
    this.eventsUrl = `${base}/tasks/${taskId}/events`;
    this.lastEventId = lastEventId;
  }

  connect() {
    const headers = { "Last-Event-ID": String(this.lastEventId) };
    return transformHttpEventStream(runHttpRequest(() => fetch(this.eventsUrl, { headers })));
  }
}
