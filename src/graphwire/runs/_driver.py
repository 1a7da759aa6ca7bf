"""Drive one graph run: read the thread, plan, astream -> parse -> map.

``GraphRun.run(sink)`` hands each event to the sink as it is mapped (a call,
not an async generator hop per event); for a ``DeltaSink``, a further text
token of the message whose delta was put last goes to ``sink.put_delta``
without being parsed and mapped (``StreamParser.text_token`` and
``AguiMapper.text_tail`` vouch that the mapping would be that same event with
the new delta). A caller that
cancels the run on purpose (Stop, disconnect) asks ``GraphRun.cancel()`` for
the closing events, so the run still ends with exactly one terminal event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Final, cast

from ag_ui.core import BaseEvent, RunAgentInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from langgraph.pregel import Pregel
from langgraph.types import Command, Durability, StateSnapshot

from graphwire.protocol import (
    STREAM_MODES,
    AguiMapper,
    Breakpoint,
    ErrorCode,
    GraphCall,
    InputError,
    MapperOptions,
    RunInfo,
    StoreUnavailableError,
    StreamParser,
    ThreadView,
    plan_run,
)
from graphwire.runs._dispatch import FORWARD_DISPATCHED_EVENTS
from graphwire.runs._log import DeltaSink, EventSink
from graphwire.runs._snapshots import SnapshotMemo

logger = logging.getLogger("graphwire.runs")

AGENT_METADATA_KEY: Final = "graphwire_agent"
"""The checkpoint metadata key naming the agent whose run wrote it."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    mapper: MapperOptions = field(default_factory=MapperOptions)
    thread_key: str | None = None
    """The checkpointer's thread id, when it differs from the AG-UI threadId
    (threads scoped to an authenticated principal)."""
    configurable: Mapping[str, Any] = field(default_factory=dict)
    """Extra ``config["configurable"]`` entries for the graph (e.g. the task tools' context)."""
    durability: Durability | None = None
    """LangGraph's checkpoint durability for the run (None: the graph's default,
    "async"): "exit" writes one checkpoint when the run ends — fastest, but a
    crash loses the run's progress."""
    new_thread: bool = False
    """The caller knows the thread has no checkpoint yet: skip reading it."""
    snapshots: SnapshotMemo | None = None
    """The thread's MESSAGES_SNAPSHOT of its runs before."""
    agent: str | None = None
    """The served agent's name, kept in each checkpoint's metadata."""
    other_agents: frozenset[str] = frozenset()
    """The agents served beside it on the same store: a thread one of them
    wrote is refused (``THREAD_OF_ANOTHER_AGENT``)."""


