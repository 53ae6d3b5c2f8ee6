"""Pure parts of the router benchmark: parse wrk's output and /proc stat lines, aggregate
runs by median, and render the Markdown report. No I/O here (run.py does that), so the
parsing is unit-tested in tests/unit/test_bench_wrkstats.py."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

MARKER = "WRK_JSON "


class WrkOutputError(ValueError):
    """wrk printed no result line, or one that does not parse."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, as printed by the done() hook of chat.lua. Latencies in microseconds."""

    requests: int
    duration_us: int
    errors_connect: int
    errors_read: int
    errors_write: int
    errors_status: int
    errors_timeout: int
    latency_samples: int
    latency_mean_us: int
    p50_us: int
    p90_us: int
    p99_us: int

    @property
    def requests_per_second(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us > 0 else 0.0

    @property
    def concurrency(self) -> float:
        """Little's law: mean latency x throughput, the mean number of requests in flight.
        A closed loop cannot exceed its connection count; more means the latencies are
        wrong (as wrk's own histogram is on this machine)."""
        return self.latency_mean_us / 1e6 * self.requests_per_second

    @property
    def errors(self) -> int:
        """Non-2xx/3xx answers plus socket errors (connect, read, write, timeout)."""
        return (
            self.errors_connect
            + self.errors_read
            + self.errors_write
            + self.errors_status
            + self.errors_timeout
        )


_FIELDS = tuple(WrkResult.__dataclass_fields__)


def parse_wrk_output(text: str) -> WrkResult:
    """The WRK_JSON line of a wrk run (the last one if several)."""
    lines = [ln for ln in text.splitlines() if ln.startswith(MARKER)]
    if not lines:
        raise WrkOutputError("no WRK_JSON line in wrk output (was -s chat.lua passed?)")
    try:
        raw = json.loads(lines[-1][len(MARKER) :])
    except json.JSONDecodeError as exc:
        raise WrkOutputError(f"unparsable WRK_JSON line: {exc}") from exc
    if not isinstance(raw, dict):
        raise WrkOutputError("WRK_JSON line is not an object")
    missing = [f for f in _FIELDS if f not in raw]
    if missing:
        raise WrkOutputError(f"WRK_JSON line lacks {', '.join(missing)}")
    values: dict[str, int] = {}
    for name in _FIELDS:
        value = raw[name]
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise WrkOutputError(f"WRK_JSON field {name} is not a non-negative number")
        values[name] = int(value)
    return WrkResult(**values)


def parse_proc_stat_cpu_ticks(stat_line: str) -> int:
    """utime + stime (clock ticks) from a /proc/<pid>/stat line.

    The command name (field 2) is in parentheses and may itself hold spaces or
    parentheses, so fields are counted from the last ')'."""
    end = stat_line.rfind(")")
    if end < 0:
        raise ValueError("not a /proc/<pid>/stat line: no ')'")
    rest = stat_line[end + 1 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    if len(rest) < 13:
        raise ValueError("not a /proc/<pid>/stat line: too few fields")
    return int(rest[11]) + int(rest[12])


@dataclass(frozen=True)
class RunRecord:
    """One measured run of one arm at one connection count."""

    arm: str
    connections: int
    rep: int
    result: WrkResult
    cpu_seconds: float

    @property
    def cpu_ms_per_request(self) -> float:
        n = self.result.requests
        return self.cpu_seconds * 1000.0 / n if n else float("nan")

    @property
    def core_use(self) -> float:
        """Share of one core the SUT used during the run (1.0 = a whole core)."""
        d = self.result.duration_us / 1e6
        return self.cpu_seconds / d if d > 0 else float("nan")

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "arm": self.arm,
            "connections": self.connections,
            "rep": self.rep,
            "cpu_seconds": self.cpu_seconds,
            "requests_per_second": round(self.result.requests_per_second, 1),
            "cpu_ms_per_request": round(self.cpu_ms_per_request, 4),
            "core_use": round(self.core_use, 3),
            "errors": self.result.errors,
        }
        out.update(asdict(self.result))
        return out


@dataclass(frozen=True)
class ArmSummary:
    """Medians over the runs of one arm at one connection count; errors are summed."""

    arm: str
    connections: int
    runs: int
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    core_use: float
    errors: int
    requests: int

    @property
    def requests_per_cpu_second(self) -> float:
        """Throughput one whole core would give at this CPU cost per request: robust to
        other work taking part of the SUT's core on a shared machine."""
        c = self.cpu_ms_per_request
        return 1000.0 / c if c > 0 else float("nan")


def summarize(records: Iterable[RunRecord]) -> list[ArmSummary]:
    """One summary per (connections, arm), in first-seen order."""
    groups: dict[tuple[int, str], list[RunRecord]] = {}
    for rec in records:
        groups.setdefault((rec.connections, rec.arm), []).append(rec)
    out = []
    for (conns, arm), recs in groups.items():
        out.append(
            ArmSummary(
                arm=arm,
                connections=conns,
                runs=len(recs),
                requests_per_second=statistics.median(r.result.requests_per_second for r in recs),
                p50_ms=statistics.median(r.result.p50_us for r in recs) / 1000.0,
                p90_ms=statistics.median(r.result.p90_us for r in recs) / 1000.0,
                p99_ms=statistics.median(r.result.p99_us for r in recs) / 1000.0,
                cpu_ms_per_request=statistics.median(r.cpu_ms_per_request for r in recs),
                core_use=statistics.median(r.core_use for r in recs),
                errors=sum(r.result.errors for r in recs),
                requests=sum(r.result.requests for r in recs),
            )
        )
    return out


def _find(summaries: Sequence[ArmSummary], conns: int, arm: str) -> ArmSummary | None:
    return next((s for s in summaries if s.connections == conns and s.arm == arm), None)


def render_table(summaries: Sequence[ArmSummary], labels: dict[str, str]) -> str:
    """The per-run-medians table: one row per connection count and arm."""
    head = (
        "| connections | system under test | runs | req/s (median) | p50 ms | p90 ms | p99 ms "
        "| SUT CPU ms/req | SUT core use | req per SUT CPU-second | errors / requests |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    order = {arm: i for i, arm in enumerate(labels)}
    rows = [
        f"| {s.connections} | {labels.get(s.arm, s.arm)} | {s.runs} | "
        f"{s.requests_per_second:,.0f} | {s.p50_ms:.2f} | {s.p90_ms:.2f} | {s.p99_ms:.2f} | "
        f"{s.cpu_ms_per_request:.3f} | {s.core_use:.0%} | {s.requests_per_cpu_second:,.0f} | "
        f"{s.errors} / {s.requests:,} |\n"
        for s in sorted(summaries, key=lambda s: (s.connections, order.get(s.arm, len(order))))
    ]
    return head + "".join(rows)


def _ratio(o: float, t: float) -> str:
    return f"{o / t:.1f}x" if t > 0 else "-"


def render_ratios(summaries: Sequence[ArmSummary], direct: str, ours: str, theirs: str) -> str:
    """Throughput ratios ours/theirs (as measured, and per CPU-second of the SUT) and
    latency added over the direct arm, per connection count; a dash where an arm did not
    run."""
    head = (
        "| connections | router / LiteLLM req/s | router / LiteLLM req per CPU-s "
        "| router added p50 ms | router added p99 ms "
        "| LiteLLM added p50 ms | LiteLLM added p99 ms |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for conns in sorted({s.connections for s in summaries}):
        d, o, t = (_find(summaries, conns, a) for a in (direct, ours, theirs))
        rps = per_cpu = "-"
        if o is not None and t is not None:
            rps = _ratio(o.requests_per_second, t.requests_per_second)
            per_cpu = _ratio(o.requests_per_cpu_second, t.requests_per_cpu_second)

        def added(s: ArmSummary | None, attr: str, d: ArmSummary | None = d) -> str:
            if s is None or d is None:
                return "-"
            return f"{getattr(s, attr) - getattr(d, attr):+.2f}"

        rows.append(
            f"| {conns} | {rps} | {per_cpu} | {added(o, 'p50_ms')} | {added(o, 'p99_ms')} | "
            f"{added(t, 'p50_ms')} | {added(t, 'p99_ms')} |\n"
        )
    return head + "".join(rows)


def replace_section(document: str, begin: str, end: str, body: str) -> str:
    """Put body between the begin and end marker lines of document (appending both markers
    at the end when absent); everything outside the markers is kept as is."""
    block = f"{begin}\n{body.rstrip()}\n{end}"
    start = document.find(begin)
    if start < 0:
        sep = (
            ""
            if not document or document.endswith("\n\n")
            else ("\n" if document.endswith("\n") else "\n\n")
        )
        return f"{document}{sep}{block}\n"
    stop = document.find(end, start)
    if stop < 0:
        raise ValueError(f"found {begin!r} without {end!r}")
    return document[:start] + block + document[stop + len(end) :]


def schedule(
    connections: Sequence[int], reps: int, arms: Sequence[str]
) -> list[tuple[int, int, str]]:
    """(connections, rep, arm) in run order: for each connection count, reps rounds of all
    arms, the arm order rotated each round (ABC, BCA, CAB...) so that no arm always runs
    first or last after a pause."""
    out: list[tuple[int, int, str]] = []
    for conns in connections:
        for rep in range(reps):
            k = rep % len(arms) if arms else 0
            out.extend((conns, rep, arm) for arm in [*arms[k:], *arms[:k]])
    return out


@dataclass(frozen=True)
class TargetCheck:
    name: str
    measured: str
    target: str
    ok: bool | None  # None: an arm it needs did not run


def check_targets(
    summaries: Sequence[ArmSummary], direct: str, ours: str, theirs: str
) -> list[TargetCheck]:
    """The issue's targets: peak throughput >= 15x LiteLLM's (and about 2,000 req/s),
    latency added at one connection <= 0.5 ms p50 and <= 2 ms p99, no error at 100
    connections."""

    def peak(arm: str, per_cpu: bool = False) -> float | None:
        values = [
            s.requests_per_cpu_second if per_cpu else s.requests_per_second
            for s in summaries
            if s.arm == arm
        ]
        return max(values) if values else None

    checks = []
    for per_cpu, name, unit in (
        (False, "peak throughput vs LiteLLM", "req/s"),
        (True, "peak requests per SUT CPU-second vs LiteLLM", "req/CPU-s"),
    ):
        o, t = peak(ours, per_cpu), peak(theirs, per_cpu)
        if o is not None and t:
            measured = f"{o:,.0f} vs {t:,.0f} {unit} = {o / t:.1f}x"
            checks.append(TargetCheck(name, measured, ">= 15x", o / t >= 15))
        else:
            checks.append(TargetCheck(name, "-", ">= 15x", None))
    for per_cpu, name, unit in (
        (False, "peak throughput", "req/s"),
        (True, "peak requests per SUT CPU-second", "req/CPU-s"),
    ):
        o = peak(ours, per_cpu)
        measured = f"{o:,.0f} {unit}" if o is not None else "-"
        checks.append(
            TargetCheck(name, measured, f">= 2,000 {unit}", None if o is None else o >= 2000)
        )
    o1, d1 = _find(summaries, 1, ours), _find(summaries, 1, direct)
    for attr, limit in (("p50_ms", 0.5), ("p99_ms", 2.0)):
        if o1 and d1:
            added = getattr(o1, attr) - getattr(d1, attr)
            checks.append(
                TargetCheck(
                    f"added latency at 1 connection, {attr[:3]}",
                    f"{added:+.2f} ms",
                    f"<= {limit} ms",
                    added <= limit,
                )
            )
        else:
            checks.append(
                TargetCheck(
                    f"added latency at 1 connection, {attr[:3]}", "-", f"<= {limit} ms", None
                )
            )
    o100 = _find(summaries, 100, ours)
    checks.append(
        TargetCheck(
            "errors at 100 connections",
            f"{o100.errors} of {o100.requests:,}" if o100 else "-",
            "0",
            None if o100 is None else o100.errors == 0,
        )
    )
    return checks


def render_checks(checks: Sequence[TargetCheck]) -> str:
    mark = {True: "met", False: "**missed**", None: "not measured"}
    head = "| target | measured | goal | result |\n|---|---|---|---|\n"
    return head + "".join(
        f"| {c.name} | {c.measured} | {c.target} | {mark[c.ok]} |\n" for c in checks
    )


def parse_histogram_buckets(exposition: str, metric: str) -> dict[float, float]:
    """Cumulative bucket counts {upper bound: count} of one Prometheus histogram in a
    text exposition, summed over its label sets."""
    prefix = f"{metric}_bucket{{"
    out: dict[float, float] = {}
    for line in exposition.splitlines():
        if not line.startswith(prefix):
            continue
        labels, _, value = line[len(prefix) :].rpartition("} ")
        le = next((p[4:-1] for p in labels.split(",") if p.startswith('le="')), None)
        if le is None:
            continue
        bound = float("inf") if le == "+Inf" else float(le)
        out[bound] = out.get(bound, 0.0) + float(value.split()[0])
    return out


def bucket_quantile(
    before: dict[float, float], after: dict[float, float], q: float
) -> float | None:
    """The upper bound of the bucket holding quantile q of the observations made between
    two scrapes (None when there were none): 'q of them took at most this long'."""
    bounds = sorted(after)
    delta = [after[b] - before.get(b, 0.0) for b in bounds]
    if not delta or delta[-1] <= 0:
        return None
    target = q * delta[-1]
    return next(b for b, n in zip(bounds, delta, strict=True) if n >= target)


def _bound_ms(seconds: float) -> str:
    return "over the top bucket" if seconds == float("inf") else f"<= {seconds * 1000:g} ms"


def render_own_overhead(runs: dict[int, list[tuple[float | None, float | None]]]) -> str:
    """The router's self-measured overhead per connection count: medians over runs of the
    bucket upper bounds holding p50 and p99 of each run's observations."""
    head = "| connections | router overhead p50 | router overhead p99 |\n|---:|---|---|\n"
    rows = []
    for conns in sorted(runs):
        cells = []
        for i in (0, 1):
            values = [v for r in runs[conns] if (v := r[i]) is not None]
            cells.append(_bound_ms(statistics.median_low(values)) if values else "-")
        rows.append(f"| {conns} | {cells[0]} | {cells[1]} |\n")
    return head + "".join(rows)


def render_before_after(summaries: Sequence[ArmSummary], new: str, old: str) -> str:
    """The current router beside a baseline router measured in the same run: CPU ms per
    request, req/s, p50 and p99 (medians over runs) and the ratios new/old, per
    connection count. Below 1.0x is better for CPU and latency, above for req/s."""
    head = (
        "| connections | CPU ms/req new / old | ratio | req/s new / old | ratio "
        "| p50 ms new / old | ratio | p99 ms new / old | ratio |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for conns in sorted({s.connections for s in summaries}):
        n, o = _find(summaries, conns, new), _find(summaries, conns, old)
        if n is None or o is None:
            continue

        def pair(attr: str, fmt: str, n: ArmSummary = n, o: ArmSummary = o) -> str:
            a, b = getattr(n, attr), getattr(o, attr)
            ratio = f"{a / b:.2f}x" if b > 0 else "-"
            return f"{a:{fmt}} / {b:{fmt}} | {ratio}"

        rows.append(
            f"| {conns} | {pair('cpu_ms_per_request', '.3f')} | "
            f"{pair('requests_per_second', ',.0f')} | {pair('p50_ms', '.2f')} | "
            f"{pair('p99_ms', '.2f')} |\n"
        )
    return head + "".join(rows)


@dataclass(frozen=True)
class AddedRun:
    """One round's latency added by an arm over the direct arm of the same round."""

    arm: str
    connections: int
    rep: int
    added_p50_ms: float
    added_p99_ms: float


def added_per_run(records: Iterable[RunRecord], direct: str) -> list[AddedRun]:
    """Per round (same connection count and rep): each arm's p50/p99 minus the direct
    arm's, so the worst run is visible next to the median."""
    recs = list(records)
    base = {(r.connections, r.rep): r for r in recs if r.arm == direct}
    out = []
    for r in recs:
        d = base.get((r.connections, r.rep))
        if r.arm == direct or d is None:
            continue
        out.append(
            AddedRun(
                r.arm,
                r.connections,
                r.rep,
                (r.result.p50_us - d.result.p50_us) / 1000.0,
                (r.result.p99_us - d.result.p99_us) / 1000.0,
            )
        )
    return out


def render_added_runs(runs: Sequence[AddedRun], labels: dict[str, str], conns: int = 1) -> str:
    """Added p50/p99 of every run at one connection count: each run, the median and the
    worst (largest) of them per arm."""
    head = (
        "| system under test | added p50 ms per run | added p99 ms per run "
        "| added p99 median | added p99 worst |\n|---|---|---|---:|---:|\n"
    )
    rows = []
    order = {arm: i for i, arm in enumerate(labels)}
    arms = sorted({r.arm for r in runs if r.connections == conns}, key=lambda a: order.get(a, 99))
    for arm in arms:
        mine = sorted((r for r in runs if r.arm == arm and r.connections == conns),
                      key=lambda r: r.rep)  # fmt: skip
        p50s = ", ".join(f"{r.added_p50_ms:+.2f}" for r in mine)
        p99 = [r.added_p99_ms for r in mine]
        rows.append(
            f"| {labels.get(arm, arm)} | {p50s} | {', '.join(f'{v:+.2f}' for v in p99)} | "
            f"{statistics.median(p99):+.2f} | **{max(p99):+.2f}** |\n"
        )
    return head + "".join(rows)
