"""The examples run green against a real graphwire server."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from nbclient import NotebookClient

from graphwire.host import load_graph, parse_spec
from tests.conformance.harness import needs_node_client, run_node
from tests.graphs import collect, user_input
from tests.processes import serve, wait_healthy, wait_healthy_sync

EXAMPLES = Path(__file__).parents[1] / "examples"


@needs_node_client
async def test_the_delegate_example_starts_watches_approves_and_prints(tmp_path: Path) -> None:
    process, url = serve(["--store", "memory"], tmp_path)
    try:
        await wait_healthy(url)
        delegate = EXAMPLES / "delegate"
        assert (delegate / "node_modules" / "@ag-ui" / "client").is_dir(), "run scripts/test"
        result = await run_node(delegate / "delegate.mjs", url, "deploy to staging", cwd=delegate)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert result["state"] == "done"
    assert result["result"] == "Done: deployed to staging."
    assert len(result["runIds"]) == 2  # the run that asked, and the approved one


async def test_the_plain_agent_example_serves_as_a_spec() -> None:
    graph = load_graph(parse_spec(f"{EXAMPLES / 'plain_agent' / 'agent.py'}:graph"))
    graph = graph.copy(update={"checkpointer": InMemorySaver()})
    events = await collect(graph, user_input("one two three four"))
    text = "".join(getattr(e, "delta", "") for e in events if e.type == "TEXT_MESSAGE_CONTENT")
    assert text == "That text has 4 words."


async def test_the_python_delegate_example_approves_and_prints(tmp_path: Path) -> None:
    process, url = serve(["--store", "memory"], tmp_path)
    try:
        await wait_healthy(url)
        script = EXAMPLES / "delegate_py" / "delegate.py"
        done = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            url,
            "deploy to staging",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(done.communicate(), 60)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert done.returncode == 0, stderr.decode()
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["state"] == "done"
    assert result["result"] == "Done: deployed to staging."
    assert len(result["runIds"]) == 2  # the run that asked, and the approved one
    assert "approving: Deploy to staging?" in stderr.decode()


def test_the_notebook_example_runs_headless_in_a_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/notebook/agent.ipynb run cell by cell in a real Jupyter kernel
    (nbclient): the live view, the approval form, answers in code, a task."""
    process, url = serve(["--store", "memory"], tmp_path)
    try:
        wait_healthy_sync(url, process)
        monkeypatch.setenv("GRAPHWIRE_URL", url)  # the kernel inherits it
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter"))
        notebook = nbformat.read(EXAMPLES / "notebook" / "agent.ipynb", as_version=4)
        NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    finally:
        process.terminate()
        process.communicate(timeout=30)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    asked, answered, delegated = code[1], code[2], code[3]
    views = [o for o in asked.outputs if o.output_type == "display_data"]
    html = views[0].data["text/html"]
    assert "Deploy to staging?" in html and "waiting for" in html
    assert "application/vnd.jupyter.widget-view+json" in views[1].data  # the approval form
    assert _stdout(answered).startswith("Done: deployed to staging.")
    assert "done Done: deployed to staging." in _stdout(delegated)
    assert "? waiting for " in _stdout(delegated)  # the task's events, printed


def _stdout(cell: Any) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")
