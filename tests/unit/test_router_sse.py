"""SSE framing of streamed answers: events split anywhere across network chunks are
still seen whole (the usage event is counted)."""

from __future__ import annotations

import msgspec
import pytest
from hybridroute_router.decision.sse import split_events, sse_events
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

EVENTS = [{"choices": [{"index": 0, "delta": {"content": f"w{i}"}}]} for i in range(3)] + [
    {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 3}}
]


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n"])
@settings(deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=8))
def test_events_split_anywhere_are_reassembled(sep: bytes, cuts: list[int]) -> None:
    stream = b"".join(b"data: " + msgspec.json.encode(e) + sep for e in EVENTS)
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    seen: list[object] = []
    tail = b""
    for piece in pieces:
        complete, tail = split_events(tail + piece)
        seen.extend(sse_events(complete))
    assert tail == b""
    assert seen == EVENTS


def test_an_incomplete_event_is_kept_for_the_next_chunk() -> None:
    complete, tail = split_events(b'data: {"a": 1}\n\ndata: {"us')
    assert sse_events(complete) == [{"a": 1}]
    assert tail == b'data: {"us'
