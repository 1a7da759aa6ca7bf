"""``graphwire chat`` in a real terminal: tmux runs it, the test types
(send-keys) and reads the screen (capture-pane)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import GRAPHWIRE, clean_env, serve, wait_healthy_sync

ROOT = Path(__file__).resolve().parents[2]
AGENT = "tests/chat/agent.py:graph"


class Terminal:
    """One program in a private tmux server (its own socket: the test's
    environment, no user configuration). The server goes when the tests'
    process does, killed or not: a watcher in the pane stops it."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.socket = f"graphwire-test-{uuid.uuid4().hex[:8]}"
        watch = f"while kill -0 {os.getpid()}; do sleep 1; done; tmux -L {self.socket} kill-server"
        run = f"cd {shlex.quote(str(cwd))} && {shlex.join(command)}; echo EXITED $?; sleep 60"
        shell = f"({watch}) >/dev/null 2>&1 & {run}"
        self._tmux("new-session", "-d", "-s", "chat", "-x", "150", "-y", "50", shell)

    def _tmux(self, *args: str) -> str:
        command = ["tmux", "-L", self.socket, "-f", "/dev/null", *args]
        done = subprocess.run(command, env=clean_env(), capture_output=True, text=True, check=True)
        return done.stdout

    def type(self, text: str) -> None:
        """Type ``text`` and Enter."""
        self._tmux("send-keys", "-t", "chat", "-l", text)
        self._tmux("send-keys", "-t", "chat", "Enter")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "chat", *keys)

    def screen(self) -> str:
        """What the terminal shows, with its scroll-back (its blank end cut)."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "chat", "-S", "-500").rstrip()

    def wait_for(self, pattern: str, seconds: float = 30, after: int = 0) -> str:
        """Wait until ``pattern`` (a regex) shows, past the screen's first
        ``after`` characters; the screen then."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = self.screen()
            if re.search(pattern, screen[after:]):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} never showed; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], check=False)


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.close()


def test_a_spec_served_in_process_streams_asks_and_stops_on_ctrl_c(
    terminal: list[Terminal],
) -> None:
    term = Terminal([*GRAPHWIRE, "chat", AGENT], ROOT)
    terminal.append(term)
    term.wait_for(r"you: $|you:\s*$")
    term.type("hello")
    term.wait_for(r"agent: echo: hello")

    # An approval driven by the interrupt's responseSchema: approve, then the
    # optional string the schema names.
    term.type("deploy now")
    term.wait_for(r"waiting for you: Ship it\?\s+a=approve, r=reject, e=edit JSON:")
    term.type("a")
    term.wait_for(r"note \(optional\)")
    term.type("carefully")
    screen = term.wait_for(r"agent: deploy answer: ")
    assert "{'note': 'carefully', 'approved': True}" in screen

    # A slow answer streams word by word; Ctrl-C stops the run on the server.
    mark = len(term.screen())
    term.type("slow")
    term.wait_for(r"agent: word 1 word 2 ", after=mark)
    term.keys("C-c")
    screen = term.wait_for(r"\(stopped\)", after=mark)
    assert "stopping the run" in screen[mark:]
    # The thread is free again at once (a run still going would make this a
    # THREAD_BUSY error): the run really ended on the server.
    mark = len(screen)
    term.type("after the stop")
    term.wait_for(r"agent: echo: after the stop", after=mark)

    term.keys("C-c")  # at the prompt: the line is dropped, the chat goes on
    term.type("still here")
    term.wait_for(r"agent: echo: still here", after=mark)
    term.keys("C-d")
    term.wait_for(r"EXITED 0")


def test_a_server_at_a_url_shows_its_board_and_a_task_is_watched_and_approved(
    terminal: list[Terminal], tmp_path: Path
) -> None:
    process, url = serve(["--store", "memory"], cwd=tmp_path)
    try:
        wait_healthy_sync(url, process)
        term = Terminal([*GRAPHWIRE, "chat", url], ROOT)
        terminal.append(term)
        term.wait_for(r"graphwire chat with demo")
        term.type("deploy to staging in the background")
        screen = term.wait_for(r"task ([0-9a-f-]{36}) queued")
        task_id = re.findall(r"task ([0-9a-f-]{36}) queued", screen)[-1]
        term.wait_for(r"agent: Done: Launched async subagent")

        term.type("/tasks")
        term.wait_for(rf"{task_id[:20]}.*(queued|ongoing|review_needed).*deploy to staging")
        term.type(f"/watch {task_id}")
        term.wait_for(r"waiting for you: Deploy to staging\?")
        term.type("a")
        term.wait_for(rf"task {task_id} is done")
        task = httpx.get(f"{url}/tasks/{task_id}").json()
        assert task["state"] == "done"
        assert "deployed to staging" in json.dumps(task["result"])
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_an_unknown_agent_is_a_clear_error(terminal: list[Terminal]) -> None:
    term = Terminal([*GRAPHWIRE, "chat", AGENT, "--agent", "nope"], ROOT)
    terminal.append(term)
    term.wait_for(r"no agent 'nope' here \(there are: graph\)")
    term.wait_for(r"EXITED 1")


def test_the_plain_agent_example_just_works(terminal: list[Terminal]) -> None:
    term = Terminal([*GRAPHWIRE, "chat", "examples/plain_agent/agent.py:graph"], ROOT)
    terminal.append(term)
    term.wait_for(r"graphwire chat with graph")
    term.type("one two three")
    screen = term.wait_for(r"agent: That text has 3 words\.")
    assert 'tool word_count({"text": "one two three"})' in screen
    assert "  -> word_count: 3" in screen
    term.type("/quit")
    term.wait_for(r"EXITED 0")


def test_ctrl_c_on_a_watched_tasks_run_cancels_the_task(
    terminal: list[Terminal], tmp_path: Path
) -> None:
    process, url = serve(["--store", "memory", f"{ROOT / AGENT}"], cwd=tmp_path)
    try:
        wait_healthy_sync(url, process)
        task = httpx.post(f"{url}/agents/graph/tasks", json={"prompt": "deploy slowly"}).json()
        term = Terminal([*GRAPHWIRE, "chat", url], ROOT)
        terminal.append(term)
        term.wait_for(r"graphwire chat with graph")
        term.type(f"/watch {task['taskId']}")
        term.wait_for(r"waiting for you: Ship it\?")
        term.type("a")
        term.wait_for(r"note \(optional\)")
        term.type("")
        term.wait_for(r"agent: word 1 word 2 ")
        term.keys("C-c")
        term.wait_for(r"\(stopped\)")
        screen = term.wait_for(rf"task {task['taskId']} is cancelled")
        assert "could not stop" not in screen
        assert httpx.get(f"{url}/tasks/{task['taskId']}").json()["state"] == "cancelled"
    finally:
        process.terminate()
        process.communicate(timeout=30)
