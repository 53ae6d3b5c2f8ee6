"""The canary's analysis: which PromQL to run for a candidate, and how the numbers that
come back become pass / fail / inconclusive (pure).

Built-in checks read the router's metrics (docs/metrics.md) over ``window`` (the time
since the step began). Counters of things that may not have happened yet (errors,
escalations, shadow outcomes) are ``or vector(0)``: no error is a zero. The candidate's
call count is not: no calls is no data, and no data is inconclusive, never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

from hybridroute_operator.api.spec import CanaryChecks, CanarySpec, ShadowAgreementCheck
from hybridroute_operator.canary.rollout import CheckResult

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
ERROR_OUTCOMES = "timeout|connect|closed|protocol|http_error"


@dataclass(frozen=True)
class Failure:
    """A query that gave no number: Prometheus' result (no_data, error...) and message."""

    result: str
    message: str


Reading = float | Failure


@dataclass(frozen=True)
class Target:
    """Whom to analyse: the route, the candidate and stable versions, the window."""

    route: str
    namespace: str
    candidate: str
    stable: str
    window_seconds: int


@dataclass(frozen=True)
class Analysis:
    outcome: str  # pass, fail or inconclusive
    checks: tuple[CheckResult, ...]
    requests: float | None

    def deciding(self) -> list[CheckResult]:
        """The checks that decided a fail (or, when none failed, an inconclusive)."""
        wanted = FAIL if self.outcome == FAIL else INCONCLUSIVE
        return [c for c in self.checks if c.result == wanted and not c.dry_run]


def _matchers(spec: CanarySpec, t: Target, version: str) -> str:
    ns = f',{spec.namespace_label}="{_q(t.namespace)}"' if spec.namespace_label else ""
    return f'route="{_q(t.route)}"{ns},version="{_q(version)}"'


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def queries(spec: CanarySpec, t: Target) -> dict[str, str]:
    """Named instant queries, each giving one number, for the checks ``spec`` enables."""
    w = f"{t.window_seconds}s"
    cand, stable = _matchers(spec, t, t.candidate), _matchers(spec, t, t.stable)
    calls = 'hybridroute_upstream_duration_seconds_count{%s,model="small"}'
    out = {"requests": f"sum(increase({calls % cand}[{w}]))"}
    checks = spec.checks
    if checks.error_rate is not None:
        errors = calls % (cand + f',outcome=~"{ERROR_OUTCOMES}"')
        out["errors"] = f"sum(increase({errors}[{w}])) or vector(0)"
    agreement = checks.shadow_agreement
    if agreement is not None:
        versions = [("", cand)]
        if agreement.min_ratio_to_stable is not None:
            versions.append(("stable_", stable))
        for prefix, m in versions:
            for outcome in ("agree", "disagree"):
                series = f'hybridroute_shadow_comparisons_total{{{m},outcome="{outcome}"}}'
                out[f"{prefix}shadow_{outcome}"] = f"sum(increase({series}[{w}])) or vector(0)"
    if checks.p99_latency is not None:
        for key, m in (("p99", cand), ("stable_p99", stable)):
            bucket = (
                f'hybridroute_upstream_duration_seconds_bucket{{{m},model="small",outcome="ok"}}'
            )
            out[key] = f"histogram_quantile(0.99, sum by (le) (increase({bucket}[{w}])))"
    if checks.escalation_rate is not None:
        out["stable_requests"] = f"sum(increase({calls % stable}[{w}]))"
        for key, m in (("escalations", cand), ("stable_escalations", stable)):
            out[key] = f"sum(increase(hybridroute_escalations_total{{{m}}}[{w}])) or vector(0)"
    if checks.feedback_score is not None:
        for prefix, m in (("", cand), ("stable_", stable)):
            for part in ("sum", "count"):
                series = f"hybridroute_feedback_score_{part}{{{m}}}"
                out[f"{prefix}feedback_{part}"] = f"sum(increase({series}[{w}])) or vector(0)"
    values = {
        "route": t.route,
        "namespace": t.namespace,
        "version": t.candidate,
        "stable": t.stable,
        "window": w,
    }
    for custom in checks.custom:
        out[f"custom:{custom.name}"] = fill_template(custom.query, values)
    return out


