"""An agentic chat the way CopilotKit's examples write one: CopilotKitState,
the page's frontend actions bound next to a backend tool."""

from copilotkit import CopilotKitState
from langchain_core.messages import SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode


class AgentState(CopilotKitState):
    pass


@tool
def get_weather(location: str) -> str:
    """Get the weather for a location."""
    return f"It is sunny in {location}."


async def chat_node(state: AgentState, config: RunnableConfig):
    model = ChatOpenAI(model="compat-chat")
    model_with_tools = model.bind_tools(
        [*state["copilotkit"]["actions"], get_weather], parallel_tool_calls=False
    )
    response = await model_with_tools.ainvoke(
        [SystemMessage(content="You are a helpful assistant."), *state["messages"]], config
    )
    return {"messages": [response]}


def route(state: AgentState):
    last = state["messages"][-1]
    if getattr(last, "tool_calls", None) and last.tool_calls[0]["name"] == "get_weather":
        return "tools"
    return END


workflow = StateGraph(AgentState)
workflow.add_node("chat_node", chat_node)
workflow.add_node("tools", ToolNode([get_weather]))
workflow.add_edge(START, "chat_node")
workflow.add_conditional_edges("chat_node", route, ["tools", END])
workflow.add_edge("tools", "chat_node")
graph = workflow.compile()
