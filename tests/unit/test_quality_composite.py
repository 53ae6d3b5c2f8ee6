"""The composite policy (pre-route + confidence cascade) against the pure cascade.

No shared data carries the small model's logprobs, so these rows are synthetic: the
prompts, labels and logprobs are written here, and the test controls how informative
the pre-router (here prompt length, `token-length`) is about the cascade's escalations.
"""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from hybridroute_quality import preroute as pr
from hybridroute_quality.cli import main
from hybridroute_quality.evaluate import latency_saved

pytestmark = pytest.mark.unit


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _logprob(rng: np.random.Generator, right: bool) -> float:
    """Confident (above the default minMeanLogprob -0.4) when right, not when wrong."""
    return float(-0.05 - 0.1 * rng.random() if right else -0.6 - rng.random())


def _informative(n: int, seed: int) -> list[dict[str, object]]:
    """A third hard (long prompts; the small model always fails, and the cascade always
    escalates), a third easy (short; always right), a third ambiguous (medium; the small
    model fails half of them)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            prompt = f"Derive and prove the bound for case {i}, step by step, " + "x" * 200
            small = 0
        elif kind == 1:
            prompt, small = f"Say hello to friend {i}.", 1
        else:
            prompt = f"Name the item with code {i} in the list, please: " + "y" * 40
            small = int(rng.random() < 0.5)
        lp = _logprob(rng, bool(small))
        rows.append({"prompt": prompt, "small": small, "large": 1, "small_logprob": lp})
    return rows


def _uninformative(n: int, seed: int) -> list[dict[str, object]]:
    """Prompt lengths drawn independently of the outcome (right 60% of the time)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for _ in range(n):
        small = int(rng.random() < 0.6)
        prompt = "z" * int(rng.integers(10, 400))
        lp = _logprob(rng, bool(small))
        rows.append({"prompt": prompt, "small": small, "large": 1, "small_logprob": lp})
    return rows


def _eval(tmp_path: Path, rows: list[dict[str, object]], *extra: str) -> dict[str, dict]:  # type: ignore[type-arg]
    data = _jsonl(tmp_path / "test.jsonl", rows)
    out = tmp_path / "eval.json"
    args = ["eval", str(data), "--scorer", "token-length", "--composite-scorer", "token-length"]
    assert main([*args, "--json", str(out), "--no-progress", *extra]) == 0
    scorers: dict[str, dict] = json.loads(out.read_text())["scorers"]  # type: ignore[type-arg]
    return scorers