def analysis_shadow(
    spec: CanarySpec, candidate: str, stable: str, weight: int, stable_base: float
) -> dict[str, float]:
    """The shadow shares while ``candidate`` has ``weight`` percent of small traffic:
    ``analysisShadowPercent`` for the candidate and, when agreement is judged relative
    to the stable version, enough of the stable's answers (at least ``stable_base``, its
    usual share) for about as many comparisons per window as the candidate gets."""
    if weight <= 0 or spec.analysis_shadow_percent <= 0:
        return {}
    shares = {candidate: spec.analysis_shadow_percent}
    check = spec.checks.shadow_agreement
    if check is not None and check.min_ratio_to_stable is not None and weight < 100:
        matched = spec.analysis_shadow_percent * weight / (100 - weight)
        shares[stable] = round(min(100.0, max(stable_base, matched)), 3)
    return shares


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """``{route}``-style placeholders filled with PromQL-escaped values; PromQL's own
    braces are left alone."""
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", _q(value))
    return out


def _bound(
    name: str, value: Reading, threshold: float | None, op: str, dry_run: bool, note: str = ""
) -> CheckResult:
    if isinstance(value, Failure):
        return CheckResult(name, INCONCLUSIVE, None, threshold, op, dry_run, _failed(value))
    if threshold is None:  # a relative bound whose reference has no number
        return CheckResult(name, INCONCLUSIVE, value, None, op, dry_run, note)
    ok = value >= threshold if op == ">=" else value <= threshold
    return CheckResult(name, PASS if ok else FAIL, value, threshold, op, dry_run, note)


def _failed(failure: Failure) -> str:
    return f"{failure.result}: {failure.message}"[:300]


def _ratio(num: Reading, den: Reading) -> Reading:
    if isinstance(num, Failure):
        return num
    if isinstance(den, Failure):
        return den
    if den <= 0:
        return Failure("no_data", "no calls in the window")
    return num / den


def _comparisons(
    r: Mapping[str, Reading], prefix: str, minimum: int
) -> tuple[float, float] | Failure:
    """(agree share, comparisons) of one version, or why there is no usable share."""
    agree = r.get(f"{prefix}shadow_agree", 0.0)
    disagree = r.get(f"{prefix}shadow_disagree", 0.0)
    if isinstance(agree, Failure):
        return agree
    if isinstance(disagree, Failure):
        return disagree
    total = agree + disagree
    who = "stable's " if prefix else ""
    if total < minimum:
        return Failure("too_few", f"{total:.0f} {who}shadow comparisons, fewer than {minimum}")
    return agree / total, total


def _inconclusive(name: str, failure: Failure, threshold: float | None, dry: bool) -> CheckResult:
    message = failure.message if failure.result == "too_few" else _failed(failure)
    return CheckResult(name, INCONCLUSIVE, None, threshold, ">=", dry, message[:300])


def _agreement(c: CanaryChecks, r: Mapping[str, Reading]) -> list[CheckResult]:
    check = c.shadow_agreement
    if check is None:
        return []
    dry, out = check.dry_run, []
    cand = _comparisons(r, "", check.min_comparisons)
    if check.min is not None:
        if isinstance(cand, Failure):
            out.append(_inconclusive("shadowAgreement", cand, check.min, dry))
        else:
            out.append(_bound("shadowAgreement", cand[0], check.min, ">=", dry))
    if check.min_ratio_to_stable is not None:
        out.append(_agreement_to_stable(check, cand, r))
    return out


