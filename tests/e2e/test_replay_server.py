"""The replay model server on its own: a real process on loopback, the openai SDK as
client. It must replay the recorded outcome of the model it plays, in every API shape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from hybridroute_localstack.replay import ReplayServerProcess
from hybridroute_localstack.replaybook import (
    SEPARATED,
    UNKNOWN_ANSWER,
    Outcome,
    ReplayBook,
    Role,
    answer_key,
    answer_text,
    grade,
    mean_logprob,
)
from stack import mean, replay_servers, sample

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def disagreements(book: ReplayBook) -> list[Outcome]:
    """Questions only one of the two models got right (both kinds)."""
    mixed = [o for o in sample(book, 400, 7) if o.small != o.large]
    assert {o.small for o in mixed} == {True, False}
    return mixed[:20]


@pytest.fixture(scope="module")
def servers(
    book: ReplayBook, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Role, ReplayServerProcess]]:
    with replay_servers(tmp_path_factory.mktemp("replay")) as started:
        yield started


def client_for(server: ReplayServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_each_role_answers_right_exactly_when_its_model_was_right(
    servers: dict[Role, ReplayServerProcess], disagreements: list[Outcome]
) -> None:
    for role, server in servers.items():
        with client_for(server) as client:
            for q in disagreements:
                completion = client.chat.completions.create(
                    model=f"replay-{role}", messages=[{"role": "user", "content": q.prompt}]
                )
                text = completion.choices[0].message.content or ""
                assert grade(q.prompt, text) == float(q.correct(role)), (role, text)
                assert completion.model == f"replay-{role}"
                assert completion.usage is not None
                assert completion.usage.completion_tokens == len(text.split())


def test_replayed_accuracy_is_the_recorded_accuracy(
    servers: dict[Role, ReplayServerProcess], book: ReplayBook
) -> None:
    questions = sample(book, 60, 11)
    with client_for(servers["small"]) as client:
        graded = [
            grade(q.prompt, client.completions.create(model="x", prompt=q.prompt).choices[0].text)
            for q in questions
        ]
    assert mean(graded) == mean([float(q.small) for q in questions])


def test_streams_the_same_answer_with_usage_last(
    servers: dict[Role, ReplayServerProcess], disagreements: list[Outcome]
) -> None:
    q = disagreements[0]
    with client_for(servers["large"]) as client:
        chunks = list(
            client.chat.completions.create(
                model="replay-large",
                messages=[{"role": "user", "content": q.prompt}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer_text(q.prompt, q.large)
    assert len(chunks) > 3
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(text.split())


def test_logprobs_are_higher_for_recorded_right_answers(
    servers: dict[Role, ReplayServerProcess], disagreements: list[Outcome]
) -> None:
    means: dict[bool, list[float]] = {True: [], False: []}
    with client_for(servers["small"]) as client:
        for q in disagreements:
            choice = client.chat.completions.create(
                model="replay-small",
                messages=[{"role": "user", "content": q.prompt}],
                logprobs=True,
            ).choices[0]
            assert choice.logprobs is not None
            assert choice.logprobs.content
            values = [t.logprob for t in choice.logprobs.content]
            assert mean(values) == pytest.approx(mean_logprob(q.prompt, q.small, SEPARATED))
            means[q.small].append(mean(values))
    assert mean(means[True]) > mean(means[False])
    assert max(means[True]) <= -0.05
    assert min(means[False]) >= -1.0


def test_unknown_questions_and_bad_bodies(servers: dict[Role, ReplayServerProcess]) -> None:
    server = servers["small"]
    with client_for(server) as client:
        completion = client.chat.completions.create(
            model="replay-small", messages=[{"role": "user", "content": "What is 2+2?"}]
        )
    assert completion.choices[0].message.content == UNKNOWN_ANSWER
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions", data=b"{not json", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    with refused.value as response:
        assert response.code == 400
        assert json.loads(response.read())["error"]["type"] == "invalid_request_error"


def test_answer_keys_use_only_the_options_a_question_lists(book: ReplayBook) -> None:
    for q in book.outcomes()[:500]:
        key = answer_key(q.prompt)
        assert f"\n{key}. " in q.prompt or q.prompt.startswith(f"{key}. "), q.prompt[:200]
        assert grade(q.prompt, answer_text(q.prompt, False)) == 0.0
