"""A trip planner in the style of CopilotKit's travel example: trips are
dataclasses in state, and the graph stops after planning (``interrupt_after``)
for the user to look before it books."""

from dataclasses import dataclass, field

from copilotkit import CopilotKitState
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph


@dataclass
class Trip:
    destination: str
    nights: int
    booked: bool = False


@dataclass
class Itinerary:
    trips: list[Trip] = field(default_factory=list)


@tool
def add_trip(destination: str, nights: int) -> str:
    """Add a trip to the itinerary."""
    return "added"


class AgentState(CopilotKitState):
    itinerary: Itinerary | None = None


async def plan_trip(state: AgentState, config: RunnableConfig):
    model = ChatOpenAI(model="compat-travel").bind_tools([add_trip])
    response = await model.ainvoke(state["messages"], config)
    call = response.tool_calls[0]
    trip = Trip(call["args"]["destination"], call["args"]["nights"])
    return {
        "messages": [response, ToolMessage(content="added", tool_call_id=call["id"])],
        "itinerary": Itinerary([trip]),
    }


async def book_trip(state: AgentState, config: RunnableConfig):
    itinerary = state["itinerary"]
    # The checkpoint gave back the planner's own classes.
    assert isinstance(itinerary, Itinerary) and isinstance(itinerary.trips[0], Trip)
    trips = [Trip(t.destination, t.nights, booked=True) for t in itinerary.trips]
    text = ", ".join(f"{t.destination} ({t.nights} nights)" for t in trips)
    return {"messages": [AIMessage(content=f"Booked {text}.")], "itinerary": Itinerary(trips)}


workflow = StateGraph(AgentState)
workflow.add_node("plan_trip", plan_trip)
workflow.add_node("book_trip", book_trip)
workflow.add_edge(START, "plan_trip")
workflow.add_edge("plan_trip", "book_trip")
workflow.add_edge("book_trip", END)
graph = workflow.compile(interrupt_after=["plan_trip"])
