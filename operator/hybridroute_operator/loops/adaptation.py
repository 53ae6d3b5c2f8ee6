"""The load-adaptation loop: every ``spec.adaptation.interval`` it reads the signals
from Prometheus, asks the control law (``hybridroute_operator.adaptation``) for the
effective threshold and returns it as ``status.adaptation`` (the reconciler renders the
policy from it), the ``LoadAdapted`` condition and an Event per change. An evaluation
that shows what status already shows returns the same output, which costs no reconcile
and no status write (``adaptation.report``)."""

from __future__ import annotations

import asyncio

from hybridroute_operator.adaptation import Query, Reading, Result, signal_queries, step
from hybridroute_operator.adaptation.queries import bounds_for, render_query
from hybridroute_operator.adaptation.report import condition, events, previous_from, section
from hybridroute_operator.api.spec import HybridRouteSpec, duration_seconds
from hybridroute_operator.controls import LoopOutput
from hybridroute_operator.loops.base import LoopConfigError, LoopEnv, LoopInput, prometheus_for
from hybridroute_operator.prom import PrometheusClient, QueryError


async def read(client: PrometheusClient, query: Query, promql: str) -> Reading:
    """One signal's reading; a failed query is a reading without a value, never a zero."""
    try:
        sample = await client.scalar(promql, purpose="adaptation")
    except QueryError as exc:
        return Reading(
            query.signal,
            query.target,
            None,
            None,
            exc.result,
            f"{exc.result}: {exc.message} (query: {promql})",
            promql,
            query.settle,
        )
    return Reading(
        query.signal, query.target, sample.value, sample.time, query=promql, settle=query.settle
    )


class AdaptationLoop:
    name = "adaptation"
    condition_types: tuple[str, ...] = ("LoadAdapted",)

    def interval_seconds(self, spec: HybridRouteSpec) -> float | None:
        if spec.adaptation is None:
            return None
        return duration_seconds(spec.adaptation.interval)

    async def evaluate(self, inp: LoopInput, env: LoopEnv) -> LoopOutput:
        spec, adaptation = inp.spec, inp.spec.adaptation
        if adaptation is None:
            return LoopOutput(section=None)
        bounds = bounds_for(spec, adaptation)
        written = inp.status.get(self.name)
        previous = previous_from(written)
        queries = signal_queries(adaptation)
        ref = inp.ref
        promql = [render_query(spec, q, ref.name, ref.namespace) for q in queries]
        try:
            client = await prometheus_for(adaptation.prometheus, inp.ref.namespace, env)
            readings = list(
                await asyncio.gather(
                    *(read(client, q, p) for q, p in zip(queries, promql, strict=True))
                )
            )
        except LoopConfigError as exc:
            readings = [
                Reading(q.signal, q.target, None, None, "config", str(exc)) for q in queries
            ]
        result = step(readings, previous, bounds, inp.now)
        self._observe(env, inp, result, bounds.baseline, (bounds.min, bounds.max))
        return LoopOutput(
            section=section(result, readings, previous, bounds.baseline, inp.now, written),
            conditions=(condition(result),),
            events=tuple(events(result, readings, previous, bounds.baseline)),
        )

    @staticmethod
    def _observe(
        env: LoopEnv,
        inp: LoopInput,
        result: Result,
        baseline: float,
        limits: tuple[float, float],
    ) -> None:
        labels = {"namespace": inp.ref.namespace, "route": inp.ref.name}
        m = env.metrics
        # as written to status (6 digits): the gauge does not wobble by 1e-7 between
        # evaluations that hold
        m.effective_threshold.labels(**labels).set(round(result.threshold, 6))
        m.baseline_threshold.labels(**labels).set(baseline)
        # at max, or at a min that is not the baseline itself (idle at baseline is no alarm)
        low, high = limits
        at_bound = abs(result.threshold - high) < 1e-9 or (
            low < baseline and abs(result.threshold - low) < 1e-9
        )
        m.threshold_at_bound.labels(**labels).set(1.0 if at_bound else 0.0)
        m.adaptation_data_ok.labels(**labels).set(1.0 if result.data_ok else 0.0)
        budget = inp.spec.adaptation.budget if inp.spec.adaptation else None
        if budget is not None and budget.max_cost_per_hour is not None:
            m.cost_budget.labels(**labels).set(budget.max_cost_per_hour)
