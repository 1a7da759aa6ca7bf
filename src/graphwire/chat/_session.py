"""``graphwire chat``: a conversation with one agent of a graphwire server, in
the terminal, on ``graphwire.client``.

The chat is a plain loop on the main thread: read a line, stream the run it
starts on a private event loop, ask for the answer to every interrupt the run
ends with, and resume. Ctrl-C while a run streams stops it on the server (the
stream goes on to its cancelled end; a second press stops waiting); while a
task is watched, or any other request waits, it stops waiting; at a question
it dismisses the conversation's interrupts (a task's stay in review); at the
prompt it drops the line. Ctrl-D or /quit ends the chat.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from ag_ui.core import Interrupt
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from graphwire.chat._prompts import InterruptPrompt
from graphwire.chat._view import ChatView
from graphwire.client import DISMISSED, Answer, ClientError, GraphwireClient, RunResult, RunStream

_T = TypeVar("_T")

HELP = """\
/tasks        the task board
/watch ID     follow a task live (Ctrl-C stops watching), answer what it asks
/new          start a new thread
/quit         leave (Ctrl-D does too)
Ctrl-C while the agent works stops its run on the server (a task's run: the
task); pressed again, the chat stops waiting for it."""


class _Interrupted(Exception):
    """Ctrl-C ended the wait for a request (the chat goes on)."""


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
        except (LookupError, ClientError, httpx.HTTPError, ValueError, _Interrupted) as exc:
            # ValueError: an answer that is not a graphwire server's JSON.
            self.console.print(f"[bold red]graphwire chat: {escape(str(exc) or 'stopped')}[/]")
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
                except KeyboardInterrupt:  # the line is dropped, as in a shell
                    self.console.print()
                    continue
                except EOFError:
                    self.console.print()
                    return 0
                if line == "/quit":
                    return 0
                if line:
                    self.handle(line)
        finally:
            self._close()

    def _close(self) -> None:
        self._loop.run_until_complete(self.client.aclose())
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
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
        except _Interrupted:
            self._view.note("stopped waiting (what the server does goes on)", "yellow")

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
        """Stream a run to its end; Ctrl-C stops it on the server (a task's run
        through its task: ``RunStream.cancel``)."""

        async def show() -> None:
            async with stream:
                self._view.wait()
                async for event in stream:
                    self._view(event)
                    self._view.wait()

        self._call(show(), stop=stream.cancel, saying="stopping the run ...")
        return stream.result

    def _settle(self, stream: RunStream, *, task: bool = False) -> RunResult:
        """Stream a run; ask for the answers to every interrupt it ends with and
        resume with them, until a run ends without one."""
        result = self._follow(stream)
        while result.outcome == "interrupt":
            answers = self._answers(result.interrupts, task=task)
            if answers is None:
                return result
            stream = stream.answer(answers)
            result = self._follow(stream)
        return result

    def _answers(self, interrupts: Sequence[Interrupt], *, task: bool) -> dict[str, Answer] | None:
        """The user's answers. Ctrl-C (or Ctrl-D) at a question dismisses the
        conversation's interrupts (its next message could not be sent past
        them), but leaves a task's in review: None."""
        try:
            return {interrupt.id: self._prompt.ask(interrupt) for interrupt in interrupts}
        except (EOFError, KeyboardInterrupt):
            self.console.print()
        if task:
            self._view.note("left for review", "yellow")
            return None
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

        try:
            self._call(tail())
        except _Interrupted:
            self._view.note("stopped watching", "yellow")
            return
        task = self._call(self.client.task(task_id))
        if task["state"] == "review_needed":
            interrupts = [Interrupt.model_validate(i) for i in task["interrupts"]]
            answers = self._answers(interrupts, task=True)
            if answers is not None:
                stream = self.client.answer(task["agent"], task["threadId"], answers)
                self._settle(stream, task=True)
            task = self._call(self.client.task(task_id))
        self._view.note(f"task {task_id} is {task['state']}", "magenta")

    # -- the event loop -----------------------------------------------------------

    def _call(
        self,
        work: Coroutine[Any, Any, _T],
        *,
        stop: Callable[[], Awaitable[None]] | None = None,
        saying: str = "",
    ) -> _T:
        """Run ``work`` on the chat's loop, with Ctrl-C caught meanwhile: it calls
        ``stop`` (``work`` goes on to its end), and a second press — or the
        first, without a ``stop`` — cancels ``work`` (``_Interrupted``)."""
        return self._loop.run_until_complete(self._interruptible(work, stop, saying))

    async def _interruptible(
        self,
        work: Coroutine[Any, Any, _T],
        stop: Callable[[], Awaitable[None]] | None,
        saying: str,
    ) -> _T:
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
        if working.cancelled():
            raise _Interrupted
        return working.result()

    async def _on_ctrl_c(
        self,
        pressed: asyncio.Event,
        working: asyncio.Task[Any],
        stop: Callable[[], Awaitable[None]] | None,
        saying: str,
    ) -> None:
        await pressed.wait()
        if stop is not None:
            pressed.clear()
            self._view.note(f"{saying} (Ctrl-C again: stop waiting)", "yellow")
            stopping = asyncio.ensure_future(self._stop(stop))
            try:
                await pressed.wait()
            finally:  # the run ended (this watcher is cancelled), or a second press
                stopping.cancel()
                await asyncio.wait({stopping})
        working.cancel()

    async def _stop(self, stop: Callable[[], Awaitable[None]]) -> None:
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
