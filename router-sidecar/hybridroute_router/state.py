"""The router's runtime state for one policy: an immutable snapshot swapped atomically.

A request reads ``holder.state`` once at its start and uses that snapshot to the end,
so a policy swap never changes a request half-way. Upstream clients (connection pools,
circuit breakers) are carried over to the new snapshot when their upstream settings are
unchanged; the others are retired: idle connections close at once, busy ones when their
exchange ends, so in-flight requests finish undisturbed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import msgspec
from hybridroute_policy import (
    CURRENT_DEFAULTS,
    Policy,
    Upstream,
    describe_defaults,
    dump_policy,
)

from hybridroute_router.decision.compare import Comparator, make_comparator
from hybridroute_router.scorers.registry import LoadedScorer, load_scorer
from hybridroute_router.upstream.breaker import CircuitBreaker
from hybridroute_router.upstream.client import UpstreamClient

log = logging.getLogger("hybridroute.router.state")


@dataclass(frozen=True, slots=True)
class RouterState:
    policy: Policy
    scorer: LoadedScorer
    large: UpstreamClient
    small: dict[str, UpstreamClient]
    comparator: Comparator
    digest: str
    """sha256 of the canonical policy: what /readyz reports and reloads compare."""
    source: str
    models_body: bytes
    tier_header: bytes | None = field(default=None)
    defaults: int = CURRENT_DEFAULTS
    """The policy defaults generation the policy was read with (hybridroute_policy.defaults)."""

    def clients(self) -> list[UpstreamClient]:
        return [self.large, *self.small.values()]


def policy_digest(policy: Policy) -> str:
    return hashlib.sha256(dump_policy(policy).encode()).hexdigest()


def _client(
    upstream: Upstream, policy: Policy, previous: dict[Upstream, UpstreamClient]
) -> UpstreamClient:
    old = previous.get(upstream)
    cb = policy.circuit_breaker
    if old is not None and old.breaker.failure_threshold == cb.failure_threshold:
        old.breaker.open_seconds = cb.open_seconds
        return old
    return UpstreamClient(upstream, CircuitBreaker(cb.failure_threshold, cb.open_seconds))


def build_state(
    policy: Policy,
    *,
    source: str,
    previous: RouterState | None = None,
    scorer: LoadedScorer | None = None,
    defaults: int = CURRENT_DEFAULTS,
) -> RouterState:
    """Build a snapshot; raises on an unusable policy (e.g. an unreadable API key)."""
    reuse = {c.upstream: c for c in previous.clients()} if previous is not None else {}
    large = _client(policy.large.upstream, policy, reuse)
    small = {v.name: _client(v.upstream, policy, reuse) for v in policy.small.versions}
    models = {
        "object": "list",
        "data": [
            {"id": policy.public_model, "object": "model", "created": 0, "owned_by": "hybridroute"}
        ],
    }
    return RouterState(
        policy=policy,
        scorer=scorer
        if scorer is not None
        else load_scorer(policy, previous.scorer if previous is not None else None),
        large=large,
        small=small,
        comparator=make_comparator(policy.shadow.comparator),
        digest=policy_digest(policy),
        source=source,
        models_body=msgspec.json.encode(models),
        tier_header=policy.tiers.header.lower().encode() if policy.tiers.header else None,
        defaults=defaults,
    )


def retire(previous: RouterState, current: RouterState) -> None:
    """Close the pools the new snapshot no longer uses."""
    keep = {id(c) for c in current.clients()}
    for c in previous.clients():
        if id(c) not in keep:
            c.close()


class StateHolder:
    """Holds the current snapshot; ``swap`` is a single reference assignment."""

    def __init__(self, state: RouterState) -> None:
        self.state = state
        _announce(state)

    def swap(self, new: RouterState) -> RouterState:
        old, self.state = self.state, new
        if old is not new:
            retire(old, new)
        _announce(new)
        return old


def _announce(state: RouterState) -> None:
    log.info(
        "policy in force: %s (%s; defaults %s; scorer %s)",
        state.digest[:12],
        state.source,
        describe_defaults(state.defaults),
        state.scorer.scorer.name,
    )
