"""``hybridroute``: evaluate, calibrate and train routing scorers offline.

    hybridroute eval DATA... [--scorer NAME]... [--json OUT] [--plot OUT.png]
    hybridroute calibrate DATA... --target-large-share 0.3 | --target-quality 0.95
    hybridroute calibrate --decision-log D.jsonl [--feedback-log F.jsonl] --target-...
    hybridroute calibrate --decision-log D.jsonl --preroute [--policy P.yaml]
    hybridroute train DATA... [--feedback-log F.jsonl] --out PATH
    hybridroute cv DATA... [--folds 5] [--json OUT]

DATA is RouteLLM CSV files, JSONL files, or folders of them. Exit codes: 0 done, 2 bad
input (with ``--strict``, any malformed row).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hybridroute_quality import calibrate as cal
from hybridroute_quality import datasets, logs
from hybridroute_quality import metrics as mx
from hybridroute_quality.datasets import DataError, Dataset, RowError
from hybridroute_quality.evaluate import CostModel, composite_lines, evaluate, report
from hybridroute_quality.linear import DEFAULT_EPOCHS, DEFAULT_L2, FitOptions
from hybridroute_quality.mlp import DEFAULT_HIDDEN
from hybridroute_quality.scoring import DEFAULT_SCORERS, resolve
from hybridroute_quality.train import TrainOptions

MAX_ERRORS_SHOWN = 20


class UsageError(Exception):
    """Bad input: reported on stderr, exit code 2."""


def _report_errors(errors: Sequence[RowError]) -> None:
    for err in errors[:MAX_ERRORS_SHOWN]:
        print(f"skipped {err}", file=sys.stderr)
    if len(errors) > MAX_ERRORS_SHOWN:
        print(f"... and {len(errors) - MAX_ERRORS_SHOWN} more malformed rows", file=sys.stderr)


def _load(paths: Sequence[str], strict: bool) -> Dataset:
    data = datasets.load(paths, strict=strict)
    _report_errors(data.errors)
    if not data.rows:
        raise UsageError("no usable rows in the input")
    return data


def _min_mean_logprob(args: argparse.Namespace) -> float:
    """The cascade's confidence threshold: the flag, else the policy file's, else the
    policy default."""
    if args.min_mean_logprob is not None:
        return float(args.min_mean_logprob)
    from hybridroute_policy.models import ConfidencePolicy

    if args.policy:
        from hybridroute_policy.loading import load_policy

        return float(load_policy(args.policy).confidence.min_mean_logprob)
    return float(ConfidencePolicy().min_mean_logprob)


def _prices(args: argparse.Namespace) -> CostModel:
    small, large = mx.Prices(), mx.Prices()
    if args.policy:
        from hybridroute_policy.loading import load_policy

        pol = load_policy(args.policy)
        small = mx.Prices(
            pol.small.pricing.input_per_1k_tokens,
            pol.small.pricing.output_per_1k_tokens,
            pol.small.energy.joules_per_1k_tokens,
        )
        large = mx.Prices(
            pol.large.pricing.input_per_1k_tokens,
            pol.large.pricing.output_per_1k_tokens,
            pol.large.energy.joules_per_1k_tokens,
        )

    def pick(flag: float | None, fallback: float) -> float:
        return fallback if flag is None else flag

    small = mx.Prices(
        pick(args.small_input_price, small.input_per_1k),
        pick(args.small_output_price, small.output_per_1k),
        pick(args.small_joules, small.joules_per_1k),
    )
    large = mx.Prices(
        pick(args.large_input_price, large.input_per_1k),
        pick(args.large_output_price, large.output_per_1k),
        pick(args.large_joules, large.joules_per_1k),
    )
    return CostModel(small=small, large=large, completion_tokens=args.completion_tokens)


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if pct else f"{value:.3f}"


def _only_pair(data: Dataset, wanted: str | None) -> None:
    """Keep the rows of one model pair (``--pair``, a substring of ``small>large``); say
    so when several pairs would share one curve."""
    pairs = sorted({r.pair for r in data.rows})
    if wanted is not None:
        data.rows = [r for r in data.rows if wanted in r.pair]
        if not data.rows:
            raise UsageError(f"no rows of a pair matching {wanted!r}; pairs: {', '.join(pairs)}")
    elif len(pairs) > 1:
        print(
            f"note: rows of {len(pairs)} model pairs share one curve; --pair picks one",
            file=sys.stderr,
        )


def cmd_eval(args: argparse.Namespace) -> int:
    data = _load(args.data, args.strict)
    _only_pair(data, args.pair)
    names = args.scorer or list(DEFAULT_SCORERS)
    try:
        scorers = {n: resolve(n, show_progress=not args.no_progress) for n in names}
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    missing = sum(r.small_logprob is None for r in data.rows)
    if missing and args.composite_scorer:
        raise UsageError(
            f"--composite-scorer needs the cascade: {missing} of {len(data.rows)} rows have "
            "no small_logprob (the small model's mean token logprob)"
        )
    cost_model = _prices(args)
    ev = evaluate(
        data.rows,
        scorers,
        cost_model,
        preroute_threshold=args.preroute_threshold,
        composite_with=args.composite_scorer,
        min_mean_logprob=_min_mean_logprob(args),
    )
    summary = report(
        ev,
        cost_model,
        skipped_rows=len(data.errors),
        small_latency_ms=args.small_latency_ms,
        large_latency_ms=args.large_latency_ms,
    )
    print(f"{ev.n} rows; small quality {ev.small_quality:.3f}, large {ev.large_quality:.3f}")
    if missing:
        print(
            f"no cascade or composite: {missing} of {ev.n} rows have no small_logprob",
            file=sys.stderr,
        )
    print(f"{'policy':28} {'kind':11} {'APGR':>6} {'CPT(50%)':>9} {'CPT(80%)':>9}")
    for name, entry in summary["scorers"].items():
        print(
            f"{name:28} {entry['kind']:11} {_fmt(entry['apgr']):>6} "
            f"{_fmt(entry['cpt50'], True):>9} {_fmt(entry['cpt80'], True):>9}"
        )
    for line in composite_lines(summary, args.small_latency_ms):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        from hybridroute_quality.plot import save_plot

        save_plot(ev, Path(args.plot))
    return 0


def _snippet_scorer(name: str) -> str:
    return name if name in ("heuristic", "auto") else "learned"


def _logged_decisions(path: str) -> tuple[list[logs.Decision], str | None]:
    """The decision log's records of the scorer that scored most of them, and its name."""
    decided, errors = logs.decisions(Path(path))
    _report_errors(errors)
    kept, scorer, counts = logs.one_scorer(decided)
    if len(counts) > 1:
        each = ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        print(f"{path}: records of several scorers ({each}): the {scorer} ones", file=sys.stderr)
    return kept, scorer


