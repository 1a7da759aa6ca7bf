"""The keyless demo agent delegates work "in the background" to a copy of itself."""

from __future__ import annotations

from langgraph.checkpoint.memory import InMemorySaver

from graphwire.demo import build_demo_graph
from graphwire.tasks import MemoryTaskStore, TaskQuery, TaskRunner, TaskSpec, TaskState


async def test_demo_delegates_and_the_task_waits_for_approval() -> None:
    graph = build_demo_graph().copy(update={"checkpointer": InMemorySaver()})
    async with TaskRunner(MemoryTaskStore(), {"demo": graph}) as runner:
        parent = await runner.enqueue(
            TaskSpec(agent="demo", prompt="deploy to staging in the background")
        )
        done = await runner.wait_settled(parent.id, 10)
        [child] = (await runner.list_tasks(TaskQuery(parent_task_id=parent.id))).tasks
        assert done.result == f"Done: Launched async subagent. task_id: {child.id}."
        assert child.prompt == "deploy to staging"
        review = await runner.wait_settled(child.id, 10)
        assert review.state is TaskState.REVIEW_NEEDED
        [pending] = review.interrupts
        assert pending["message"] == "Deploy to staging?"
        answer = {"interruptId": pending["id"], "status": "resolved", "payload": {"approved": True}}
        await runner.resume(child.id, [answer])
        finished = await runner.wait_settled(child.id, 10)
        assert (finished.state, finished.result) == (TaskState.DONE, "Done: deployed to staging.")
