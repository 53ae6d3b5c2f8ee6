"""How often the shadow comparators judge real answer pairs as their recorded choices say.

For each small/large pair of the shared MMLU-Pro data (``routing-train/mmlu-pro``), the
two models' real answers to the same question (MMLU-Pro's ``eval_results`` zips, commit
f418b11, the source of the shared data) are compared at ``agreementThreshold`` 0.6 by
``token-overlap`` and ``final-answer``; a pair counts where MMLU-Pro's own extractor finds
a choice in both texts, and a comparator is right when it agrees exactly when the two
choices are equal. Not a timing: no CPU pinning needed.

    git clone https://github.com/TIGER-AI-Lab/MMLU-Pro /tmp/mmlu-pro   # or any checkout
    .venv/bin/python bench/shadow_comparators.py /tmp/mmlu-pro/eval_results
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

from hybridroute_router.decision.compare import Comparator, FinalAnswerMatch, TokenOverlap

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = ROOT.parent / "shared" / "data" / "routing-train" / "mmlu-pro" / "outcomes.jsonl"
PAIRS = [
    ("Meta-Llama-3_1-8B-Instruct", "Meta-Llama-3_1-70B-Instruct"),
    ("Qwen1.5-7B-Chat", "Qwen1.5-72B-Chat"),
    ("Mistral-7B-Instruct-v0.2", "Mixtral-8x7B-Instruct-v0.1"),
    ("Phi-3-mini-4k-instruct", "Meta-Llama-3_1-70B-Instruct"),
]
ANSWER_IS = re.compile(r"answer is \(?([A-J])\)?(?!\w)")
ANSWER_COLON = re.compile(r"[aA]nswer:\s*([A-J])(?!\w)")


def choice(text: str) -> str | None:
    """MMLU-Pro's extractor (its first two patterns, a word boundary after the letter):
    the first ``answer is (X)``, else what ``.*[aA]nswer:\\s*([A-J])`` finds, the last
    ``Answer: X`` on the first line holding one (found without its quadratic ``.*``)."""
    found = ANSWER_IS.search(text)
    if found is not None:
        return found.group(1)
    colons = list(ANSWER_COLON.finditer(text))
    if not colons:
        return None
    line_end = text.find("\n", colons[0].start())
    line_end = len(text) if line_end < 0 else line_end
    return [m for m in colons if m.start() < line_end][-1].group(1)


def answers(folder: Path, model: str, ids: set[int]) -> dict[int, str]:
    with zipfile.ZipFile(folder / f"model_outputs_{model}_5shots.zip") as archive:
        rows: list[dict[str, Any]] = json.loads(archive.read(archive.namelist()[0]))
    return {r["question_id"]: r["generated_text"] for r in rows if r["question_id"] in ids}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_results", type=Path, help="MMLU-Pro's eval_results folder")
    parser.add_argument("--outcomes", type=Path, default=OUTCOMES)
    args = parser.parse_args(argv)
    lines = args.outcomes.read_text(encoding="utf-8").splitlines()
    ids = {json.loads(line)["id"] for line in lines if line.strip()}
    comparators: dict[str, Comparator] = {
        "token-overlap": TokenOverlap(),
        "final-answer": FinalAnswerMatch(),
    }
    total = dict.fromkeys(["pairs", "same", *comparators], 0)
    for small, large in PAIRS:
        s_texts, l_texts = (
            answers(args.eval_results, small, ids),
            answers(args.eval_results, large, ids),
        )
        counts = dict.fromkeys(total, 0)
        for q in sorted(set(s_texts) & set(l_texts)):
            a, b = s_texts[q], l_texts[q]
            ca, cb = choice(a), choice(b)
            if ca is None or cb is None:
                continue
            counts["pairs"] += 1
            counts["same"] += ca == cb
            for name, comparator in comparators.items():
                counts[name] += (comparator.similarity(a, b) >= 0.6) == (ca == cb)
        print(f"{small} / {large}: {counts}")
        for key in total:
            total[key] += counts[key]
    n = total["pairs"]
    print(f"all: {n} pairs, recorded choices equal on {total['same']}")
    for name in comparators:
        print(f"  {name}: right on {total[name]} ({total[name] / n:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