def calibrate_preroute(args: argparse.Namespace) -> int:
    """``calibrate --decision-log LOG --preroute``: the complexity threshold from which
    pre-routing pays, from the cascade's logged escalations."""
    decided, _ = _logged_decisions(args.decision_log)
    judged = [d for d in decided if d.escalated is not None]
    if not judged:
        raise UsageError(
            f"{args.decision_log}: no cascaded request with a logged small_mean_logprob "
            "(the cascade must be on: confidence.enabled, and a buffered stream or none)"
        )
    cost = args.preroute_threshold
    if cost is None:
        cm = _prices(args)
        cost = cal.cost_threshold([d.tokens for d in judged], cm.small, cm.large)
    print(cal.preroute_snippet(decided, cost, source=args.decision_log), end="")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.preroute:
        if not args.decision_log:
            raise UsageError("--preroute needs --decision-log (the cascade's escalations)")
        return calibrate_preroute(args)
    if (args.target_large_share is None) == (args.target_quality is None):
        raise UsageError("give exactly one of --target-large-share or --target-quality")
    if args.decision_log:
        decided, logged_scorer = _logged_decisions(args.decision_log)
        if not decided:
            raise UsageError(f"{args.decision_log}: no decision records with a score")
        source = args.decision_log
        scorer_name = "the router's scorer"
        if args.target_large_share is not None:
            result = cal.for_large_share(
                np.asarray([d.score for d in decided]), args.target_large_share
            )
        else:
            if not args.feedback_log:
                raise UsageError("--target-quality from logs needs --feedback-log for labels")
            labeled = logs.labeled_scores(decided, Path(args.feedback_log))
            if not labeled:
                raise UsageError("no feedback record matches a logged decision (request_id)")
            arr = np.asarray(labeled, dtype=np.float64)
            result = cal.for_quality(arr[:, 0], arr[:, 1], arr[:, 2], args.target_quality)
        snippet_scorer = args.scorer or logged_scorer or "auto"
    else:
        if not args.data:
            raise UsageError("give labeled DATA files or --decision-log")
        data = _load(args.data, args.strict)
        scorer_name = args.scorer or "auto"
        try:
            keys = resolve(scorer_name, show_progress=not args.no_progress)(data.rows)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        if args.target_large_share is not None:
            result = cal.for_large_share(keys, args.target_large_share)
        else:
            small = np.asarray([r.small for r in data.rows])
            large = np.asarray([r.large for r in data.rows])
            result = cal.for_quality(keys, small, large, args.target_quality)
        source = ", ".join(args.data)
        snippet_scorer = _snippet_scorer(scorer_name)
    print(cal.policy_snippet(result, snippet_scorer, source=source), end="")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from hybridroute_router.scorers.learned import save_artifact

    from hybridroute_quality.train import train

    data = datasets.load(args.data, strict=args.strict) if args.data else Dataset()
    sources = list(args.data)
    if args.feedback_log:
        key = Path(args.hash_key_file).read_bytes().strip() if args.hash_key_file else None
        prompts = logs.prompts_by_sha(Path(args.prompts), key) if args.prompts else None
        fb = logs.feedback_rows(Path(args.feedback_log), prompts)
        if args.strict and fb.data.errors:
            raise DataError(fb.data.errors[:1])
        for why, count in sorted(fb.skipped.items()):
            print(f"feedback records skipped ({why}): {count}", file=sys.stderr)
        data.extend(fb.data)
        sources.append(args.feedback_log)
    _report_errors(data.errors)
    options = _train_options(args, show_progress=not args.no_progress)
    try:
        art, _ = train(data.rows, options, name=Path(args.out).stem, sources=sources)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    meta_path, weights_path = save_artifact(art, args.out)
    print(f"trained on {len(data.rows)} rows; wrote {meta_path} and {weights_path}")
    if args.configmap:
        manifest = configmap_manifest(args.configmap, args.namespace, meta_path, weights_path)
        out = meta_path.with_suffix(".configmap.yaml")
        out.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
        print(
            f"wrote {out}: kubectl apply -f it, then set the HybridRoute's "
            f"spec.policy.complexity.scorerArtifactConfigMap: {args.configmap}"
        )
    return 0


