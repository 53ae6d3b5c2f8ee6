"""Validate a policy text and put it in force atomically; keep the last good one on error."""

from __future__ import annotations

import asyncio
import hashlib
import logging

from hybridroute_policy import PolicyError, parse_policy

from hybridroute_router.runtime import Runtime
from hybridroute_router.state import build_state

log = logging.getLogger("hybridroute.router.policy")


class Reloader:
    """Serialises reloads from every source; remembers the last text seen per source so
    an unchanged document is not rebuilt."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = asyncio.Lock()
        self._seen: dict[str, str] = {}
        self.last_error: str | None = None

    async def offer(self, text: str, *, source: str, kind: str) -> bool:
        """Try a policy document. True when it is now in force (or already was)."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        if self._seen.get(source) == digest:
            return True
        m = self.rt.metrics
        async with self._lock:
            try:
                policy = parse_policy(text, source=source)
                previous = self.rt.state
                if policy == previous.policy:
                    self._seen[source] = digest
                    return True
                # The scorer may load a model: off the event loop.
                state = await asyncio.to_thread(
                    build_state, policy, source=source, previous=previous
                )
            except (PolicyError, ValueError, OSError, RuntimeError) as exc:
                self.last_error = str(exc)
                m.reloads.labels(kind, "rejected").inc()
                log.error(
                    "policy from %s rejected, keeping %s: %s",
                    source,
                    self.rt.state.digest[:12],
                    exc,
                )
                self._seen[source] = digest
                return False
            await self.rt.apply(state)
            self._seen[source] = digest
            self.last_error = None
            m.reloads.labels(kind, "applied").inc()
            return True
