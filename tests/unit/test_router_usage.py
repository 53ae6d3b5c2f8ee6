"""Token usage, read in one place: JSON answers, SSE events (whole or passing chunk by
chunk), and the cost and energy they price."""

from __future__ import annotations

import msgspec
import pytest
from hybridroute_policy import LargeModel
from hybridroute_router.http.usage import (
    NO_TOKENS,
    StreamUsage,
    answer_tokens,
    body_tokens,
    decode_answer,
    events_tokens,
    json_tokens,
    price,
    sse_tokens,
    usage_tokens,
)
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


def sse(*events: object, sep: bytes = b"\n\n") -> bytes:
    return b"".join(b"data: " + msgspec.json.encode(e) + sep for e in events) + b"data: [DONE]\n\n"


@pytest.mark.parametrize(
    ("usage", "tokens"),
    [
        (USAGE, (12, 5)),
        ({"prompt_tokens": 3}, (3, 0)),
        ({"prompt_tokens": "3", "completion_tokens": 2.5}, (0, 0)),  # not integers
        ({}, NO_TOKENS),
        (None, NO_TOKENS),
        ([1, 2], NO_TOKENS),
    ],
)
def test_usage_tokens(usage: object, tokens: tuple[int, int]) -> None:
    assert usage_tokens(usage) == tokens


def test_json_answer_tokens() -> None:
    assert json_tokens({"choices": [], "usage": USAGE}) == (12, 5)
    assert json_tokens({"choices": []}) == NO_TOKENS
    assert json_tokens(None) == NO_TOKENS
    assert json_tokens("text") == NO_TOKENS


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)
_usage = st.fixed_dictionaries(
    {},
    optional={"prompt_tokens": _json | st.integers(0, 10**6),
              "completion_tokens": _json | st.integers(0, 10**6)},
)  # fmt: skip


@settings(deadline=None)
@given(
    answer=st.dictionaries(st.sampled_from(["id", "choices", "model"]), _json)
    | st.builds(lambda rest, usage: {**rest, "usage": usage}, st.dictionaries(st.text(), _json),
                _usage | _json)
    | _json,
    cut=st.integers(0, 400) | st.none(),
)  # fmt: skip
def test_reading_only_the_usage_counts_what_decoding_the_whole_answer_does(
    answer: object, cut: int | None
) -> None:
    body = msgspec.json.encode(answer)
    if cut is not None:
        body = body[:cut]  # also truncated and broken answers
    assert body_tokens(body) == json_tokens(decode_answer(body))


def test_the_last_event_with_usage_counts() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}}]}
    body = sse(chunk, {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
               {"choices": [], "usage": USAGE})  # fmt: skip
    assert sse_tokens(body) == (12, 5)
    assert events_tokens([chunk, {"usage": USAGE}, {"usage": None}]) == (12, 5)
    assert sse_tokens(sse(chunk)) == NO_TOKENS
    assert sse_tokens(None) == NO_TOKENS


def test_a_delivered_answer_reads_its_json_else_its_events() -> None:
    body = msgspec.json.encode({"choices": [], "usage": USAGE})
    parsed = decode_answer(body)
    assert answer_tokens(parsed, None) == (12, 5)
    assert answer_tokens(None, sse({"choices": [], "usage": USAGE})) == (12, 5)
    assert answer_tokens(None, None) == NO_TOKENS
    assert decode_answer(b"not json") is None


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n"])
@settings(deadline=None)
@given(cuts=st.lists(st.integers(0, 600), max_size=8))
def test_a_passing_stream_counts_usage_split_anywhere(sep: bytes, cuts: list[int]) -> None:
    deltas = [{"choices": [{"index": 0, "delta": {"content": f"w{i}"}}]} for i in range(3)]
    stream = sse(*deltas, {"choices": [], "usage": USAGE}, sep=sep)
    points = sorted({min(c, len(stream)) for c in cuts})
    usage = StreamUsage()
    for a, b in zip([0, *points], [*points, len(stream)], strict=True):
        if b > a:
            usage.feed(stream[a:b])
    usage.end()
    assert sse_tokens(usage.events) == (12, 5)


def test_a_last_usage_event_without_its_blank_line_still_counts() -> None:
    usage = StreamUsage()
    usage.feed(b'data: {"choices":[]}\n\n')
    usage.feed(b'data: {"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":9}}')
    usage.end()
    assert sse_tokens(usage.events) == (2, 9)


def test_a_stream_without_usage_counts_nothing() -> None:
    usage = StreamUsage()
    usage.feed(sse({"choices": [{"index": 0, "delta": {"content": "x"}}]}))
    usage.end()
    assert usage.events is None
    assert sse_tokens(usage.events) == NO_TOKENS


def test_price_in_usd_and_joules() -> None:
    model = LargeModel.model_validate(
        {
            "upstream": {"baseUrl": "http://large:8000/v1", "model": "big"},
            "pricing": {"inputPer1kTokens": 0.01, "outputPer1kTokens": 0.03},
            "energy": {"joulesPer1kTokens": 2000.0},
        }
    )
    cost, joules = price(model, (1000, 500))
    assert cost == pytest.approx(0.01 + 0.015)
    assert joules == pytest.approx(3000.0)
    assert price(model, NO_TOKENS) == (0.0, 0.0)
