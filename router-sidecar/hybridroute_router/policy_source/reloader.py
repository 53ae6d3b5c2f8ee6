"""Validate a policy text and put it in force atomically; keep the last good one on error."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass

from hybridroute_policy import (
    CURRENT_DEFAULTS,
    Policy,
    PolicyError,
    configmap_defaults,
    parse_policy,
)

from hybridroute_router.runtime import Runtime
from hybridroute_router.state import build_state

log = logging.getLogger("hybridroute.router.policy")


@dataclass(frozen=True)
class PolicyDocument:
    """A policy as a source read it: ``policy.yaml``'s text and the ``policy-defaults``
    marker beside it (None when absent)."""

    text: str
    defaults_marker: str | None = None


def read_policy(doc: PolicyDocument, *, source: str, from_configmap: bool) -> tuple[Policy, int]:
    """The policy ``doc`` holds and the defaults generation it was read with: an operator's
    ConfigMap (the API's or its mounted copy) names it in its marker, or is of before the
    marker (generation 1); a standalone policy file takes the current defaults. Raises
    PolicyError for a document (or marker) that is wrong."""
    defaults = (
        configmap_defaults(doc.defaults_marker, source=source)
        if from_configmap
        else CURRENT_DEFAULTS
    )
    return parse_policy(doc.text, source=source, defaults=defaults), defaults


class Reloader:
    """Serialises reloads from every source; remembers the last text seen per source so
    an unchanged document is not rebuilt.

    A document that is wrong (YAML, schema) is remembered and not tried again until its
    source changes. One rejected for a reason that may pass (an API key file or variable
    not there yet, an I/O error) is not remembered: it is offered again with back-off
    (``retry_initial`` doubling up to ``retry_max`` seconds) until it applies, fails for
    good, or its source offers another document.

    ``from_configmap``: the router follows an operator's policy ConfigMap, so every
    document (the API's and the mounted file's) is read with the defaults its
    ``policy-defaults`` marker names (:func:`read_policy`).
    """

    def __init__(
        self,
        rt: Runtime,
        *,
        from_configmap: bool = False,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
    ) -> None:
        self.rt = rt
        self.from_configmap = from_configmap
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._lock = asyncio.Lock()
        self._seen: dict[str, str] = {}
        self._retries: dict[str, asyncio.Task[None]] = {}
        self._backoff: dict[str, float] = {}
        self.last_error: str | None = None

    async def offer(self, doc: PolicyDocument, *, source: str, kind: str) -> bool:
        """Try a policy document. True when it is now in force (or already was)."""
        pending = self._retries.pop(source, None)
        if pending is not None:  # a newer offer from the same source supersedes it
            pending.cancel()
        digest = hashlib.sha256(f"{doc.defaults_marker}\0{doc.text}".encode()).hexdigest()
        if self._seen.get(source) == digest:
            return True
        m = self.rt.metrics
        async with self._lock:
            try:
                policy, defaults = read_policy(
                    doc, source=source, from_configmap=self.from_configmap
                )
                previous = self.rt.state
                if policy == previous.policy and defaults == previous.defaults:
                    self._settled(source, digest)
                    return True
                # The scorer may load a model: off the event loop.
                state = await asyncio.to_thread(
                    build_state, policy, source=source, previous=previous, defaults=defaults
                )
            except (PolicyError, ValueError) as exc:  # the document itself is wrong
                self._rejected(source, kind, exc)
                self._settled(source, digest)
                return False
            except (OSError, RuntimeError) as exc:  # e.g. a key file not mounted yet
                self._rejected(source, kind, exc)
                self._retry_later(doc, source, kind)
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

    def _retry_later(self, doc: PolicyDocument, source: str, kind: str) -> None:
        delay = self._backoff.get(source, self.retry_initial)
        self._backoff[source] = min(delay * 2, self.retry_max)
        log.info("policy from %s: trying again in %.1fs", source, delay)
        loop = asyncio.get_running_loop()
        self._retries[source] = loop.create_task(self._retry(delay, doc, source, kind))

    async def _retry(self, delay: float, doc: PolicyDocument, source: str, kind: str) -> None:
        await asyncio.sleep(delay)
        self._retries.pop(source, None)
        await self.offer(doc, source=source, kind=kind)

    async def stop(self) -> None:
        """Cancel pending retries (at shutdown)."""
        tasks = list(self._retries.values())
        self._retries.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
