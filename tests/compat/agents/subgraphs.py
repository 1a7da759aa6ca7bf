"""A supervisor with two subgraph agents, each of which asks the user to choose
with ``interrupt()``; both run at once, so one run ends with two interrupts."""

import json
import operator
from typing import Annotated

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Send, interrupt


class TravelState(MessagesState):
    choices: Annotated[list[str], operator.add]


def chooser(agent: str, options: list[str]):
    def choose(state: TravelState):
        answer = interrupt({"message": f"Which {agent}?", "options": options, "agent": agent})
        choice = json.loads(answer) if isinstance(answer, str) else answer
        return {"choices": [f"{agent}: {choice['choice']}"]}

    sub = StateGraph(TravelState)
    sub.add_node("choose", choose)
    sub.add_edge(START, "choose")
    return sub.compile()


def supervisor(state: TravelState):
    return [Send("flights_agent", state), Send("hotels_agent", state)]


async def summary(state: TravelState, config: RunnableConfig):
    reply = await ChatOpenAI(model="compat-subgraphs").ainvoke(state["messages"], config)
    return {"messages": [AIMessage(content=f"{reply.content} {sorted(state['choices'])}")]}


workflow = StateGraph(TravelState)
workflow.add_node("flights_agent", chooser("flight", ["KLM", "United"]))
workflow.add_node("hotels_agent", chooser("hotel", ["Hotel Zoe", "The Ritz"]))
workflow.add_node("summary", summary)
workflow.add_conditional_edges(START, supervisor, ["flights_agent", "hotels_agent"])
workflow.add_edge("flights_agent", "summary")
workflow.add_edge("hotels_agent", "summary")
workflow.add_edge("summary", END)
graph = workflow.compile()
