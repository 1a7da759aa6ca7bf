"""One run per thread across processes: claims in a shared store.

The registry keeps one active run per thread within its process; with a
``ThreadClaims`` store (SQLite, PostgreSQL) each run also holds a claim on its
thread there — a row with the run key, the process's owner id and a lease — so
two processes never run one thread at once. The ``ClaimKeeper`` takes a claim
before the run starts, renews every claim it holds while their runs go on,
and releases each when its run ends; a dead process's claims lapse with their
lease. A claim found lost at renewal (its lease ran out, someone took it)
stops its run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Protocol

from graphwire.protocol import StoreUnavailableError

logger = logging.getLogger("graphwire.runs")


class ThreadClaims(Protocol):
    """Where threads are claimed (the store all processes share). A claim names
    its run by run key (``runs.run_key``: the run id within its principal's)."""

    async def claim_thread(
        self, thread_key: str, run_key: str, owner: str, lease_seconds: float
    ) -> bool:
        """Claim the thread for ``run_key``: True if it was free, its claim had
        lapsed, or ``owner`` held it already (its own registry knows the thread
        is idle); False while another owner holds it."""
        ...

    async def renew_threads(
        self, owner: str, claims: Mapping[str, str], lease_seconds: float
    ) -> set[str]:
        """Extend ``owner``'s claims (thread key -> run key); the keys it no
        longer holds."""
        ...

    async def release_thread(self, thread_key: str, run_key: str, owner: str) -> None:
        """Drop the claim, if ``owner`` still holds it for ``run_key``."""
        ...

    async def request_cancel(self, run_key: str) -> bool:
        """Ask the process whose live claim names ``run_key`` to stop that run;
        False when no live claim names it."""
        ...

    def on_cancel_request(self, stop: Callable[[str], None]) -> None:
        """``stop(run_key)`` for each cancel requested (by any process) of a run
        this process may hold."""
        ...


class ClaimKeeper:
    """This process's thread claims: taken, renewed, released. ``aclose`` ends it."""

    def __init__(
        self,
        claims: ThreadClaims,
        lease_seconds: float,
        on_lost: Callable[[str, str], None],
        on_cancel: Callable[[str], None],
    ) -> None:
        """``on_lost(thread_key, run_key)`` is told of a claim lost while its run
        goes on (the run must stop: another process may run the thread);
        ``on_cancel(run_key)`` of a cancel another process asked for."""
        self.owner = f"runs-{uuid.uuid4().hex[:12]}"
        self._claims = claims
        self._lease = lease_seconds
        self._on_lost = on_lost
        self._held: dict[str, str] = {}
        self._releases: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        claims.on_cancel_request(on_cancel)

    async def request_cancel(self, run_key: str) -> bool:
        """Stop a run another process holds (False: no process holds it)."""
        return await self._claims.request_cancel(run_key)

    async def claim(self, thread_key: str, run_key: str) -> bool:
        """Claim the thread for a run about to start (False: another process's)."""
        if not await self._claims.claim_thread(thread_key, run_key, self.owner, self._lease):
            return False
        self._held[thread_key] = run_key
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep(), name="graphwire-thread-claims")
            self._keeper.add_done_callback(_crashed)
        return True

    def release(self, thread_key: str, run_key: str) -> None:
        """The run ended: drop its claim (soon, from the keeper's task)."""
        if self._held.get(thread_key) == run_key:
            del self._held[thread_key]
            self._releases[thread_key] = run_key
            self._wake.set()

    async def _keep(self) -> None:
        """Release what ended at once; renew what runs every third of the lease."""
        while True:
            with contextlib.suppress(TimeoutError):  # else the renewal is due
                async with asyncio.timeout(self._lease / 3):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._release_ended()
                await self._renew()
            except StoreUnavailableError as exc:  # tried again next time; leases bound it
                logger.warning("thread claims could not be kept: %s", exc)

    async def _release_ended(self) -> None:
        while self._releases:
            thread_key, run_key = next(iter(self._releases.items()))
            await self._claims.release_thread(thread_key, run_key, self.owner)
            if self._releases.get(thread_key) == run_key:
                del self._releases[thread_key]

    async def _renew(self) -> None:
        if not self._held:
            return
        held = dict(self._held)
        for thread_key in await self._claims.renew_threads(self.owner, held, self._lease):
            if self._held.get(thread_key) == held[thread_key]:
                del self._held[thread_key]
                logger.error("thread %s: claim lost while its run went on; stopping it", thread_key)
                self._on_lost(thread_key, held[thread_key])

    async def aclose(self) -> None:
        """Stop keeping; release what ended (a crash leaves claims to lapse)."""
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.wait({self._keeper})
            self._keeper = None
        for thread_key, run_key in {**self._held, **self._releases}.items():
            try:
                await self._claims.release_thread(thread_key, run_key, self.owner)
            except StoreUnavailableError as exc:
                logger.warning(
                    "thread %s keeps its claim until the lease ends: %s", thread_key, exc
                )
        self._held.clear()
        self._releases.clear()


def _crashed(keeper: asyncio.Task[None]) -> None:
    if not keeper.cancelled() and keeper.exception() is not None:
        logger.error("keeping thread claims failed", exc_info=keeper.exception())