def _agreement_to_stable(
    check: ShadowAgreementCheck, cand: tuple[float, float] | Failure, r: Mapping[str, Reading]
) -> CheckResult:
    """The candidate's agreement against ``ratio`` x the stable's over the same window,
    less the one-sided sampling noise of both shares (adjusted Wald standard error of
    the difference at ``confidence``): an identical student fails only by bad luck at that
    confidence, one far below the stable fails on a few dozen comparisons."""
    name, dry, ratio = "shadowAgreementToStable", check.dry_run, check.min_ratio_to_stable
    assert ratio is not None
    stable = _comparisons(r, "stable_", check.min_comparisons)
    if isinstance(cand, Failure):
        return _inconclusive(name, cand, None, dry)
    if isinstance(stable, Failure):
        return _inconclusive(name, stable, None, dry)
    (p, n), (q, m) = cand, stable
    if q <= 0:
        message = (
            f"the stable version agrees on none of {m:.0f} comparisons: the comparator "
            "cannot tell answers apart (policy.shadow.comparator, agreementThreshold)"
        )
        return CheckResult(name, INCONCLUSIVE, p, None, ">=", dry, message)
    noise = _noise(p, n, q, m, ratio, check.confidence)
    limit = ratio * q - noise
    note = f"{ratio:g} x stable {q:.3g} - noise {noise:.2g}; {n:.0f} vs {m:.0f} comparisons"
    return _bound(name, p, limit, ">=", dry, note)


def _latency(c: CanaryChecks, r: Mapping[str, Reading]) -> list[CheckResult]:
    check = c.p99_latency
    if check is None:
        return []
    p99 = r.get("p99", Failure("no_data", "not queried"))
    out = []
    if check.max_seconds is not None:
        out.append(_bound("p99Latency", p99, check.max_seconds, "<=", check.dry_run))
    if check.max_ratio_to_stable is not None:
        stable = r.get("stable_p99", Failure("no_data", "not queried"))
        if isinstance(stable, Failure):
            out.append(_bound("p99LatencyToStable", stable, None, "<=", check.dry_run))
        else:
            limit = stable * check.max_ratio_to_stable
            note = f"{check.max_ratio_to_stable:g} x stable {stable:.4g}"
            out.append(_bound("p99LatencyToStable", p99, limit, "<=", check.dry_run, note))
    return out


def _escalation(c: CanaryChecks, r: Mapping[str, Reading]) -> list[CheckResult]:
    check = c.escalation_rate
    if check is None:
        return []
    missing = Failure("no_data", "not queried")
    rate = _ratio(r.get("escalations", missing), r.get("requests", missing))
    out = []
    if check.max is not None:
        out.append(_bound("escalationRate", rate, check.max, "<=", check.dry_run))
    if check.max_ratio_to_stable is not None:
        out.append(_escalation_to_stable(check.max_ratio_to_stable, check.dry_run, rate, r))
    return out


def _escalation_to_stable(
    ratio: float, dry: bool, rate: Reading, r: Mapping[str, Reading]
) -> CheckResult:
    """The candidate's escalations per call against ``ratio`` x the stable's, plus the
    sampling noise of both rates at 95% (one-sided): a stable version without an
    escalation in a short window does not make one escalation of the candidate a
    failure."""
    name, missing = "escalationRateToStable", Failure("no_data", "not queried")
    stable_calls = r.get("stable_requests", missing)
    stable = _ratio(r.get("stable_escalations", missing), stable_calls)
    calls = r.get("requests", missing)
    if isinstance(stable, Failure) or isinstance(stable_calls, Failure):
        return _bound(
            name, stable if isinstance(stable, Failure) else stable_calls, None, "<=", dry
        )
    if isinstance(rate, Failure) or isinstance(calls, Failure):
        return _bound(name, rate, None, "<=", dry)
    noise = _noise(rate, calls, stable, stable_calls, ratio, 0.95)
    note = f"{ratio:g} x stable {stable:.3g} + noise {noise:.2g}"
    return _bound(name, rate, ratio * stable + noise, "<=", dry, note)


def _noise(p: float, n: float, q: float, m: float, ratio: float, confidence: float) -> float:
    """One-sided sampling noise of ``p - ratio * q`` for shares ``p`` of ``n`` and ``q``
    of ``m`` trials: the standard error times the normal quantile of ``confidence``,
    with one success and one failure added to each side (Agresti and Caffo, 2000). The
    plain Wald error is 0 for a share of 0 or 1: a stable version that agreed on all of
    its 19 comparisons would allow a candidate no noise at all."""
    z = NormalDist().inv_cdf(confidence)
    return z * math.sqrt(_spread(p, n) + ratio * ratio * _spread(q, m))


