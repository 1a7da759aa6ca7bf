"""The peer for bench/server_bench.py --peer: the same bench graphs served by
ag-ui-langgraph (FastAPI), run from the benchmark's own virtualenv
(bench/.peer-venv) — ag-ui-langgraph is never a dependency of graphwire.

Run: bench/.peer-venv/bin/python bench/peer_server.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from ag_ui_langgraph import LangGraphAgent, add_langgraph_fastapi_endpoint
from fastapi import FastAPI
from langgraph.checkpoint.memory import InMemorySaver

# bench/ is on sys.path when a script here is run: graphs is bench/graphs.py.
import graphs


def app() -> FastAPI:
    served = FastAPI()
    for name in ("chat", "long"):
        graph = getattr(graphs, name)().copy(update={"checkpointer": InMemorySaver()})
        agent = LangGraphAgent(name=name, graph=graph)
        add_langgraph_fastapi_endpoint(served, agent, f"/agents/{name}")

    @served.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return served


if __name__ == "__main__":
    uvicorn.run(app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
