"""The pure parts of the router benchmark (bench/router/wrkstats.py): parsing wrk's result
line and /proc stat lines, medians, rendering. The benchmark itself never runs in pytest."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.unit

_PATH = Path(__file__).resolve().parents[2] / "bench" / "router" / "wrkstats.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_router_wrkstats", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


ws = _load()

WRK_STDOUT = """Running 10s test @ http://127.0.0.1:18081
  1 threads and 10 connections
  Latency Distribution
     50%  274.00us
Requests/sec:  32662.35
WRK_JSON {"requests":20000,"duration_us":10000000,"bytes":34045905,"errors_connect":1,\
"errors_read":2,"errors_write":0,"errors_status":3,"errors_timeout":4,"latency_samples":19997,\
"latency_min_us":82,"latency_mean_us":318.0,"latency_max_us":5985,"p50_us":274,"p90_us":386,"p99_us":2286,\
"p999_us":4732}
"""


def _result(rps: float = 1000.0, p50: int = 100, p99: int = 1000, errors: int = 0) -> Any:
    return ws.WrkResult(
        requests=int(rps * 10),
        duration_us=10_000_000,
        errors_connect=0,
        errors_read=0,
        errors_write=0,
        errors_status=errors,
        errors_timeout=0,
        latency_samples=int(rps * 10),
        latency_mean_us=p50,
        p50_us=p50,
        p90_us=(p50 + p99) // 2,
        p99_us=p99,
    )


def test_parses_throughput_latency_and_errors_from_the_wrk_json_line() -> None:
    result = ws.parse_wrk_output(WRK_STDOUT)
    assert result.requests == 20000
    assert result.requests_per_second == pytest.approx(2000.0)
    assert (result.p50_us, result.p90_us, result.p99_us) == (274, 386, 2286)
    assert result.errors == 10  # connect + read + write + status + timeout


def test_concurrency_applies_littles_law_to_mean_latency_and_throughput() -> None:
    result = ws.parse_wrk_output(WRK_STDOUT)
    # 318 us mean latency at 2,000 requests/s: 0.636 requests in flight on average
    assert result.concurrency == pytest.approx(0.636)


def test_rejects_wrk_output_without_the_result_line() -> None:
    with pytest.raises(ws.WrkOutputError, match="no WRK_JSON"):
        ws.parse_wrk_output("Requests/sec: 100\n")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("WRK_JSON {not json", "unparsable"),
        ('WRK_JSON {"requests": 1}', "lacks"),
        ("WRK_JSON [1, 2]", "not an object"),
    ],
)
def test_rejects_a_malformed_result_line(line: str, message: str) -> None:
    with pytest.raises(ws.WrkOutputError, match=message):
        ws.parse_wrk_output(line)


def test_rejects_a_negative_count() -> None:
    bad = WRK_STDOUT.replace('"errors_read":2', '"errors_read":-2')
    with pytest.raises(ws.WrkOutputError, match="errors_read"):
        ws.parse_wrk_output(bad)


def test_reads_utime_plus_stime_even_when_the_command_name_has_spaces_and_parens() -> None:
    # fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime ...
    line = "4242 (python (bench) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 3"
    assert ws.parse_proc_stat_cpu_ticks(line) == 1234 + 56


def test_rejects_a_truncated_proc_stat_line() -> None:
    with pytest.raises(ValueError, match="too few fields"):
        ws.parse_proc_stat_cpu_ticks("4242 (python) S 1 2 3")


def test_summary_takes_medians_over_runs_and_sums_errors() -> None:
    records = [
        ws.RunRecord("router", 10, i, _result(rps, p50, errors=e), cpu)
        for i, (rps, p50, e, cpu) in enumerate(
            [(1000, 100, 0, 5.0), (3000, 300, 1, 6.0), (2000, 200, 2, 8.0)]
        )
    ]
    [summary] = ws.summarize(records)
    assert summary.requests_per_second == pytest.approx(2000.0)
    assert summary.p50_ms == pytest.approx(0.2)
    assert summary.errors == 3
    assert summary.requests == 60000
    # cpu per request: 5 s / 10k, 6 s / 30k, 8 s / 20k -> 0.5, 0.2, 0.4 ms; median 0.4
    assert summary.cpu_ms_per_request == pytest.approx(0.4)


def test_schedule_rotates_the_arm_order_every_round() -> None:
    order = ws.schedule([1, 100], 3, ["a", "b", "c"])
    assert [arm for c, _, arm in order if c == 1] == list("abcbcacab")
    assert len(order) == 18
    assert [c for c, _, _ in order] == [1] * 9 + [100] * 9


def _summaries(router_rps: float, router_p50: int, router_errors: int = 0) -> list[Any]:
    records: list[Any] = []
    for conns in (1, 100):
        records += [
            ws.RunRecord("direct", conns, 0, _result(20000, 50, 500), 1.0),
            ws.RunRecord(
                "router", conns, 0, _result(router_rps, router_p50, 1500, router_errors), 1.0
            ),
            ws.RunRecord("litellm", conns, 0, _result(100, 10_000, 30_000), 0.8),
        ]
    summaries: list[Any] = ws.summarize(records)
    return summaries


def test_targets_are_met_when_fast_enough_and_error_free() -> None:
    checks = ws.check_targets(_summaries(2500, 300), "direct", "router", "litellm")
    assert [c.ok for c in checks] == [True] * 7
    assert "25.0x" in checks[0].measured


def test_targets_report_each_miss() -> None:
    checks = ws.check_targets(_summaries(1000, 900, 5), "direct", "router", "litellm")
    by_name = {c.name: c.ok for c in checks}
    assert by_name == {
        "peak throughput vs LiteLLM": False,
        "peak requests per SUT CPU-second vs LiteLLM": False,  # 10,000 vs 1,250: 8x
        "peak throughput": False,
        "peak requests per SUT CPU-second": True,  # 10,000 requests on 1 CPU-second
        "added latency at 1 connection, p50": False,
        "added latency at 1 connection, p99": True,
        "errors at 100 connections": False,
    }


def test_targets_say_not_measured_when_the_router_arm_did_not_run() -> None:
    sums = [s for s in _summaries(2500, 300) if s.arm != "router"]
    checks = ws.check_targets(sums, "direct", "router", "litellm")
    assert all(c.ok is None for c in checks)


def test_tables_show_medians_ratios_and_added_latency() -> None:
    sums = _summaries(2500, 300)
    table = ws.render_table(sums, {"direct": "upstream", "router": "ours", "litellm": "theirs"})
    # router: 25,000 requests on 1.0 CPU-second in a 10 s run
    assert (
        "| 100 | ours | 1 | 2,500 | 0.30 | 0.90 | 1.50 | 0.040 | 10% | 25,000 | 0 / 25,000 |"
        in table
    )
    ratios = ws.render_ratios(sums, "direct", "router", "litellm")
    # litellm: 1,000 requests on 0.8 CPU-second -> 1,250 per CPU-second
    assert "| 1 | 25.0x | 20.0x | +0.25 | +1.00 | +9.95 | +29.50 |" in ratios


def test_before_after_shows_new_and_old_with_ratios() -> None:
    records = [
        ws.RunRecord("router", 1, 0, _result(2000, 200, 800), 0.5),  # 20k req: 0.025 ms
        ws.RunRecord("router@abc", 1, 0, _result(1000, 400, 1600), 0.5),  # 10k req: 0.05 ms
    ]
    table = ws.render_before_after(ws.summarize(records), "router", "router@abc")
    assert (
        "| 1 | 0.025 / 0.050 | 0.50x | 2,000 / 1,000 | 2.00x | 0.20 / 0.40 | 0.50x "
        "| 0.80 / 1.60 | 0.50x |" in table
    )


def test_added_latency_per_run_shows_every_run_its_median_and_the_worst() -> None:
    records = []
    for rep, (direct_p99, router_p99) in enumerate([(150, 600), (160, 1260), (140, 560)]):
        records.append(ws.RunRecord("direct", 1, rep, _result(5000, 50, direct_p99), 1.0))
        records.append(ws.RunRecord("router", 1, rep, _result(2000, 300, router_p99), 1.0))
    runs = ws.added_per_run(records, "direct")
    assert [round(r.added_p99_ms, 2) for r in runs] == [0.45, 1.1, 0.42]
    table = ws.render_added_runs(runs, {"direct": "upstream", "router": "ours"})
    assert "| ours | +0.25, +0.25, +0.25 | +0.45, +1.10, +0.42 | +0.45 | **+1.10** |" in table


def test_replace_section_keeps_the_rest_of_the_document() -> None:
    doc = "# Benchmarks\n\nintro\n<!-- b -->\nold\n<!-- e -->\n\n## Other\nkept\n"
    out = ws.replace_section(doc, "<!-- b -->", "<!-- e -->", "new table\n")
    assert out == "# Benchmarks\n\nintro\n<!-- b -->\nnew table\n<!-- e -->\n\n## Other\nkept\n"


def test_replace_section_appends_the_markers_when_absent() -> None:
    out = ws.replace_section("# Benchmarks\n", "<!-- b -->", "<!-- e -->", "t")
    assert out == "# Benchmarks\n\n<!-- b -->\nt\n<!-- e -->\n"


METRICS_BEFORE = """# HELP hybridroute_router_overhead_seconds time the router adds
# TYPE hybridroute_router_overhead_seconds histogram
hybridroute_router_overhead_seconds_bucket{le="0.0001",route="a"} 10.0
hybridroute_router_overhead_seconds_bucket{le="0.00025",route="a"} 10.0
hybridroute_router_overhead_seconds_bucket{le="+Inf",route="a"} 10.0
hybridroute_router_overhead_seconds_count{route="a"} 10.0
hybridroute_request_duration_seconds_bucket{le="0.0001",route="a"} 99.0
"""

METRICS_AFTER = """hybridroute_router_overhead_seconds_bucket{le="0.0001",route="a"} 90.0
hybridroute_router_overhead_seconds_bucket{le="0.00025",route="a"} 108.0
hybridroute_router_overhead_seconds_bucket{le="+Inf",route="a"} 110.0
hybridroute_router_overhead_seconds_bucket{le="0.0001",route="b"} 1.0
hybridroute_router_overhead_seconds_bucket{le="0.00025",route="b"} 1.0
hybridroute_router_overhead_seconds_bucket{le="+Inf",route="b"} 1.0
"""


def test_parses_cumulative_buckets_of_one_histogram_summed_over_labels() -> None:
    buckets = ws.parse_histogram_buckets(METRICS_AFTER, "hybridroute_router_overhead_seconds")
    assert buckets == {0.0001: 91.0, 0.00025: 109.0, float("inf"): 111.0}
    other = ws.parse_histogram_buckets(METRICS_BEFORE, "hybridroute_request_duration_seconds")
    assert other == {0.0001: 99.0}


def test_bucket_quantile_uses_only_observations_between_the_scrapes() -> None:
    name = "hybridroute_router_overhead_seconds"
    before = ws.parse_histogram_buckets(METRICS_BEFORE, name)
    after = ws.parse_histogram_buckets(METRICS_AFTER, name)
    # 101 new observations: 81 <= 0.1 ms, 99 <= 0.25 ms, 2 above
    assert ws.bucket_quantile(before, after, 0.5) == 0.0001
    assert ws.bucket_quantile(before, after, 0.9) == 0.00025
    assert ws.bucket_quantile(before, after, 0.99) == float("inf")
    assert ws.bucket_quantile(after, after, 0.5) is None


def test_own_overhead_table_shows_median_bucket_bounds() -> None:
    runs = {
        1: [(0.0001, 0.00025), (0.0001, 0.0005), (0.00025, 0.00025)],
        100: [(0.001, float("inf")), (None, None)],
    }
    table = ws.render_own_overhead(runs)
    assert "| 1 | <= 0.1 ms | <= 0.25 ms |" in table
    assert "| 100 | <= 1 ms | over the top bucket |" in table