CONFIGMAP_SCORER_KEYS = ("scorer.json", "scorer.npz")
"""The keys the operator mounts from ``spec.policy.complexity.scorerArtifactConfigMap``."""


def configmap_manifest(
    name: str, namespace: str | None, meta_path: Path, weights_path: Path
) -> dict[str, Any]:
    """A ConfigMap holding the artifact: the JSON as data, the npz weights as binaryData."""
    json_key, npz_key = CONFIGMAP_SCORER_KEYS
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/part-of": "hybridroute", "inferensys.io/artifact": "scorer"},
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {json_key: meta_path.read_text(encoding="utf-8")},
        "binaryData": {npz_key: base64.b64encode(weights_path.read_bytes()).decode()},
    }


def _cv_folds(args: argparse.Namespace, data: Dataset) -> list[Any]:
    from hybridroute_quality import crossval as cv

    if args.split == "sources":
        return cv.source_folds(data.rows)
    if args.split == "pairs":
        return cv.pair_folds(data.rows)
    rows = cv.split_rows(data.rows, args.folds, args.seed) if args.split == "rows" else data.rows
    return cv.group_folds(rows, args.folds, args.seed)


def _apgr(entry: dict[str, Any]) -> str:
    return "-" if entry["apgr"] is None else f"{entry['apgr']:.3f}"


def _print_cv(summary: dict[str, Any]) -> None:
    print(f"{'scorer':22} {'APGR':>6} {'±':>6} {'worst':>6} {'CPT(50%)':>9} {'CPT(80%)':>9}")
    for name, e in summary["scorers"].items():
        if e["apgr"] is None:
            continue
        print(
            f"{name:22} {e['apgr']:>6.3f} {e['apgrStd']:>6.3f} {e['apgrMin']:>6.3f} "
            f"{e['cpt50']:>9.2%} {e['cpt80']:>9.2%}"
        )
    for axis, key in (("held-out source", "perSource"), ("held-out pair", "perPair")):
        first = next(iter(summary["scorers"].values()))[key]
        if len(first) < 2:
            continue
        names = list(summary["scorers"])
        print(f"\nAPGR per {axis} (mean over its cells)")
        print(f"{'':46}" + "".join(f" {n[:12]:>12}" for n in names))
        for part in first:
            cells = "".join(f" {_apgr(summary['scorers'][n][key][part]):>12}" for n in names)
            print(f"{part[-46:]:46}{cells}")


