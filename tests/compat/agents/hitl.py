"""Human in the loop as the AG-UI dojo writes it: the model plans steps (their
arguments predict state), then ``interrupt()`` asks the user which to run."""

import json
from typing import Annotated, Any

from langchain_core.messages import SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt


@tool
def plan_execution_steps(steps: Annotated[list[dict[str, str]], "the steps"]):
    """Make up the steps required for a task."""


class AgentState(MessagesState):
    steps: list[dict[str, str]] = []
    tools: list[Any]


async def chat_node(state: AgentState, config: RunnableConfig):
    config["metadata"]["predict_state"] = [
        {"state_key": "steps", "tool": "plan_execution_steps", "tool_argument": "steps"}
    ]
    model = ChatOpenAI(model="compat-hitl").bind_tools(
        [*state["tools"], plan_execution_steps], parallel_tool_calls=False
    )
    response = await model.ainvoke([SystemMessage(content="Plan."), *state["messages"]], config)
    if response.tool_calls and response.tool_calls[0]["name"] == "plan_execution_steps":
        steps = [
            {"description": s["description"], "status": "enabled"}
            for s in response.tool_calls[0]["args"]["steps"]
        ]
        return Command(goto="process_steps_node", update={"messages": [response], "steps": steps})
    return Command(goto=END, update={"messages": [response]})


async def process_steps_node(state: AgentState, config: RunnableConfig):
    answer = interrupt({"steps": state["steps"]})
    chosen = json.loads(answer) if isinstance(answer, str) else answer
    call = state["messages"][-1].tool_calls[0]
    done = ToolMessage(content=json.dumps(chosen), tool_call_id=call["id"])
    model = ChatOpenAI(model="compat-hitl")
    final = await model.ainvoke([*state["messages"], done], config)
    return {"messages": [done, final], "steps": chosen}


workflow = StateGraph(AgentState)
workflow.add_node("chat_node", chat_node)
workflow.add_node("process_steps_node", process_steps_node)
workflow.add_edge(START, "chat_node")
workflow.add_edge("process_steps_node", END)
graph = workflow.compile()
