"""Replay model servers as real processes, asked through the openai SDK and read by a
real Prometheus: answers as recorded, a queue over capacity, bad-student knobs."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from hybridroute_localstack import PrometheusFactory, eventually
from hybridroute_localstack.probe import http_get
from hybridroute_localstack.replay import Behaviour, ReplayServerProcess, start_replay_server
from hybridroute_localstack.replaybook import ReplayBook, default_data_dir, grade

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def book() -> ReplayBook:
    if not default_data_dir().is_dir():
        pytest.skip(f"the shared RouteLLM data is not at {default_data_dir()}")
    return ReplayBook.from_paths([default_data_dir()])


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ReplayServerProcess]]:
    started: list[ReplayServerProcess] = []
    yield started
    for server in started:
        server.stop()


def ask(server: ReplayServerProcess, prompt: str, **extra: object) -> openai.types.ChatCompletion:
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    return client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": prompt}], **extra
    )


def test_answers_follow_the_recorded_outcomes_with_logprobs(
    tmp_path: Path, book: ReplayBook, servers: list[ReplayServerProcess]
) -> None:
    large = start_replay_server(tmp_path, Behaviour("large", ttft_ms=0, ms_per_token=0))
    servers.append(large)
    questions = [o for o in book.outcomes()[:40]]
    for question in questions:
        reply = ask(large, question.prompt, logprobs=True)
        text = reply.choices[0].message.content or ""
        assert grade(question.prompt, text) == float(question.large)
        logprobs = reply.choices[0].logprobs
        assert logprobs is not None
        assert logprobs.content
        assert (logprobs.content[0].logprob >= -0.5) or not question.large
        assert reply.usage is not None
        assert reply.usage.completion_tokens > 4
    assert large.stats()["requests"] == len(questions)


def test_over_capacity_requests_queue_and_the_metrics_show_it(
    tmp_path: Path,
    book: ReplayBook,
    servers: list[ReplayServerProcess],
    prometheus_server: PrometheusFactory,
) -> None:
    slow = Behaviour("large", capacity=2, ttft_ms=400, ms_per_token=0)
    server = start_replay_server(tmp_path, slow)
    servers.append(server)
    prompt = book.outcomes()[0].prompt
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        started = time.monotonic()
        futures = [pool.submit(ask, server, prompt) for _ in range(8)]
        waiting = eventually(
            lambda: server.stats()["waiting"] if server.stats()["waiting"] >= 4 else None,
            "requests queued over capacity",
            timeout=10,
            interval=0.02,
        )
        metrics = http_get(server.metrics_url)
        for future in futures:
            future.result()
        elapsed = time.monotonic() - started
    assert waiting >= 4
    assert 'vllm:gpu_cache_usage_perc{model_name="replay-large"} 1.0' in metrics
    # 8 requests, 2 at a time, 0.4 s each: four rounds
    assert elapsed >= 1.5
    prometheus = prometheus_server([server.address])
    count = eventually(
        lambda: prometheus.query("vllm:e2e_request_latency_seconds_count"),
        "the latency histogram scraped",
        timeout=20,
    )
    assert float(count[0]["value"][1]) == 8


def test_a_bad_student_disagrees_and_fails_on_demand(
    tmp_path: Path, book: ReplayBook, servers: list[ReplayServerProcess]
) -> None:
    bad = Behaviour("small", ttft_ms=0, ms_per_token=0, disagree=True, error_rate=0.5)
    server = start_replay_server(tmp_path, bad)
    servers.append(server)
    wrong = errors = 0
    for question in book.outcomes()[:30]:
        try:
            reply = ask(server, question.prompt)
        except openai.InternalServerError:
            errors += 1
            continue
        wrong += grade(question.prompt, reply.choices[0].message.content or "") == 0.0
    assert wrong == 30 - errors
    assert 5 <= errors <= 25
    assert server.stats()["errors"] == errors


def test_an_unknown_prompt_gets_the_generic_answer(
    tmp_path: Path, servers: list[ReplayServerProcess]
) -> None:
    server = start_replay_server(tmp_path, Behaviour("small", ttft_ms=0, ms_per_token=0))
    servers.append(server)
    reply = ask(server, "Tell me a joke")
    assert reply.choices[0].message.content == "I have no recorded answer to this question."
    assert server.stats()["unknown"] == 1