def _spread(share: float, trials: float) -> float:
    """Variance of a share of ``trials``, adjusted by one success and one failure."""
    adjusted = (min(max(share, 0.0), 1.0) * trials + 1.0) / (trials + 2.0)
    return adjusted * (1.0 - adjusted) / (trials + 2.0)


def _feedback(c: CanaryChecks, r: Mapping[str, Reading]) -> list[CheckResult]:
    check = c.feedback_score
    if check is None:
        return []
    missing = Failure("no_data", "not queried")
    counts = [r.get("feedback_count", missing), r.get("stable_feedback_count", missing)]
    for count in counts:
        if isinstance(count, Failure):
            return [_bound("feedbackScoreToStable", count, None, ">=", check.dry_run)]
        if count < check.min_samples:
            message = f"{count:.0f} feedback scores, fewer than {check.min_samples}"
            return [
                CheckResult(
                    "feedbackScoreToStable", INCONCLUSIVE, None, None, ">=", check.dry_run, message
                )
            ]
    mean = _ratio(r.get("feedback_sum", missing), counts[0])
    stable = _ratio(r.get("stable_feedback_sum", missing), counts[1])
    if isinstance(stable, Failure):
        return [_bound("feedbackScoreToStable", stable, None, ">=", check.dry_run)]
    limit = stable * check.min_ratio_to_stable
    note = f"{check.min_ratio_to_stable:g} x stable {stable:.4g}"
    return [_bound("feedbackScoreToStable", mean, limit, ">=", check.dry_run, note)]


def evaluate(spec: CanarySpec, readings: Mapping[str, Reading]) -> Analysis:
    """The analysis of one interval. Too few candidate calls (``minRequests``) makes the
    whole analysis inconclusive (the checks are still reported); otherwise any failed
    check fails it, else any inconclusive check makes it inconclusive. Dry-run checks
    are reported and never decide."""
    c = spec.checks
    requests = readings.get("requests", Failure("no_data", "not queried"))
    results: list[CheckResult] = []
    if c.error_rate is not None:
        rate = _ratio(readings.get("errors", 0.0), requests)
        results.append(_bound("errorRate", rate, c.error_rate.max, "<=", c.error_rate.dry_run))
    results += _agreement(c, readings)
    results += _latency(c, readings)
    results += _escalation(c, readings)
    results += _feedback(c, readings)
    for custom in c.custom:
        value = readings.get(f"custom:{custom.name}", Failure("no_data", "not queried"))
        if custom.min is not None:
            results.append(_bound(custom.name, value, custom.min, ">=", custom.dry_run))
        if custom.max is not None:
            results.append(_bound(custom.name, value, custom.max, "<=", custom.dry_run))
    count = requests if isinstance(requests, float | int) else None
    gate = _requests_gate(requests, spec.min_requests)
    deciding = [r for r in results if not r.dry_run]
    if gate is not None:
        return Analysis(INCONCLUSIVE, (gate, *results), count)
    if any(r.result == FAIL for r in deciding):
        outcome = FAIL
    elif any(r.result == INCONCLUSIVE for r in deciding):
        outcome = INCONCLUSIVE
    else:
        outcome = PASS
    return Analysis(outcome, tuple(results), count)


def _requests_gate(requests: Reading, minimum: int) -> CheckResult | None:
    """An inconclusive ``requests`` result when there are too few calls, else None."""
    if isinstance(requests, Failure):
        return CheckResult(
            "requests", INCONCLUSIVE, None, float(minimum), ">=", False, _failed(requests)
        )
    if requests < max(1, minimum):
        return CheckResult(
            "requests",
            INCONCLUSIVE,
            requests,
            float(minimum),
            ">=",
            False,
            f"{requests:.0f} calls, fewer than {minimum}",
        )
    return None
