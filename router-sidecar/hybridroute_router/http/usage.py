"""Token, cost and energy accounting from upstream ``usage`` objects."""

from __future__ import annotations

from typing import Any

from hybridroute_policy import LargeModel, SmallModel

from hybridroute_router.http.context import RequestContext


def usage_tokens(usage: Any) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) of a usage object, 0 when absent."""
    if not isinstance(usage, dict):
        return 0, 0
    p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (p if isinstance(p, int) else 0, c if isinstance(c, int) else 0)


def price(model: LargeModel | SmallModel, tokens: tuple[int, int]) -> tuple[float, float]:
    """(USD, joules) of an answer of ``model`` with these (prompt, completion) tokens."""
    prompt_tokens, completion_tokens = tokens
    pricing = model.pricing
    cost = (
        prompt_tokens * pricing.input_per_1k_tokens
        + completion_tokens * pricing.output_per_1k_tokens
    ) / 1000.0
    energy = (prompt_tokens + completion_tokens) * model.energy.joules_per_1k_tokens / 1000.0
    return cost, energy


def record_usage(ctx: RequestContext, role: str, version: str, tokens: tuple[int, int]) -> None:
    """Count tokens, cost and energy for one upstream answer (also a discarded one,
    such as the small answer before an escalation: it was paid for)."""
    prompt_tokens, completion_tokens = tokens
    if not (prompt_tokens or completion_tokens):
        return
    m = ctx.rt.metrics
    policy = ctx.state.policy
    route = policy.route
    model = policy.large if role == "large" else policy.small
    m.child(m.tokens, route, role, version, "prompt").inc(prompt_tokens)
    m.child(m.tokens, route, role, version, "completion").inc(completion_tokens)
    cost, energy = price(model, tokens)
    m.child(m.cost, route, role, version).inc(cost)
    m.child(m.energy, route, role, version).inc(energy)
    ctx.joules += energy


def record_request_energy(
    ctx: RequestContext, role: str, version: str, tokens: tuple[int, int]
) -> None:
    """Once per answered request: its energy (every upstream answer it used), and for an
    answer from the small model what it saved against the large model at the same token
    counts (never below 0: a small model priced above the large saves nothing)."""
    if not (tokens[0] or tokens[1] or ctx.joules):
        return  # no usage reported: unknown, not zero
    m = ctx.rt.metrics
    policy = ctx.state.policy
    m.child(m.request_energy, policy.route, role).observe(ctx.joules)
    if role != "small":
        return
    large_cost, large_energy = price(policy.large, tokens)
    cost, energy = price(policy.small, tokens)
    m.child(m.cost_saved, policy.route, version).inc(max(large_cost - cost, 0.0))
    m.child(m.energy_saved, policy.route, version).inc(max(large_energy - energy, 0.0))