def cmd_cv(args: argparse.Namespace) -> int:
    from hybridroute_quality.crossval import run_fold, summarize_folds
    from hybridroute_quality.progress import progress

    data = _load(args.data, args.strict)
    try:
        folds = _cv_folds(args, data)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    options = _train_options(args, show_progress=False)
    baselines = args.scorer or ["random", "token-length", "heuristic", "default", "similarity"]
    results = [
        run_fold(fold, options, baselines)
        for fold in progress(folds, desc="folds", enabled=not args.no_progress)
    ]
    summary: dict[str, Any] = {
        "n": len(data.rows),
        "split": args.split,
        **summarize_folds(results),
    }
    print(
        f"{len(folds)} folds by {args.split}, {len(data.rows)} rows ({args.featurizer} "
        f"featurizer); APGR and CPT are means over held-out (source, pair) cells"
    )
    _print_cv(summary)
    if "default" in baselines:
        print("\n(default: the shipped scorer, trained on all shared data: in-sample here)")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


def _common(p: argparse.ArgumentParser, *, data_required: bool = True) -> None:
    p.add_argument("data", nargs="+" if data_required else "*", metavar="DATA")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed row")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _train_options(args: argparse.Namespace, *, show_progress: bool) -> TrainOptions:
    base = TrainOptions()
    if args.hidden > 0:
        return TrainOptions(
            featurizer=args.featurizer,
            hidden=args.hidden,
            mlp_l2=base.mlp_l2 if args.l2 is None else args.l2,
            mlp_epochs=base.mlp_epochs if args.epochs is None else args.epochs,
            length_weight=args.length_weight,
            heuristic_weight=args.heuristic_weight,
            raw_kind=args.raw_score,
            show_progress=show_progress,
        )
    fit = FitOptions(
        l2=DEFAULT_L2 if args.l2 is None else args.l2,
        epochs=DEFAULT_EPOCHS if args.epochs is None else args.epochs,
    )
    return TrainOptions(
        featurizer=args.featurizer,
        hidden=0,
        fit=fit,
        length_weight=args.length_weight,
        heuristic_weight=args.heuristic_weight,
        raw_kind=args.raw_score,
        show_progress=show_progress,
    )


def _training(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--featurizer",
        choices=["features", "hashed", "embedding"],
        default="features",
        help="text features only; plus hashed n-grams; plus MiniLM embeddings",
    )
    p.add_argument(
        "--hidden", type=int, default=DEFAULT_HIDDEN, help="MLP units; 0: logistic heads"
    )
    p.add_argument("--l2", type=float, help="L2 penalty (default 0.001 MLP, 0.01 logistic)")
    p.add_argument("--epochs", type=int, help="epochs (default 300 MLP, 100 logistic)")
    p.add_argument(
        "--length-weight",
        type=float,
        default=TrainOptions().length_weight,
        help="share of the prompt-length prior",
    )
    p.add_argument(
        "--raw-score",
        choices=["difficulty", "gain"],
        default=TrainOptions().raw_kind,
        help="what the model ranks by: chance both models fail, or the large model's gain",
    )
    p.add_argument(
        "--heuristic-weight",
        type=float,
        default=TrainOptions().heuristic_weight,
        help="share of the structural heuristic prior",
    )


def _price_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", help="router policy file: prices and energy per 1K tokens")
    for model in ("small", "large"):
        p.add_argument(f"--{model}-input-price", type=float, help="USD per 1K prompt tokens")
        p.add_argument(f"--{model}-output-price", type=float, help="USD per 1K completion tokens")
        p.add_argument(f"--{model}-joules", type=float, help="joules per 1K tokens")
    p.add_argument("--completion-tokens", type=int, default=128, help="assumed when absent")


