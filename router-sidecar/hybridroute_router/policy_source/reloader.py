"""Validate a policy text and put it in force atomically; keep the last good one on error."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

from hybridroute_policy import PolicyError, parse_policy

from hybridroute_router.runtime import Runtime
from hybridroute_router.state import build_state

log = logging.getLogger("hybridroute.router.policy")


class Reloader:
    """Serialises reloads from every source; remembers the last text seen per source so
    an unchanged document is not rebuilt.

    A document that is wrong (YAML, schema) is remembered and not tried again until its
    source changes. One rejected for a reason that may pass (an API key file or variable
    not there yet, an I/O error) is not remembered: it is offered again with back-off
    (``retry_initial`` doubling up to ``retry_max`` seconds) until it applies, fails for
    good, or its source offers another document.
    """

    def __init__(self, rt: Runtime, *, retry_initial: float = 1.0, retry_max: float = 60.0) -> None:
        self.rt = rt
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._lock = asyncio.Lock()
        self._seen: dict[str, str] = {}
        self._retries: dict[str, asyncio.Task[None]] = {}
        self._backoff: dict[str, float] = {}
        self.last_error: str | None = None

    async def offer(self, text: str, *, source: str, kind: str) -> bool:
        """Try a policy document. True when it is now in force (or already was)."""
        pending = self._retries.pop(source, None)
        if pending is not None:  # a newer offer from the same source supersedes it
            pending.cancel()
        digest = hashlib.sha256(text.encode()).hexdigest()
        if self._seen.get(source) == digest:
            return True
        m = self.rt.metrics
        async with self._lock:
            try:
                policy = parse_policy(text, source=source)
                previous = self.rt.state
                if policy == previous.policy:
                    self._settled(source, digest)
                    return True
                # The scorer may load a model: off the event loop.
                state = await asyncio.to_thread(
                    build_state, policy, source=source, previous=previous
                )
            except (PolicyError, ValueError) as exc:  # the document itself is wrong
                self._rejected(source, kind, exc)
                self._settled(source, digest)
                return False
            except (OSError, RuntimeError) as exc:  # e.g. a key file not mounted yet
                self._rejected(source, kind, exc)
                self._retry_later(text, source, kind)
                return False
            await self.rt.apply(state)
            self._settled(source, digest)
            self.last_error = None
            m.reloads.labels(kind, "applied").inc()
            return True

    def _rejected(self, source: str, kind: str, exc: Exception) -> None:
        self.last_error = str(exc)
        self.rt.metrics.reloads.labels(kind, "rejected").inc()
        log.error("policy from %s rejected, keeping %s: %s", source, self.rt.state.digest[:12], exc)

    def _settled(self, source: str, digest: str) -> None:
        self._seen[source] = digest
        self._backoff.pop(source, None)

    def _retry_later(self, text: str, source: str, kind: str) -> None:
        delay = self._backoff.get(source, self.retry_initial)
        self._backoff[source] = min(delay * 2, self.retry_max)
        log.info("policy from %s: trying again in %.1fs", source, delay)
        loop = asyncio.get_running_loop()
        self._retries[source] = loop.create_task(self._retry(delay, text, source, kind))

    async def _retry(self, delay: float, text: str, source: str, kind: str) -> None:
        await asyncio.sleep(delay)
        self._retries.pop(source, None)
        await self.offer(text, source=source, kind=kind)

    async def stop(self) -> None:
        """Cancel pending retries (at shutdown)."""
        tasks = list(self._retries.values())
        self._retries.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
