"""Fuzzed requests on every route of a real ``graphwire serve`` (the demo agent,
the SQLite store): malformed and mutated bodies, ids, content types, headers and
Last-Event-ID values. Whatever comes in: no 5xx, no cut response, every stream
ends by itself with one terminal event, no traceback in the server's log, and
every thread is free afterwards. Bounded in examples and time."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.processes import serve, wait_healthy_sync
from tests.server.conftest import run_body

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
"""Examples per route group (eight groups): 60 take ~10 s; raise it to hunt."""
TERMINAL = {"RUN_FINISHED", "RUN_ERROR"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.text(max_size=300) | st.sampled_from(["t1", "r1", "", " ", "a\r\nb", "x" * 257, "é"])
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ]
)
event_ids = (
    st.integers(min_value=-(2**64), max_value=2**64).map(str)
    | st.text(max_size=30)
    | st.sampled_from(["0", "3", "-1", "1e3", "１２"])
)
header_values = event_ids.map(lambda v: v.encode()).filter(
    # What HTTP allows in a field value (RFC 9110); malformed HTTP is the HTTP
    # parser's to refuse, before any route.
    lambda v: v.strip(b" \t") == v and all(b in b"\t" or 0x20 <= b != 0x7F for b in v)
)
RUN_KEYS = ["threadId", "runId", "state", "messages", "tools", "context", "forwardedProps"]
MUTABLE_KEYS = [*RUN_KEYS, "resume", "parentRunId", "protocolVersion"]


@dataclass
class Fuzzed:
    client: httpx.Client
    threads: set[str] = field(default_factory=set)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Send one request; read a stream to its end (a task's live tail for a
        moment); check what came back."""
        request = self.client.build_request(method, path, content=body, headers=headers)
        response = self.client.send(request, stream=True)
        try:
            assert response.status_code < 500, (path, response.status_code, response.read())
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                _check_stream(
                    response, live_tail=path.startswith("/tasks/"), replay=method == "GET"
                )
            else:
                response.read()
                if response.status_code >= 400 and response.content:
                    assert "code" in response.json(), response.text
        finally:
            response.close()
        return response


def _check_stream(response: httpx.Response, *, live_tail: bool, replay: bool) -> None:
    """A run's stream ends with its one terminal event; a replay after the last
    event the client saw may be empty; a task's live tail may stay open."""
    types = []
    try:
        for line in response.iter_lines():
            if line.startswith("data: "):
                types.append(json.loads(line[6:])["type"])
    except httpx.ReadTimeout:
        if not live_tail:
            raise
        return  # a task still running: its tail stays open; the client leaves
    if live_tail or (replay and not types):
        return
    assert types and types[-1] in TERMINAL, types
    assert sum(t in TERMINAL for t in types) == 1, types


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    """A real server; its log (access lines too) in a file."""
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        env = {"GRAPHWIRE_DATA_DIR": str(tmp_path / "data")}
        process, url = serve(["--log-level", "info"], tmp_path, env, log)
        try:
            wait_healthy_sync(url, process)
            yield url, process, log_path
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


JSON = {"content-type": "application/json"}
SLOW = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
Group = Callable[[Fuzzed], Callable[[], None]]


def mutated_runs(fuzz: Fuzzed) -> Callable[[], None]:
    @SLOW
    @given(key=st.sampled_from(MUTABLE_KEYS), value=json_values | ids, drop=st.booleans())
    def check(key: str, value: Any, drop: bool) -> None:
        thread = fuzz.fresh("t")
        body = run_body(thread=thread, run=fuzz.fresh("r"))
        if drop:
            body.pop(key, None)
        else:
            body[key] = value
        fuzz.threads.add(thread)
        fuzz.send("POST", "/agents/demo", body=_json(body), headers=JSON)

    return check


MESSAGE_KEYS = ["id", "role", "content", "toolCalls", "toolCallId", "name"]


def mutated_messages(fuzz: Fuzzed) -> Callable[[], None]:
    @SLOW
    @given(message=st.dictionaries(st.sampled_from(MESSAGE_KEYS), json_values | ids, max_size=6))
    def check(message: dict[str, Any]) -> None:
        thread = fuzz.fresh("t")
        body = run_body(thread=thread, run=fuzz.fresh("r"))
        body["messages"].append(message)
        fuzz.threads.add(thread)
        fuzz.send("POST", "/", body=_json(body), headers=JSON)

    return check


