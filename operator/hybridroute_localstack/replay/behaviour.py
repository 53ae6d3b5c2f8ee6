"""How one replayed model behaves: latency, tokens, capacity and the "bad student" knobs
(pure data and arithmetic; the server in ``app.py`` applies it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybridroute_localstack.replaybook import OVERLAPPING, LogprobRanges, Role

# Per-role defaults: the large model is slower per token and more verbose.
DEFAULT_TTFT_MS: dict[Role, float] = {"large": 120.0, "small": 25.0}
DEFAULT_MS_PER_TOKEN: dict[Role, float] = {"large": 15.0, "small": 4.0}
DEFAULT_CAPACITY: dict[Role, int] = {"large": 8, "small": 16}
DEFAULT_RATIONALE_WORDS: dict[Role, int] = {"large": 12, "small": 0}


@dataclass(frozen=True)
class Behaviour:
    """The knobs of one replay server.

    ``capacity`` requests are served at once; more wait in a FIFO queue (their time in
    it counts in the latency and in ``vllm:num_requests_waiting``). While serving, the
    time per token grows with the share of capacity in use: ``ms_per_token * (1 +
    load_slowdown * running / capacity)``, the way a batching server slows down.
    The bad-student knobs: ``disagree`` names a wrong option on every question,
    ``error_rate`` answers that share of requests with HTTP 500, ``extra_latency_ms``
    adds to every answer. ``logprobs`` are the ranges of the synthetic logprobs of right
    and wrong answers (see :class:`~hybridroute_localstack.replaybook.LogprobRanges`).
    """

    role: Role
    model: str = ""
    capacity: int = 0
    ttft_ms: float = -1.0
    ms_per_token: float = -1.0
    load_slowdown: float = 0.5
    rationale_words: int = -1
    disagree: bool = False
    error_rate: float = 0.0
    extra_latency_ms: float = 0.0
    logprobs: LogprobRanges = OVERLAPPING

    def resolved(self) -> Behaviour:
        """Role defaults filled in where a knob was left unset (negative or zero)."""
        return Behaviour(
            role=self.role,
            model=self.model or f"replay-{self.role}",
            capacity=self.capacity if self.capacity > 0 else DEFAULT_CAPACITY[self.role],
            ttft_ms=self.ttft_ms if self.ttft_ms >= 0 else DEFAULT_TTFT_MS[self.role],
            ms_per_token=(
                self.ms_per_token if self.ms_per_token >= 0 else DEFAULT_MS_PER_TOKEN[self.role]
            ),
            load_slowdown=max(0.0, self.load_slowdown),
            rationale_words=(
                self.rationale_words
                if self.rationale_words >= 0
                else DEFAULT_RATIONALE_WORDS[self.role]
            ),
            disagree=self.disagree,
            error_rate=min(1.0, max(0.0, self.error_rate)),
            extra_latency_ms=max(0.0, self.extra_latency_ms),
            logprobs=self.logprobs,
        )

    def token_seconds(self, running: int) -> float:
        """Seconds per generated token with ``running`` requests in service."""
        load = min(running, self.capacity) / self.capacity if self.capacity else 0.0
        return self.ms_per_token / 1000 * (1 + self.load_slowdown * load)

    def first_token_seconds(self) -> float:
        return (self.ttft_ms + self.extra_latency_ms) / 1000


def rationale(letter: str, words: int) -> str:
    """A fixed-length tail after the answer (the large model is more verbose): no new
    letter claim, so grading is unchanged."""
    if words <= 0:
        return ""
    filler = ["Having", "weighed", "each", "listed", "option,", "I", "settle", "on", letter]
    tail = [filler[i % len(filler)] for i in range(words)]
    return " " + " ".join(tail).rstrip(",") + "."


def prompt_tokens(prompt: str) -> int:
    """A tokenizer-free count: about four characters a token, at least one."""
    return max(1, math.ceil(len(prompt) / 4))
