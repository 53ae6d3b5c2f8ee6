"""The canary loop (I/O): every ``spec.canary.interval`` it lists the student Deployments
(discovery), reads the manual-control annotations, asks Prometheus for the candidate's
numbers when an analysis is due, and hands them to the pure state machine
(``hybridroute_operator.canary``). Its output, ``status.canary``, carries the weights and
the discovered versions the reconciler renders into the policy (``controls``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from hybridroute_operator.api.kinds import DEPLOYMENT, HYBRIDROUTE
from hybridroute_operator.api.spec import CanarySpec, HybridRouteSpec, duration_seconds
from hybridroute_operator.canary import (
    CONDITION_TYPES,
    PHASES,
    Analysis,
    Decision,
    Discovered,
    Failure,
    Phase,
    Reading,
    Rollout,
    Target,
    analysis_shadow,
    build_world,
    conclude,
    conditions,
    discover,
    evaluate,
    label_selector,
    prepare,
    queries,
)
from hybridroute_operator.controls import LoopOutput
from hybridroute_operator.kube import KubeError
from hybridroute_operator.loops.base import LoopConfigError, LoopEnv, LoopInput, prometheus_for
from hybridroute_operator.prom import PrometheusClient, QueryError

log = logging.getLogger("hybridroute.operator")


class CanaryLoop:
    name = "canary"
    condition_types: tuple[str, ...] = CONDITION_TYPES

    def interval_seconds(self, spec: HybridRouteSpec) -> float | None:
        if spec.canary is None:
            return None
        return duration_seconds(spec.canary.interval)

    async def evaluate(self, inp: LoopInput, env: LoopEnv) -> LoopOutput:
        canary = inp.spec.canary
        assert canary is not None  # the scheduler only runs enabled loops
        ref = inp.ref
        annotations = await _annotations(env, ref.namespace, ref.name)
        discovered, notes = await _discover(inp.spec, env, ref.namespace)
        world = build_world(inp.spec, inp.status, discovered, annotations)
        previous = Rollout.from_status(inp.status.get(self.name))
        prepared = prepare(canary, previous, world, inp.now)
        analysis = None
        r = prepared.rollout
        if prepared.analyse and r.phase == Phase.PROGRESSING:
            assert r.candidate is not None
            assert r.stable is not None
            since = r.step_start_time if r.step_start_time is not None else inp.now
            target = Target(
                route=ref.name,
                namespace=ref.namespace,
                candidate=r.candidate,
                stable=r.stable,
                window_seconds=max(2, round(inp.now - since)),
            )
            analysis = await _analyse(canary, target, env)
        decision = conclude(canary, prepared, world, analysis, inp.now)
        _record(env, ref.namespace, ref.name, decision)
        section = decision.rollout.to_status()
        rendered = set(decision.rendered)
        section["discovered"] = [d.to_status() for d in discovered if d.name in rendered]
        r = decision.rollout
        if r.candidate is not None and r.stable is not None:
            base = _shadow_base(inp.spec, r.stable)
            shares = analysis_shadow(canary, r.candidate, r.stable, r.weight, base)
            if shares:
                section["shadowPercent"] = shares
        if notes:
            section["discoveryIgnored"] = notes[:10]
        return LoopOutput(
            section=section,
            conditions=conditions(decision.rollout),
            events=decision.events,
        )


def _shadow_base(spec: HybridRouteSpec, version: str) -> float:
    """A version's usual shadow share: its own, else the policy's."""
    for v in spec.small.versions:
        if v.name == version and v.shadow_percent is not None:
            return v.shadow_percent
    return spec.policy.shadow.percent


async def _annotations(env: LoopEnv, namespace: str, name: str) -> Mapping[str, str]:
    """The route's annotations (manual control); none when it cannot be read now."""
    try:
        body = await env.kube.get(HYBRIDROUTE, namespace, name)
    except KubeError as exc:
        log.warning("canary: route not read", extra={"route": name, "error": str(exc)})
        return {}
    return dict(((body or {}).get("metadata") or {}).get("annotations") or {})


async def _discover(
    spec: HybridRouteSpec, env: LoopEnv, namespace: str
) -> tuple[list[Discovered], list[str]]:
    discovery = spec.small.discovery
    if discovery is None:
        return [], []
    try:
        items = await env.kube.list(DEPLOYMENT, namespace, label_selector=label_selector(discovery))
    except KubeError as exc:
        raise LoopConfigError(f"listing Deployments for discovery: {exc}") from exc
    return discover(discovery, items)


async def _analyse(canary: CanarySpec, target: Target, env: LoopEnv) -> Analysis:
    wanted = queries(canary, target)
    try:
        prom = await prometheus_for(canary.prometheus, target.namespace, env)
    except LoopConfigError as exc:
        readings: dict[str, Reading] = {k: Failure("unreachable", str(exc)) for k in wanted}
        return evaluate(canary, readings)
    keys = list(wanted)
    values = await asyncio.gather(*(_read(prom, wanted[k]) for k in keys))
    return evaluate(canary, dict(zip(keys, values, strict=True)))


async def _read(prom: PrometheusClient, query: str) -> Reading:
    try:
        return (await prom.scalar(query, purpose="canary")).value
    except QueryError as exc:
        return Failure(exc.result, exc.message)


def _record(env: LoopEnv, namespace: str, route: str, decision: Decision) -> None:
    m = env.metrics.canary
    r = decision.rollout
    m.set(namespace, route, r.phase.value, tuple(p.value for p in PHASES), dict(r.weights))
    if decision.promoted:
        m.promotions.labels(namespace, route).inc()
    if decision.rolled_back:
        m.rollbacks.labels(namespace, route).inc()


def section_weights(section: Mapping[str, Any]) -> dict[str, int]:
    """The weights a ``status.canary`` section carries (for tests and tools)."""
    return dict(section.get("weights") or {})