def _add_eval(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev = sub.add_parser("eval", help="quality vs large-model share, APGR, CPT, cost")
    _common(ev)
    ev.add_argument(
        "--scorer",
        action="append",
        help="random, oracle, token-length, heuristic, default (= learned), auto (the "
        "router's default), auto:ARTIFACT, similarity:EXAMPLES, or an artifact path "
        "(repeatable)",
    )
    ev.add_argument("--pair", help="only the rows of this model pair (part of 'small>large')")
    ev.add_argument("--json", help="write the JSON summary here")
    ev.add_argument("--plot", help="write a PNG plot here")
    _price_flags(ev)
    ev.add_argument(
        "--preroute-threshold",
        type=float,
        help="composite: pre-route where the lower bound of P(escalate | score) reaches it "
        "(default: 1 - small/large cost per query, 0.9 without prices)",
    )
    ev.add_argument(
        "--small-latency-ms",
        type=float,
        default=0.0,
        help="the small model's response time, to report the latency pre-routing saves",
    )
    ev.add_argument(
        "--large-latency-ms",
        type=float,
        help="the large model's response time: a pre-routed query the cascade would have "
        "kept then counts its wait for the large model (default: counted as no change)",
    )
    ev.add_argument("--composite-scorer", help="scorer that pre-routes in the composite policy")
    ev.add_argument(
        "--min-mean-logprob",
        type=float,
        help="the cascade's confidence threshold for the composite's shipped setting "
        "(default: the --policy file's confidence.minMeanLogprob, else the policy default)",
    )
    ev.set_defaults(func=cmd_eval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybridroute", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    _add_eval(sub)

    ca = sub.add_parser("calibrate", help="threshold for a target large share or quality")
    _common(ca, data_required=False)
    ca.add_argument("--scorer", help="scorer name or artifact (default: auto, the policy's)")
    ca.add_argument("--target-large-share", type=float)
    ca.add_argument("--target-quality", type=float, help="fraction of all-large quality")
    ca.add_argument("--decision-log", help="router decision log (JSONL) instead of DATA")
    ca.add_argument("--feedback-log", help="router feedback log, labels for --target-quality")
    ca.add_argument(
        "--preroute",
        action="store_true",
        help="with --decision-log of a cascade: the complexity threshold from which "
        "pre-routing (skipping the small call) pays, from the logged escalations",
    )
    ca.add_argument(
        "--preroute-threshold",
        type=float,
        help="--preroute: the lower bound of P(escalate) that pays "
        "(default: 1 - small/large cost of the logged tokens, 0.9 without prices)",
    )
    _price_flags(ca)
    ca.set_defaults(func=cmd_calibrate)

    tr = sub.add_parser("train", help="train the learned scorer, write its artifact")
    _common(tr, data_required=False)
    _training(tr)
    tr.add_argument("--feedback-log", help="router feedback log (JSONL) as extra rows")
    tr.add_argument("--prompts", help="JSONL with prompts to join feedback by prompt digest")
    tr.add_argument(
        "--hash-key-file",
        default=os.environ.get("HYBRIDROUTE_HASH_KEY_FILE"),
        help="the router's --hash-key-file, to join --prompts on prompt_hmac",
    )
    tr.add_argument("--out", required=True, help="artifact path (writes PATH.json, PATH.npz)")
    tr.add_argument(
        "--configmap",
        metavar="NAME",
        help="also write PATH.configmap.yaml, a ConfigMap NAME holding the artifact "
        "(for spec.policy.complexity.scorerArtifactConfigMap)",
    )
    tr.add_argument("--namespace", help="the ConfigMap's namespace (default: kubectl's)")
    tr.set_defaults(func=cmd_train)

    cv = sub.add_parser("cv", help="group-held-out cross-validation of the learned scorer")
    _common(cv)
    _training(cv)
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--seed", type=int, default=0)
    cv.add_argument(
        "--split",
        choices=["groups", "rows", "sources", "pairs"],
        default="groups",
        help="hold out whole groups (subjects), random rows, whole sources (benchmarks), "
        "or (source, model pair) cells trained on other sources and pairs only",
    )
    cv.add_argument(
        "--scorer",
        action="append",
        help="baselines to compare (repeatable; 'similarity': k-NN over 2,000 training rows)",
    )
    cv.add_argument("--json", help="write the JSON summary here")
    cv.set_defaults(func=cmd_cv)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except DataError as exc:
        print(f"hybridroute: malformed input: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"hybridroute: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
