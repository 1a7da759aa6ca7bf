"""Delegate a task to a graphwire agent, watch it live, approve what it asks,
and print its result — the Python twin of examples/delegate (Node).

    graphwire serve                       # the keyless demo agent, in another shell
    python examples/delegate_py/delegate.py http://127.0.0.1:8000 "deploy to staging"

The task's events are printed as they come (graphwire.client's print
renderer, on stderr); each approval is an ordinary run on the task's thread
with ``resume`` (the AG-UI interrupt/resume handshake); the last line on
stdout is the task as JSON.
"""

from __future__ import annotations

import json
import sys

from graphwire.client import SyncGraphwireClient, print_run


def main(base: str, prompt: str, agent: str = "demo") -> int:
    with SyncGraphwireClient(base) as client:
        task = client.create_task(agent, prompt, title=f"example: {prompt}")
        print(f"task {task['taskId']} is {task['state']}", file=sys.stderr)
        print_run(client.task_events(task["taskId"]), sys.stderr)
        task = client.task(task["taskId"])
        while task["state"] == "review_needed":
            answers = {}
            for interrupt in task["interrupts"]:
                print(f"approving: {interrupt.get('message')}", file=sys.stderr)
                answers[interrupt["id"]] = {"approved": True}
            print_run(client.resume(agent, task["threadId"], answers), sys.stderr)
            task = client.task(task["taskId"])
    keys = ("taskId", "state", "result", "runIds")
    print(json.dumps({key: task[key] for key in keys}))
    return 0 if task["state"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
