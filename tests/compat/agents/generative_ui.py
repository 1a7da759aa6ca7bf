"""Agentic generative UI as the dojo writes it: the steps of a task are shared
state, sent with ``copilotkit_emit_state`` as each one completes."""

import asyncio
from typing import Any

from copilotkit import CopilotKitState
from copilotkit.langgraph import copilotkit_emit_state
from langchain_core.messages import SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph


@tool
def generate_task_steps(steps: list[dict[str, str]]):
    """Make up the steps of a task."""


class AgentState(CopilotKitState):
    steps: list[dict[str, Any]] = []


async def chat_node(state: AgentState, config: RunnableConfig):
    model = ChatOpenAI(model="compat-genui").bind_tools([generate_task_steps])
    response = await model.ainvoke([SystemMessage(content="Steps."), *state["messages"]], config)
    steps = [
        {"description": s["description"], "status": "pending"}
        for s in response.tool_calls[0]["args"]["steps"]
    ]
    for step in steps:
        await asyncio.sleep(0.05)
        step["status"] = "completed"
        await copilotkit_emit_state(config, {"steps": steps})
    # The node answers its own tool call, as a dict (the client has nothing to do).
    answer = {"role": "tool", "content": "done", "tool_call_id": response.tool_calls[0]["id"]}
    final = await ChatOpenAI(model="compat-genui").ainvoke(
        [*state["messages"], response, answer], config
    )
    return {"messages": [response, answer, final], "steps": steps}


workflow = StateGraph(AgentState)
workflow.add_node("chat_node", chat_node)
workflow.add_edge(START, "chat_node")
workflow.add_edge("chat_node", END)
graph = workflow.compile()