class GraphRun:
    """One AG-UI run of a compiled graph."""

    def __init__(
        self, graph: Pregel[Any, Any], run: RunAgentInput, options: RunOptions | None = None
    ) -> None:
        self._graph = graph
        self._input = run
        opts = options or RunOptions()
        self._thread_key = opts.thread_key or run.thread_id
        self._options = opts
        self._parser = StreamParser(raw=opts.mapper.emit_raw)
        self._refused = False
        self._mapper = AguiMapper(
            RunInfo(run.thread_id, run.run_id, run.parent_run_id, run.protocol_version),
            opts.mapper,
            opts.snapshots.event if opts.snapshots is not None else None,
        )

    def start(self, sink: EventSink) -> None:
        """Hand ``sink`` RUN_STARTED now, before the run's task first runs, so a
        stream opened right away sends it at once (with its response headers)."""
        for event in self._mapper.start():
            sink.put(event)

    async def run(self, sink: EventSink) -> None:
        """Drive the run, handing its AG-UI events to ``sink``: RUN_STARTED first
        (unless ``start`` gave it already) and one terminal event last (unless
        cancelled: see ``cancel``)."""
        mapper = self._mapper
        if not mapper.started:
            self.start(sink)
        try:
            await self._stream(sink)
            final = mapper.finish()
        except InputError as exc:
            self._refused = True
            final = mapper.fail(exc.code, exc.message)
        except StoreUnavailableError as exc:
            logger.warning("run %s: %s", self._input.run_id, exc)
            final = mapper.fail(exc.code, "The store cannot be used now. Retry later.")
        except GraphRecursionError:
            logger.exception("run %s hit the recursion limit", self._input.run_id)
            final = mapper.fail(ErrorCode.RECURSION_LIMIT, "The agent hit its recursion limit.")
        except Exception as exc:
            logger.exception("run %s failed", self._input.run_id)
            final = mapper.fail(ErrorCode.AGENT_ERROR, f"The agent failed ({type(exc).__name__}).")
        for event in final:
            sink.put(event)

    @property
    def refused(self) -> bool:
        """True when the run ended on bad input before the graph ran."""
        return self._refused

    @property
    def interrupted(self) -> bool:
        """True once the run has ended waiting for answers to interrupts."""
        return self._mapper.interrupted

    def cancel(self) -> list[BaseEvent]:
        """Closing events for a run stopped on purpose; empty if it already ended."""
        if self._mapper.closed:
            return []
        return self._mapper.cancel()

    def abort(self, code: ErrorCode, message: str) -> list[BaseEvent]:
        """Closing events (RUN_ERROR) for a run stopped by graphwire itself (timeout,
        shutdown); empty if it already ended."""
        return self._mapper.fail(code, message)

    async def _stream(self, sink: EventSink) -> None:
        graph = self._graph
        opts = self._options
        thread = empty_thread(graph) if opts.new_thread else None
        thread = thread or await read_thread(graph, self._thread_key)
        if opts.agent is not None:
            check_agent(thread.agent, opts.agent, opts.other_agents)
        call = plan_run(self._input, thread)
        config = await _run_config(graph, call, self._thread_key)
        if opts.agent is not None:
            config["metadata"] = {AGENT_METADATA_KEY: opts.agent}
        if thread.resume_failed and isinstance(call.input, Command):
            # A new checkpoint without the failed attempt's writes: the node then
            # gets this answer, not the one it failed on (docs/adr/0008).
            forked = await graph.aupdate_state(config, None)
            config["configurable"].update(forked["configurable"])
        config["configurable"].update(opts.configurable)
        parts = cast(
            AsyncGenerator[Any, None],
            graph.astream(
                call.input,
                config,
                stream_mode=list(STREAM_MODES),
                subgraphs=True,
                version="v2",
                durability=opts.durability,
            ),
        )
        parse, feed, put = self._parser.parse, self._mapper.feed, sink.put
        token_of, tail_of = self._parser.text_token, self._mapper.text_tail
        fast = sink if isinstance(sink, DeltaSink) else None
        async with aclosing(parts):
            async for part in parts:
                if fast is not None and (token := token_of(part)) is not None:
                    tail = tail_of(token[0])
                    if tail is not None:
                        fast.put_delta(tail, token[1])
                        continue
                for parsed in parse(part):
                    for event in feed(parsed):
                        put(event)
        await self._stream_ended(sink)

    async def _stream_ended(self, sink: EventSink) -> None:
        """What only the stream's end tells: interrupts seen in values parts only,
        and a pause at a static breakpoint (which the stream does not show)."""
        ending = self._parser.flush()
        graph = self._graph
        if has_breakpoints(graph):
            config: RunnableConfig = {"configurable": {"thread_id": self._thread_key}}
            paused = await breakpoint_of(graph, await graph.aget_state(config))
            if paused is not None:
                ending.append(paused.raised())
        for parsed in ending:
            for event in self._mapper.feed(parsed):
                sink.put(event)


def check_agent(owner: str | None, agent: str, others: Collection[str]) -> None:
    """Raise ``InputError`` when another agent served now (``owner``, one of
    ``others``) wrote the thread: agents served with one store share its
    threads by id, and a second graph's run would write over the first one's
    state. A thread of no agent served now (renamed, gone, or from before the
    agent was kept in the metadata) is taken by the next one that runs on it."""
    if owner is not None and owner != agent and owner in others:
        raise InputError(
            ErrorCode.THREAD_OF_ANOTHER_AGENT,
            f"the thread belongs to agent {owner!r}: give agent {agent!r} a threadId of its own",
        )