def test_an_informative_pre_router_saves_small_calls_without_losing_to_the_cascade(
    tmp_path: Path,
) -> None:
    scorers = _eval(tmp_path, _informative(600, seed=1), "--small-latency-ms", "400")
    composite, cascade = scorers["composite:token-length"], scorers["cascade"]
    pre = composite["preroute"]
    assert pre["threshold"] == pytest.approx(0.9)
    assert pre["minMeanLogprob"] == pytest.approx(-0.4)
    # the hard third (all escalated by the cascade) is pre-routed: no small call for those
    assert pre["preroutedShare"] == pytest.approx(1 / 3, abs=0.05)
    assert pre["smallCallsSaved"] == round(pre["preroutedShare"] * 600)
    assert pre["preroutedEscalatedShare"] >= 0.9
    # every pre-routed query would have been escalated: each skips a 400 ms small call
    assert pre["preroutedKeptShareOfAll"] == 0.0
    assert pre["latencySavedMsPerQuery"] == pytest.approx(400 * pre["preroutedShare"])
    assert composite["apgr"] >= cascade["apgr"] - 0.01
    # at the shipped confidence threshold: the same answers (quality), fewer small calls
    at = pre["atMinMeanLogprob"]
    assert at["composite"]["quality"] >= at["cascade"]["quality"] - 0.01
    assert at["composite"]["largeShare"] <= at["cascade"]["largeShare"] + 0.01
    # lower cost thresholds pre-route more
    frontier = pre["frontier"]
    assert [p["threshold"] for p in frontier] == [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    shares = [p["preroutedShare"] for p in frontier]
    assert shares == sorted(shares, reverse=True)


def test_an_uninformative_pre_router_is_exactly_the_pure_cascade(tmp_path: Path) -> None:
    prices = ["--small-input-price", "0.0001", "--large-input-price", "0.001"]
    scorers = _eval(tmp_path, _uninformative(600, seed=2), *prices)
    composite, cascade = scorers["composite:token-length"], scorers["cascade"]
    pre = composite["preroute"]
    assert pre["threshold"] == pytest.approx(0.9)
    assert pre["preroutedShare"] == 0.0
    assert pre["smallCallsSaved"] == 0
    assert pre["atMinMeanLogprob"]["composite"] == pre["atMinMeanLogprob"]["cascade"]
    assert composite["apgr"] == cascade["apgr"]
    # same quality, cost and confidence threshold at every large share below all-large
    # (where the cascade escalates nearly everything, skipping small calls pays)
    assert composite["operatingPoints"][:-1] == cascade["operatingPoints"][:-1]


def test_latency_saved_counts_the_kept_queries_wait_for_the_large_model() -> None:
    pre = {"preroutedShare": 0.3, "preroutedKeptShareOfAll": 0.05}
    # 25% skip a 400 ms small call; 5% would have been answered by the small model
    assert latency_saved(pre, 400.0, None) == pytest.approx(100.0)
    assert latency_saved(pre, 400.0, 1400.0) == pytest.approx(100.0 - 0.05 * 1000.0)


def test_prices_set_the_cost_threshold(tmp_path: Path) -> None:
    prices = ["--small-input-price", "0.001", "--large-input-price", "0.004"]
    prices += ["--small-output-price", "0.001", "--large-output-price", "0.004"]
    scorers = _eval(tmp_path, _informative(90, seed=1), *prices)
    # small calls cost a quarter of large ones: skipping one pays from P(escalate) = 0.75
    assert scorers["composite:token-length"]["preroute"]["threshold"] == pytest.approx(0.75)


LevelsOf = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def _own_answer_decides(levels_of: LevelsOf, scores: np.ndarray, levels: np.ndarray) -> int:
    """How many rows' pre-routing (at minMeanLogprob -0.4) flips with their own answer."""
    flips = 0
    for i in np.flatnonzero(scores > 0.5):
        escalated, confident = levels.copy(), levels.copy()
        escalated[i], confident[i] = -1.0, -0.1
        pre = [levels_of(scores, lv, 0.9)[i] < -0.4 for lv in (escalated, confident)]
        flips += pre[0] != pre[1]
    return flips


def test_no_row_decides_its_own_pre_routing() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random(400)
    # above 0.5 the cascade escalates 95% of queries: bins on the edge of clearing 0.9
    levels = np.where(rng.random(400) < np.where(scores > 0.5, 0.95, 0.2), -1.0, -0.1)
    assert _own_answer_decides(pr.crossfit_levels, scores, levels) == 0

    # the same rule fitted on all rows, each row's own answer included, is swayed
    def in_sample(s: np.ndarray, lv: np.ndarray, c: float) -> np.ndarray:
        return pr.fit(s, lv, c).levels(s)

    assert _own_answer_decides(in_sample, scores, levels) >= 1


def test_a_single_extreme_row_follows_its_neighbours_not_itself() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random(400)
    scores[7] = 10.0  # far above the others: the top bin of the other folds' rule
    calm = np.full(400, -0.1)  # nobody escalates at -0.4
    alone = pr.crossfit_levels(scores, calm, 0.9)[7]
    calm[7] = -50.0  # but this one would
    assert pr.crossfit_levels(scores, calm, 0.9)[7] == alone
    assert alone >= -0.4  # not pre-routed at the shipped minMeanLogprob


def test_a_row_without_logprob_is_a_clear_error_for_the_composite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _informative(30, seed=1)
    del rows[4]["small_logprob"]
    data = _jsonl(tmp_path / "test.jsonl", rows)
    assert main(["eval", str(data), "--composite-scorer", "token-length", "--no-progress"]) == 2
    assert "1 of 30 rows have no small_logprob" in capsys.readouterr().err


def _decision(score: float, escalated: bool | None, threshold: float = 0.5) -> dict[str, object]:
    """A decision-log line as the router writes it (docs/router.md, "Decision log")."""
    above = escalated is None
    reason = "complexity_above_threshold" if above else "complexity_below_threshold"
    record: dict[str, object] = {
        "request_id": f"r{score}",
        "model": "large" if above or escalated else "small",
        "reason": "low_confidence_escalation" if escalated else reason,
        "decision": {
            "target": "large" if above else "small",
            "reason": reason,
            "score": score,
            "threshold": threshold,
            "cascade": not above,
        },
        "prompt_tokens": 100,
        "completion_tokens": 50,
    }
    if not above:
        record["small_mean_logprob"] = -0.9 if escalated else -0.1
    return record


def _calibrate(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["calibrate", "--decision-log", str(path), "--preroute", *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_decision_log_gives_the_threshold_from_which_pre_routing_pays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    # cascaded below the threshold in force (0.5): from 0.3 up the cascade always escalates
    records = [_decision(s, bool(s >= 0.3 or rng.random() < 0.2)) for s in rng.random(800) / 2]
    records += [_decision(0.5 + s / 2, None) for s in rng.random(100)]  # pre-routed already
    log = _jsonl(tmp_path / "decisions.jsonl", records)
    code, out = _calibrate(log, capsys)
    assert code == 0
    threshold = yaml.safe_load(out)["policy"]["complexity"]["threshold"]
    assert 0.3 <= threshold <= 0.35
    # a small call at half the large one's price: pre-routing pays from P(escalate) 0.5
    prices = ["--small-input-price", "0.001", "--large-input-price", "0.002"]
    prices += ["--small-output-price", "0.001", "--large-output-price", "0.002"]
    code, out = _calibrate(log, capsys, *prices)
    assert ">= 0.500" in out
    assert yaml.safe_load(out)["policy"]["complexity"]["threshold"] < threshold


def test_a_log_where_nothing_escalates_more_keeps_the_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(5)
    records = [_decision(s, bool(rng.random() < 0.5), 0.7) for s in rng.random(600) * 0.7]
    code, out = _calibrate(_jsonl(tmp_path / "d.jsonl", records), capsys)
    assert code == 0
    assert "pre-routing more would not pay" in out
    assert yaml.safe_load(out)["policy"]["complexity"]["threshold"] == 0.7


def test_a_log_without_cascaded_requests_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    code, out = _calibrate(empty, capsys)
    assert code == 2
    assert "no cascaded request with a logged small_mean_logprob" in out
    only_large = _jsonl(tmp_path / "large.jsonl", [_decision(0.9, None)])
    assert _calibrate(only_large, capsys)[0] == 2


def test_preroute_without_a_decision_log_is_a_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["calibrate", "--preroute"]) == 2
    assert "--preroute needs --decision-log" in capsys.readouterr().err