def raw_bodies(fuzz: Fuzzed) -> Callable[[], None]:
    @SLOW
    @given(body=st.binary(max_size=300) | json_values.map(_json), content_type=content_types)
    def check(body: bytes, content_type: str) -> None:
        headers = {"content-type": content_type} if content_type else {}
        for path in ("/agents/demo", "/agents/demo/tasks", "/tasks/x/followup"):
            fuzz.send("POST", path, body=body, headers=headers)

    return check


def run_routes(fuzz: Fuzzed) -> Callable[[], None]:
    @SLOW
    @given(run_id=ids, header=header_values, query=event_ids)
    def check(run_id: str, header: bytes, query: str) -> None:
        path = f"/runs/{quote(run_id, safe='')}"
        fuzz.send("GET", f"{path}/events", headers={"last-event-id": header})
        fuzz.send("GET", f"{path}/events?lastEventId={quote(query, safe='')}")
        fuzz.send("POST", f"{path}/cancel")

    return check


def thread_routes(fuzz: Fuzzed) -> Callable[[], None]:
    @SLOW
    @given(thread=ids, name=ids)
    def check(thread: str, name: str) -> None:
        fuzz.send("GET", f"/agents/demo/threads/{quote(thread, safe='')}")
        fuzz.send("GET", f"/agents/{quote(name, safe='')}/threads/t1")
        body = _json(run_body(thread=fuzz.fresh("t"), run=fuzz.fresh("r")))
        fuzz.send("POST", f"/agents/{quote(name, safe='')}", body=body, headers=JSON)

    return check


TASK_KEYS = ["prompt", "title", "messages", "parentRunId", "parentTaskId", "threadId", "bogus"]


def task_bodies(fuzz: Fuzzed) -> Callable[[], None]:
    @SLOW
    @given(body=st.dictionaries(st.sampled_from(TASK_KEYS), json_values | ids, max_size=5))
    def check(body: dict[str, Any]) -> None:
        fuzz.send("POST", "/agents/demo/tasks", body=_json(body), headers=JSON)

    return check


def task_routes(fuzz: Fuzzed) -> Callable[[], None]:
    actions = st.sampled_from(["cancel", "retry", "followup"])

    @SLOW
    @given(task=ids, action=actions, body=json_values, last=header_values)
    def check(task: str, action: str, body: Any, last: bytes) -> None:
        path = f"/tasks/{quote(task, safe='')}"
        fuzz.send("GET", path)
        fuzz.send("POST", f"{path}/{action}", body=_json(body), headers=JSON)
        fuzz.send("GET", f"{path}/events", headers={"last-event-id": last})

    return check


BOARD_KEYS = ["state", "agent", "parentTaskId", "parentRunId", "limit", "cursor"]


def board_and_live_tasks(fuzz: Fuzzed) -> Callable[[], None]:
    queries = st.dictionaries(st.sampled_from(BOARD_KEYS), st.text(max_size=40), max_size=4)

    @SLOW
    @given(query=queries, last=header_values)
    def check(query: dict[str, str], last: bytes) -> None:
        fuzz.send("GET", "/tasks?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items()))
        created = fuzz.client.post("/agents/demo/tasks", json={"prompt": "hello"})
        assert created.status_code == 201, created.text
        events = f"/tasks/{created.json()['taskId']}/events"
        fuzz.send("GET", events, headers={"last-event-id": last})

    return check


GROUPS: list[Group] = [
    mutated_runs,
    mutated_messages,
    raw_bodies,
    run_routes,
    thread_routes,
    task_bodies,
    task_routes,
    board_and_live_tasks,
]


def test_fuzzed_requests_on_every_route(
    server: tuple[str, subprocess.Popen[str], Path],
) -> None:
    url, process, log = server
    with httpx.Client(base_url=url, timeout=httpx.Timeout(20, read=2)) as client:
        fuzz = Fuzzed(client)
        for group in GROUPS:
            group(fuzz)()
        for thread in sorted(fuzz.threads):  # every run ended: no thread is left claimed
            view = client.get(f"/agents/demo/threads/{quote(thread, safe='')}")
            assert view.status_code == 200 and view.json()["activeRunId"] is None, view.text
        assert client.get("/healthz").status_code == 200
    process.terminate()
    process.wait(timeout=30)  # uvicorn re-raises SIGTERM once shut down: -15
    text = log.read_text()
    assert "Application shutdown complete" in text
    assert "Traceback" not in text and "Exception in ASGI application" not in text, text
