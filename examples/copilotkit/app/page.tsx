"use client";
// A CopilotKit page in front of graphwire's keyless demo agent. Try "hello",
// "weather in Paris" (reasoning and a tool card), "deploy to staging" (an
// approval through the AG-UI interrupt/resume handshake) and "deploy to staging
// in the background" (a delegated task, shown as a card that stays current).
import {
  CopilotChat,
  CopilotKit,
  type ReactActivityMessageRenderer,
  useAgent,
  useDefaultRenderTool,
  useInterrupt,
  useRenderTool,
} from "@copilotkit/react-core/v2";
import { useEffect, useState } from "react";
import { z } from "zod";

// graphwire's ACTIVITY_SNAPSHOT for a delegated task (activityType "graphwire.task").
const taskActivity = z
  .object({
    taskId: z.string(),
    title: z.string(),
    state: z.string(),
    result: z.string().nullish(),
  })
  .passthrough();
type TaskActivity = z.infer<typeof taskActivity>;

const SETTLED = new Set(["done", "failed", "cancelled"]);

// Live while the conversation's run streams (ACTIVITY_DELTA), then from the
// board: a task goes on after the reply that started it has ended.
function TaskCard({ activity }: { activity: TaskActivity }) {
  const [task, setTask] = useState<TaskActivity>(activity);
  const [sending, setSending] = useState(false);
  useEffect(() => setTask((t) => ({ ...t, ...activity })), [activity]);
  useEffect(() => {
    if (SETTLED.has(task.state)) return;
    const timer = setInterval(async () => {
      const response = await fetch(`/api/tasks/${task.taskId}`, { cache: "no-store" });
      if (response.ok) setTask(taskActivity.parse(await response.json()));
    }, 1000);
    return () => clearInterval(timer);
  }, [task.taskId, task.state]);

  async function review(approved: boolean) {
    setSending(true);
    await fetch(`/api/tasks/${task.taskId}/approve`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ approved }),
    });
    setSending(false);
  }

  return (
    <div className="card" data-testid="task-card" data-state={task.state}>
      <div>Background task: {task.title}</div>
      <div className="state">{task.state}</div>
      {task.result ? <div data-testid="task-result">{task.result}</div> : null}
      {task.state === "review_needed" ? (
        <div>
          <button disabled={sending} onClick={() => void review(true)}>
            Approve task
          </button>
          <button disabled={sending} onClick={() => void review(false)}>
            Reject task
          </button>
        </div>
      ) : null}
    </div>
  );
}

// Module scope: the provider wants a stable list.
const activityRenderers: ReactActivityMessageRenderer<TaskActivity>[] = [
  {
    activityType: "graphwire.task",
    content: taskActivity,
    render: ({ content }) => <TaskCard activity={content} />,
  },
];

function Approvals() {
  // graphwire ends an interrupted run with the AG-UI 1.0 outcome; the hook
  // resumes with `resume: [{interruptId, status, payload}]` under the same runId.
  useInterrupt({
    render: ({ interrupt, resolve }) => (
      <div className="card" data-testid="approval">
        <div>{interrupt?.message ?? "The agent asks for your approval."}</div>
        <button onClick={() => void resolve({ approved: true })}>Approve</button>
        <button onClick={() => void resolve({ approved: false })}>Reject</button>
      </div>
    ),
  });
  return null;
}

function ToolCards() {
  useRenderTool(
    {
      name: "get_weather",
      parameters: z.object({ city: z.string() }),
      render: ({ status, parameters, result }) => (
        <div className="card" data-testid="weather-card">
          Weather in {parameters.city ?? "…"}: {status === "complete" ? String(result) : status}
        </div>
      ),
    },
    [],
  );
  useDefaultRenderTool(); // every other tool call: the built-in card
  return null;
}

function StatePanel() {
  const { agent } = useAgent();
  return (
    <aside className="side">
      <h3>Agent state</h3>
      <pre data-testid="state">{JSON.stringify(agent.state ?? {}, null, 2)}</pre>
    </aside>
  );
}

export default function Page() {
  return (
    <CopilotKit
      runtimeUrl="/api/copilotkit"
      useSingleEndpoint={false}
      renderActivityMessages={activityRenderers}
    >
      <Approvals />
      <ToolCards />
      <main className="layout">
        <CopilotChat />
        <StatePanel />
      </main>
    </CopilotKit>
  );
}
