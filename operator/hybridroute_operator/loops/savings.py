"""The savings loop: every route's small share and what it saved against all-large,
measured from the router's counters in Prometheus into ``status.savings`` (the ``SMALL
SHARE`` printer column). Without a Prometheus the section says so and holds no numbers."""

from __future__ import annotations

import asyncio

from hybridroute_operator.adaptation.report import rfc3339
from hybridroute_operator.api.spec import HybridRouteSpec
from hybridroute_operator.controls import LoopOutput
from hybridroute_operator.loops.base import LoopConfigError, LoopEnv, LoopInput, prometheus_for
from hybridroute_operator.prom import PrometheusClient, QueryError
from hybridroute_operator.savings import DEFAULT_INTERVAL_SECONDS, queries, section, settings_for


async def _measure(client: PrometheusClient, promql: str) -> float | tuple[str, str]:
    try:
        return (await client.scalar(promql, purpose="savings")).value
    except QueryError as exc:
        return exc.result, f"{exc.result}: {exc.message} (query: {promql})"


class SavingsLoop:
    name = "savings"
    condition_types: tuple[str, ...] = ()

    def __init__(self, default_interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        """``default_interval``: seconds between measurements of a route without
        ``spec.adaptation`` (with it: the adaptation interval)."""
        self.default_interval = default_interval

    def interval_seconds(self, spec: HybridRouteSpec) -> float | None:
        return settings_for(spec, self.default_interval).interval

    async def evaluate(self, inp: LoopInput, env: LoopEnv) -> LoopOutput:
        settings = settings_for(inp.spec, self.default_interval)
        when = rfc3339(inp.now)
        wanted = queries(settings, inp.ref.name, inp.ref.namespace)
        try:
            client = await prometheus_for(settings.prometheus, inp.ref.namespace, env)
        except LoopConfigError as exc:
            problems = dict.fromkeys(wanted, ("config", str(exc)))
            return LoopOutput(section=section({}, problems, settings.window, when))
        results = await asyncio.gather(*(_measure(client, q) for q in wanted.values()))
        values: dict[str, float] = {}
        failed: dict[str, tuple[str, str]] = {}
        for field, result in zip(wanted, results, strict=True):
            if isinstance(result, tuple):
                failed[field] = result
            else:
                values[field] = result
        previous = inp.status.get(self.name)
        return LoopOutput(section=section(values, failed, settings.window, when, previous))
