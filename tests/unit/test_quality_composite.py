"""The composite policy (pre-route + confidence cascade) against the pure cascade.

No shared data carries the small model's logprobs, so these rows are synthetic: the
prompts, labels and logprobs are written here, and the test controls how informative
the pre-router and the logprobs are.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from hybridroute_quality.cli import main

pytestmark = pytest.mark.unit


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(n: int, seed: int) -> list[dict[str, object]]:
    """A third hard (the small model always fails, the text says so), a third easy, a
    third ambiguous (the text does not tell; the small model fails half of them). The
    logprob tells right from wrong answers, with noise."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            prompt = (
                f"Derive and prove the bound for case {i}, step by step, then compute "
                "the integral of x^2 e^{-x} and explain why each step holds."
            )
            small = 0
        elif kind == 1:
            prompt = f"Say hello to friend number {i}."
            small = 1
        else:
            prompt = f"Name the item with code {i} in the list."
            small = int(rng.random() < 0.5)
        logprob = -0.05 - 0.1 * rng.random() if small else -0.6 - rng.random()
        rows.append({"prompt": prompt, "small": small, "large": 1, "small_logprob": logprob})
    return rows


def _eval(tmp_path: Path, scorer: str, *extra: str) -> dict[str, dict[str, object]]:
    data = _jsonl(tmp_path / "test.jsonl", _rows(90, seed=1))
    out = tmp_path / "eval.json"
    args = ["eval", str(data), "--scorer", scorer, "--composite-scorer", scorer]
    assert main([*args, "--json", str(out), "--no-progress", *extra]) == 0
    scorers: dict[str, dict[str, object]] = json.loads(out.read_text())["scorers"]
    return scorers


def test_a_confident_pre_router_saves_small_calls_without_losing_to_the_cascade(
    tmp_path: Path,
) -> None:
    train = _jsonl(tmp_path / "train.jsonl", _rows(150, seed=0))
    art = tmp_path / "scorer"
    assert main(["train", str(train), "--out", str(art), "--no-progress"]) == 0
    scorers = _eval(tmp_path, f"{art}.json", "--small-latency-ms", "400")
    composite = scorers[f"composite:{art}.json"]
    cascade = scorers["cascade"]
    pre = composite["preroute"]
    assert isinstance(pre, dict)
    # the hard third is pre-routed: no small call for those
    assert pre["threshold"] == pytest.approx(0.9)
    assert pre["preroutedShare"] == pytest.approx(1 / 3, abs=0.05)
    assert pre["smallCallsSaved"] >= 25
    assert pre["latencySavedMsPerQuery"] == pytest.approx(400 * pre["preroutedShare"])
    assert composite["apgr"] >= cascade["apgr"] - 0.01  # type: ignore[operator]
    frontier = pre["frontier"]
    assert [p["threshold"] for p in frontier] == [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    shares = [p["preroutedShare"] for p in frontier]
    assert shares == sorted(shares, reverse=True)


def test_a_weak_pre_router_degrades_to_the_pure_cascade(tmp_path: Path) -> None:
    # the shipped default never reaches P(small fails) = 0.9 on these prompts
    scorers = _eval(tmp_path, "default")
    composite = scorers["composite:default"]
    pre = composite["preroute"]
    assert isinstance(pre, dict)
    assert pre["preroutedShare"] == 0.0
    assert pre["smallCallsSaved"] == 0
    assert composite["apgr"] == pytest.approx(scorers["cascade"]["apgr"])  # type: ignore[arg-type]


def test_prices_set_the_expected_cost_threshold(tmp_path: Path) -> None:
    prices = ["--small-input-price", "0.001", "--large-input-price", "0.004"]
    prices += ["--small-output-price", "0.001", "--large-output-price", "0.004"]
    scorers = _eval(tmp_path, "default", *prices)
    pre = scorers["composite:default"]["preroute"]
    assert isinstance(pre, dict)
    # small calls cost a quarter of large ones: skipping one pays from P(fail) = 0.75
    assert pre["threshold"] == pytest.approx(0.75)
