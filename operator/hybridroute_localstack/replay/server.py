"""``python -m hybridroute_localstack.replay.server``: one replayed model on one address.

    python -m hybridroute_localstack.replay.server --role large --port 9002
    python -m hybridroute_localstack.replay.server --role small --port 9001 --capacity 4 \\
        --disagree --error-rate 0.2 --extra-latency-ms 500     # a bad student

``--data`` defaults to the shared RouteLLM MMLU data (``$HYBRIDROUTE_EVAL_DATA`` wins).
``--right-logprobs LOW HIGH`` and ``--wrong-logprobs LOW HIGH`` set the ranges of the
synthetic logprobs (default: the overlapping ones of ``replaybook.OVERLAPPING``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from hybridroute_localstack.asgi import serve
from hybridroute_localstack.replay.app import ReplayApp
from hybridroute_localstack.replay.behaviour import Behaviour
from hybridroute_localstack.replaybook import (
    OVERLAPPING,
    ROLES,
    BookError,
    LogprobRanges,
    ReplayBook,
    default_data_dir,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hybridroute_localstack.replay.server",
        description="An OpenAI-compatible model server answering from recorded outcomes.",
    )
    p.add_argument("--role", choices=ROLES, required=True, help="which recorded model to play")
    p.add_argument("--model", default="", help="model id in /v1/models (default replay-ROLE)")
    p.add_argument("--data", action="append", type=Path, help="CSV/JSONL files or folders")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--capacity", type=int, default=0, help="requests served at once")
    p.add_argument("--ttft-ms", type=float, default=-1.0, help="time to first token")
    p.add_argument("--ms-per-token", type=float, default=-1.0, help="time per generated token")
    p.add_argument("--load-slowdown", type=float, default=0.5, help="per-token slowdown at full")
    p.add_argument("--rationale-words", type=int, default=-1, help="words after the answer")
    p.add_argument("--disagree", action="store_true", help="bad student: always a wrong option")
    p.add_argument("--error-rate", type=float, default=0.0, help="share answered with HTTP 500")
    p.add_argument("--extra-latency-ms", type=float, default=0.0, help="added to every answer")
    p.add_argument("--seed", type=int, default=None, help="seed of the injected errors")
    for kind, default in (("right", OVERLAPPING.right), ("wrong", OVERLAPPING.wrong)):
        p.add_argument(
            f"--{kind}-logprobs",
            nargs=2,
            type=float,
            default=list(default),
            metavar=("LOW", "HIGH"),
            help=f"range of the mean logprob of a {kind} answer (default {default})",
        )
    return p


def behaviour_from(args: argparse.Namespace) -> Behaviour:
    return Behaviour(
        role=args.role,
        model=args.model,
        capacity=args.capacity,
        ttft_ms=args.ttft_ms,
        ms_per_token=args.ms_per_token,
        load_slowdown=args.load_slowdown,
        rationale_words=args.rationale_words,
        disagree=args.disagree,
        error_rate=args.error_rate,
        extra_latency_ms=args.extra_latency_ms,
        logprobs=LogprobRanges(tuple(args.right_logprobs), tuple(args.wrong_logprobs)),
    ).resolved()


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        behaviour = behaviour_from(args)
    except ValueError as exc:
        p.error(str(exc))
    try:
        book = ReplayBook.from_paths(args.data or [default_data_dir()])
    except BookError as exc:
        print(f"replay server: {exc}", file=sys.stderr)
        return 2
    app = ReplayApp(book, behaviour, seed=args.seed)
    print(
        f"replaying {len(book)} questions as {behaviour.role} ({behaviour.model}, "
        f"capacity {behaviour.capacity}) on {args.host}:{args.port}",
        flush=True,
    )
    serve(app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
