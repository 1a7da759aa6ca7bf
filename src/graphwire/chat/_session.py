"""``graphwire chat``: a conversation with one agent of a graphwire server, in
the terminal, on ``graphwire.client``.

The chat is a plain loop on the main thread: read a line, stream the run it
starts on a private event loop, ask for the answer to every interrupt the run
ends with, and resume. Ctrl-C while a run streams stops it on the server (the
stream goes on to its cancelled end); while a task is watched it stops
watching; at a question it dismisses the interrupts; at the prompt it ends
the chat, as Ctrl-D does.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

import httpx
from ag_ui.core import Interrupt
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from graphwire.chat._prompts import InterruptPrompt
from graphwire.chat._view import ChatView
from graphwire.client import DISMISSED, Answer, ClientError, GraphwireClient, RunResult, RunStream

HELP = """\
/tasks        the task board
/watch ID     follow a task live (Ctrl-C stops watching), answer what it asks
/new          start a new thread
/quit         leave (Ctrl-D does too)
Ctrl-C while the agent works stops its run on the server."""


class TerminalChat:
    """A chat through ``client`` with ``agent`` (default: the server's first),
    on ``console``."""

    def __init__(
        self,
        client: GraphwireClient,
        console: Console,
        *,
        agent: str | None = None,
        thread_id: str | None = None,
    ) -> None:
        self.client = client
        self.agent = agent or ""
        self._wanted = agent
        self.console = console
        self.thread_id = thread_id or str(uuid.uuid4())
        self._view = ChatView(console)
        self._prompt = InterruptPrompt(console)
        self._loop = asyncio.new_event_loop()

    def run(self) -> int:
        """Read and answer lines until the user leaves; the exit status."""
        try:
            self.agent = pick_agent(self._call(self.client.agents()), self._wanted)
        except (LookupError, ClientError, httpx.HTTPError) as exc:
            self.console.print(f"[bold red]graphwire chat: {escape(str(exc))}[/]")
            self._close()
            return 1
        self.console.print(
            f"[bold]graphwire chat[/] with [cyan]{escape(self.agent)}[/], thread "
            f"{escape(self.thread_id)} — /help for commands"
        )
        try:
            while True:
                try:
                    line = self.console.input("[bold green]you:[/] ").strip()
                except (EOFError, KeyboardInterrupt):
                    self.console.print()
                    return 0
                if line in ("/quit", "/exit"):
                    return 0
                if line:
                    self.handle(line)
        finally:
            self._close()

    def _close(self) -> None:
        self._loop.run_until_complete(self.client.aclose())
        self._loop.close()

    def handle(self, line: str) -> None:
        """One line typed at the prompt: a command, or a message to the agent."""
        try:
            if line.startswith("/"):
                self._command(*line.split(maxsplit=1))
            else:
                self.say(line)
        except ClientError as exc:
            self._view.done()
            self._view.note(f"error {exc.code}: {exc.message}", "bold red")
        except httpx.HTTPError as exc:
            self._view.done()
            self._view.note(f"cannot reach the server: {exc}", "bold red")

    def say(self, text: str) -> RunResult:
        """Send one user message; stream the answer; answer what it asks."""
        message = {"role": "user", "content": text}
        stream = self.client.run(self.agent, [message], thread_id=self.thread_id)
        return self._settle(stream)

    def _command(self, name: str, argument: str = "") -> None:
        if name == "/help":
            self.console.print(HELP, markup=False, highlight=False)
        elif name == "/tasks":
            self._board()
        elif name == "/watch" and argument:
            self._watch(argument.strip())
        elif name == "/new":
            self.thread_id = str(uuid.uuid4())
            self._view.note(f"new thread {self.thread_id}")
        else:
            self._view.note(f"unknown command {name!r}: /help lists them", "red")

    # -- runs -----------------------------------------------------------------------

    def _follow(self, stream: RunStream) -> RunResult:
        """Stream a run to its end; Ctrl-C stops it on the server."""

        async def show() -> None:
            async with stream:
                self._view.wait()
                async for event in stream:
                    self._view(event)
                    self._view.wait()

        self._call(show(), stop=stream.cancel, saying="stopping the run ...")
        return stream.result

    def _settle(self, stream: RunStream) -> RunResult:
        """Stream a run; ask for the answers to every interrupt it ends with and
        resume with them, until a run ends without one."""
        result = self._follow(stream)
        while result.outcome == "interrupt":
            stream = stream.answer(self._answers(result.interrupts))
            result = self._follow(stream)
        return result

    def _answers(self, interrupts: Sequence[Interrupt]) -> dict[str, Answer]:
        try:
            return {interrupt.id: self._prompt.ask(interrupt) for interrupt in interrupts}
        except (EOFError, KeyboardInterrupt):
            self.console.print()
            self._view.note("dismissed", "yellow")
            return {interrupt.id: DISMISSED for interrupt in interrupts}

    # -- tasks ----------------------------------------------------------------------

    def _board(self) -> None:
        board = self._call(self.client.tasks())
        table = Table("task", "state", "agent", "title", title="tasks", title_justify="left")
        for task in board["tasks"]:
            table.add_row(task["taskId"], task["state"], task["agent"], task["title"])
        self.console.print(table if board["tasks"] else "no tasks")

    def _watch(self, task_id: str) -> None:
        """Tail a task until it settles or Ctrl-C; answer its review questions
        through the handshake (a run on its thread with ``resume``)."""

        async def tail() -> None:
            self._view.wait("working")
            async for event in self.client.task_events(task_id):
                self._view(event)
                self._view.wait("working")

        if self._call(tail(), saying="stopped watching") is False:
            return
        task = self._call(self.client.task(task_id))
        if task["state"] == "review_needed":
            interrupts = [Interrupt.model_validate(i) for i in task["interrupts"]]
            answers = self._answers(interrupts)
            self._settle(self.client.answer(task["agent"], task["threadId"], answers))
            task = self._call(self.client.task(task_id))
        self._view.note(f"task {task_id} is {task['state']}", "magenta")

    # -- the event loop -----------------------------------------------------------

    def _call(
        self,
        work: Coroutine[Any, Any, Any],
        *,
        stop: Callable[[], Awaitable[None]] | None = None,
        saying: str = "",
    ) -> Any:
        """Run ``work`` on the chat's loop. Ctrl-C meanwhile calls ``stop`` (and
        ``work`` goes on), or, without one, cancels ``work`` (False is returned)."""
        return self._loop.run_until_complete(self._interruptible(work, stop, saying))

    async def _interruptible(
        self,
        work: Coroutine[Any, Any, Any],
        stop: Callable[[], Awaitable[None]] | None,
        saying: str,
    ) -> Any:
        pressed = asyncio.Event()
        self._loop.add_signal_handler(signal.SIGINT, pressed.set)
        working = asyncio.ensure_future(work)
        watcher = asyncio.ensure_future(self._on_ctrl_c(pressed, working, stop, saying))
        try:
            await asyncio.wait({working})
        finally:
            self._loop.remove_signal_handler(signal.SIGINT)
            watcher.cancel()
            await asyncio.wait({watcher})
            self._view.done()
        return False if working.cancelled() else working.result()

    async def _on_ctrl_c(
        self,
        pressed: asyncio.Event,
        working: asyncio.Task[Any],
        stop: Callable[[], Awaitable[None]] | None,
        saying: str,
    ) -> None:
        await pressed.wait()
        self._view.note(saying, "yellow")
        if stop is None:
            working.cancel()
            return
        try:
            await stop()
        except (ClientError, httpx.HTTPError) as exc:  # the run goes on: say so
            self._view.note(f"could not stop the run: {exc}", "bold red")


def pick_agent(agents: Sequence[Mapping[str, Any]], wanted: str | None) -> str:
    """The agent to chat with: ``wanted``, else the only one, else the first."""
    names = [str(a["name"]) for a in agents]
    if wanted is not None:
        if wanted not in names:
            raise LookupError(f"no agent {wanted!r} here (there are: {', '.join(names) or 'none'})")
        return wanted
    if not names:
        raise LookupError("the server serves no agent")
    return names[0]