def agent_of(snapshot: StateSnapshot) -> str | None:
    """The agent whose run wrote the checkpoint of ``snapshot``, if known."""
    agent = (snapshot.metadata or {}).get(AGENT_METADATA_KEY)
    return agent if isinstance(agent, str) else None


def empty_thread(graph: Pregel[Any, Any]) -> ThreadView:
    """A thread with no checkpoint yet: no messages, no interrupts, the graph's keys."""
    keys = frozenset(k for k in graph.channels if not k.startswith("__") and ":" not in k)
    return ThreadView(state_keys=keys)


async def read_thread(graph: Pregel[Any, Any], thread_id: str) -> ThreadView:
    """What the thread's checkpoint holds; empty for a graph without a checkpointer."""
    if graph.checkpointer is None:
        return empty_thread(graph)
    keys = empty_thread(graph).state_keys
    snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
    messages = _messages_of(snapshot.values)
    pending = tuple(dict.fromkeys(i.id for i in snapshot.interrupts))
    paused = await breakpoint_of(graph, snapshot)
    if paused is not None:
        pending = (paused.interrupt_id,)
    values = snapshot.values if isinstance(snapshot.values, dict) else {}
    failed = bool(snapshot.interrupts) and any(task.error for task in snapshot.tasks)
    return ThreadView(tuple(messages), pending, keys, paused, failed, values, agent_of(snapshot))


def has_breakpoints(graph: Pregel[Any, Any]) -> bool:
    """The graph was compiled with ``interrupt_before`` or ``interrupt_after``."""
    return bool(graph.interrupt_before_nodes or graph.interrupt_after_nodes)


async def breakpoint_of(graph: Pregel[Any, Any], snapshot: StateSnapshot) -> Breakpoint | None:
    """Where the thread in ``snapshot`` waits at a static breakpoint, if it does:
    no interrupt or task error, and its next node is one to stop before, or the
    node that ran last is one to stop after."""
    if not has_breakpoints(graph) or snapshot.interrupts or not snapshot.next:
        return None
    if any(task.error for task in snapshot.tasks):
        return None
    checkpoint_id = str(snapshot.config["configurable"]["checkpoint_id"])
    nodes = tuple(snapshot.next)
    if _named(nodes, graph.interrupt_before_nodes):
        return Breakpoint(checkpoint_id, "before", nodes)
    if graph.interrupt_after_nodes and snapshot.parent_config is not None:
        parent = await graph.aget_state(snapshot.parent_config)
        if _named(parent.next, graph.interrupt_after_nodes):
            return Breakpoint(checkpoint_id, "after", nodes)
    return None


def _named(nodes: Sequence[str], breakpoints: Sequence[str] | str) -> bool:
    return breakpoints == "*" or any(node in breakpoints for node in nodes)


def _messages_of(values: Any) -> Sequence[BaseMessage]:
    messages = values.get("messages") if isinstance(values, dict) else None
    return messages if isinstance(messages, list) else ()


async def _run_config(graph: Pregel[Any, Any], call: GraphCall, thread_key: str) -> RunnableConfig:
    """The run's config on the checkpointer's thread key, pointed at an earlier
    checkpoint when the client edited history."""
    config: RunnableConfig = {
        "configurable": {**call.config["configurable"], "thread_id": thread_key},
        "callbacks": [FORWARD_DISPATCHED_EVENTS],
    }
    if call.fork_before is None or graph.checkpointer is None:
        return config
    async for snapshot in graph.aget_state_history(config):
        ids = {m.id for m in _messages_of(snapshot.values)}
        if call.fork_before not in ids:
            config["configurable"]["checkpoint_id"] = snapshot.config["configurable"][
                "checkpoint_id"
            ]
            return config
    raise InputError(
        ErrorCode.INVALID_INPUT,
        "no checkpoint before the edited message is kept (the thread keeps the last "
        "`checkpoint_turns` turns editable)",
    )
