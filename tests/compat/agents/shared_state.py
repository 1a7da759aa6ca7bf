"""Shared state as CopilotKit writes it: the recipe's tool arguments stream into
state (``copilotkit_customize_config``), an internal model call stays hidden, and
``copilotkit_emit_state`` sends the recipe before the node ends."""

from typing import Any

from copilotkit import CopilotKitState
from copilotkit.langgraph import copilotkit_customize_config, copilotkit_emit_state
from langchain_core.messages import SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph


@tool
def generate_recipe(recipe: dict[str, Any]):
    """Write the recipe."""


class AgentState(CopilotKitState):
    recipe: dict[str, Any] = {}
    title: str = ""


async def chat_node(state: AgentState, config: RunnableConfig):
    streaming = copilotkit_customize_config(
        config,
        emit_intermediate_state=[
            {"state_key": "recipe", "tool": "generate_recipe", "tool_argument": "recipe"}
        ],
    )
    model = ChatOpenAI(model="compat-recipe").bind_tools([generate_recipe])
    response = await model.ainvoke([SystemMessage(content="Cook."), *state["messages"]], streaming)
    recipe = response.tool_calls[0]["args"]["recipe"]
    await copilotkit_emit_state(config, {"recipe": recipe})
    hidden = copilotkit_customize_config(config, emit_messages=False, emit_tool_calls=False)
    title = await ChatOpenAI(model="compat-title").ainvoke(
        [SystemMessage(content="A title for this recipe."), *state["messages"]], hidden
    )
    answer = {"role": "tool", "content": "saved", "tool_call_id": response.tool_calls[0]["id"]}
    return {"messages": [response, answer], "recipe": recipe, "title": title.content}


workflow = StateGraph(AgentState)
workflow.add_node("chat_node", chat_node)
workflow.add_edge(START, "chat_node")
workflow.add_edge("chat_node", END)
graph = workflow.compile()
