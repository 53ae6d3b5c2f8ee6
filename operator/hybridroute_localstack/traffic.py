"""Demo traffic: recorded eval questions sent through the route at a steady rate.

An open loop: a request starts every ``1 / rate`` seconds whether or not earlier ones
have finished (at most ``max_in_flight`` at once; beyond that a tick is skipped and
counted in ``skipped``), so a slow model shows up as latency and queueing, not as a
lower rate. Each answer is graded against the question's key (``replaybook.grade``).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from hybridroute_localstack.replaybook import Outcome, ReplayBook, grade
from hybridroute_localstack.summary import Result


@dataclass
class Traffic:
    base_url: str
    """``http://127.0.0.1:PORT/v1``."""
    model: str
    book: ReplayBook
    rate: float
    seed: int = 2406
    max_in_flight: int = 256
    timeout: float = 30.0
    skipped: int = 0
    first_answer: float | None = None
    """``time.monotonic()`` of the first answered request."""
    _results: list[Result] = field(default_factory=list, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> Traffic:
        if self.rate <= 0:
            raise ValueError("--traffic RATE must be above 0")
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)

    def results(self) -> list[Result]:
        return list(self._results)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        questions = self.book.outcomes()
        chooser = random.Random(self.seed)  # noqa: S311 - a sample of questions, not crypto
        limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=64)
        in_flight: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as client:
            period = 1.0 / self.rate
            next_at = time.monotonic()
            while not self._stop.is_set():
                if len(in_flight) < self.max_in_flight:
                    task = asyncio.create_task(self._ask(client, chooser.choice(questions)))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                else:
                    self.skipped += 1
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if in_flight:
                await asyncio.wait(in_flight, timeout=self.timeout)

    async def _ask(self, client: httpx.AsyncClient, question: Outcome) -> None:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": question.prompt}],
            "max_tokens": 64,
        }
        started = time.monotonic()
        try:
            response = await client.post(f"{self.base_url}/chat/completions", json=body)
        except httpx.HTTPError:
            self._results.append(Result(started, time.monotonic() - started, 0))
            return
        seconds = time.monotonic() - started
        if response.status_code != 200:
            self._results.append(Result(started, seconds, response.status_code))
            return
        reply: dict[str, Any] = response.json()
        text = str(((reply.get("choices") or [{}])[0].get("message") or {}).get("content") or "")
        usage = reply.get("usage") or {}
        if self.first_answer is None:
            self.first_answer = time.monotonic()
        self._results.append(
            Result(
                started,
                seconds,
                200,
                version=response.headers.get("x-hybridroute-version", ""),
                quality=grade(question.prompt, text),
                recorded_small=question.small,
                recorded_large=question.large,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        )
