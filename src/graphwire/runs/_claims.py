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
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from graphwire.protocol import StoreUnavailableError
from graphwire.runs._stopping import stop_within

logger = logging.getLogger("graphwire.runs")


class ThreadClaims(Protocol):
    """Where threads are claimed (the store all processes share). A claim names
    its run by run key (``runs.run_key``: the run id within its principal's) and
    is fenced by a token of its own: a run resumed under the same id claims
    anew, and the release of its earlier claim leaves the new one alone."""

    async def claim_thread(
        self, thread_key: str, run_key: str, token: str, owner: str, lease_seconds: float
    ) -> bool:
        """Claim the thread for ``run_key`` as ``token``: True if it was free, its
        claim had lapsed, or ``owner`` held it already (its own registry knows
        the thread is idle); False while another owner holds it."""
        ...

    async def renew_threads(
        self, owner: str, tokens: Mapping[str, str], lease_seconds: float
    ) -> set[str]:
        """Extend ``owner``'s live claims (thread key -> token); the keys whose
        claim is gone or had lapsed."""
        ...

    async def release_thread(self, thread_key: str, token: str) -> None:
        """Drop the claim, if it is still ``token``'s."""
        ...

    async def request_cancel(self, run_key: str) -> bool:
        """Ask the process whose live claim names ``run_key`` to stop that run;
        False when no live claim names it."""
        ...

    async def claimed_run(self, thread_key: str) -> str | None:
        """The run key of the live claim on the thread (None: nobody runs it)."""
        ...

    def on_cancel_request(self, stop: Callable[[str], None]) -> None:
        """``stop(run_key)`` for each cancel requested (by any process) of a run
        this process may hold."""
        ...


@dataclass(frozen=True, slots=True)
class _Claim:
    run_key: str
    token: str


class ClaimKeeper:
    """This process's thread claims: taken, renewed, released. ``aclose`` ends it."""

    def __init__(
        self,
        claims: ThreadClaims,
        lease_seconds: float,
        stop: Callable[[str], None],
        owner: str,
    ) -> None:
        """``stop(run_key)``: that run must stop — its claim was lost while it
        went on (another process may run the thread), or a cancel was asked for.
        ``owner``: this process's id in the claims."""
        self.owner = owner
        self._claims = claims
        self._lease = lease_seconds
        self._stop = stop
        self._held: dict[str, _Claim] = {}
        self._holders: dict[str, set[str]] = {}
        """thread key -> the tokens of this process's runs that hold it."""
        self._releases: dict[str, str] = {}
        """token -> thread key: claims whose run ended, to drop."""
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        claims.on_cancel_request(stop)

    async def request_cancel(self, run_key: str) -> bool:
        """Stop a run another process holds (False: no process holds it)."""
        return await self._claims.request_cancel(run_key)

    async def claimed_run(self, thread_key: str) -> str | None:
        """The run key of whichever process's run holds the thread now."""
        return await self._claims.claimed_run(thread_key)

    async def claim(self, thread_key: str, run_key: str) -> str | None:
        """Claim the thread for a run about to start: the claim's token (pass it
        to ``release``), or None while another process holds the thread."""
        claim = _Claim(run_key, uuid.uuid4().hex)
        taken = await self._claims.claim_thread(
            thread_key, run_key, claim.token, self.owner, self._lease
        )
        if not taken:
            return None
        self._held[thread_key] = claim  # the claim the store has now (renewed, released)
        self._holders.setdefault(thread_key, set()).add(claim.token)
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep(), name="graphwire-thread-claims")
            self._keeper.add_done_callback(_crashed)
        return claim.token

    def release(self, thread_key: str, token: str) -> None:
        """The run that took claim ``token`` is done with the thread. The store's
        claim goes (soon, from the keeper's task) once no run of this process
        holds the thread: a later run's claim replaced an earlier's in the
        store while the earlier still saved its end, and either may finish first."""
        holders = self._holders.get(thread_key)
        if holders is None or token not in holders:
            return
        holders.discard(token)
        if holders:
            return
        del self._holders[thread_key]
        claim = self._held.pop(thread_key, None)
        if claim is not None:
            self._releases[claim.token] = thread_key
            self._wake.set()

    async def _keep(self) -> None:
        """Release what ended at once; renew what runs every third of the lease.
        A failure is logged and tried again: while the keeper lives, the leases
        say what holds."""
        while True:
            with contextlib.suppress(TimeoutError):  # else the renewal is due
                async with asyncio.timeout(self._lease / 3):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._release_ended()
                await self._renew()
            except StoreUnavailableError as exc:
                logger.warning("thread claims could not be kept: %s", exc)
            except Exception:
                logger.exception("keeping thread claims failed; trying again")

    async def _release_ended(self) -> None:
        for token, thread_key in list(self._releases.items()):
            await self._claims.release_thread(thread_key, token)
            del self._releases[token]

    async def _renew(self) -> None:
        if not self._held:
            return
        held = dict(self._held)
        tokens = {key: claim.token for key, claim in held.items()}
        for thread_key in await self._claims.renew_threads(self.owner, tokens, self._lease):
            if self._held.get(thread_key) == held[thread_key]:
                del self._held[thread_key]
                self._holders.pop(thread_key, None)
                logger.error("thread %s: claim lost while its run went on; stopping it", thread_key)
                self._stop(held[thread_key].run_key)

    async def aclose(self, timeout: float | None = None, keep: Collection[str] = ()) -> None:
        """Stop keeping; release what is held or ended but the threads in
        ``keep`` (``timeout`` seconds at most: a claim not released then lapses
        with its lease, as after a crash)."""
        if self._keeper is not None:
            self._keeper.cancel()  # mid-renewal on a database that answers nothing, maybe
            await stop_within({self._keeper}, timeout)
            self._keeper = None
        drop = {claim.token: key for key, claim in self._held.items()} | self._releases
        kept = sum(key in keep for key in drop.values())
        self._held.clear()
        self._holders.clear()
        self._releases.clear()
        releases = {
            asyncio.create_task(self._claims.release_thread(key, token), name=f"release-{key}")
            for token, key in drop.items()
            if key not in keep
        }
        late = await stop_within(releases, timeout)
        failed = [r.exception() for r in releases - late if r.exception() is not None]
        for exc in failed:
            if not isinstance(exc, StoreUnavailableError):
                logger.error("releasing a thread's claim failed", exc_info=exc)
        if failed or late or kept:
            reason = f": {failed[0]}" if failed else ""
            logger.warning(
                "%d threads keep their claims until their leases end (%s s)%s",
                len(failed) + len(late) + kept,
                self._lease,
                reason,
            )


def _crashed(keeper: asyncio.Task[None]) -> None:
    if not keeper.cancelled() and keeper.exception() is not None:
        logger.error("keeping thread claims failed", exc_info=keeper.exception())
