"""Generated requests for fuzzing the router's HTTP API.

Two stages, so that 100,000 cases stay affordable: hypothesis draws structured *seeds*
(JSON documents shaped like each endpoint's requests, with odd types, lone surrogates,
control characters, header sets, ASCII or raw UTF-8 encoding), and a seeded mutator
derives many wire-level variants of each (truncations, invalid UTF-8 inside strings,
deep nesting, surrogate escapes, byte flips, number edges, sizes around the body limit,
non-objects, chunked framing). Every case is a well-framed HTTP/1.1 request, so cases
can be pipelined on keep-alive connections; framing-level garbage is the business of
``test_router_fuzz.py``'s fresh-connection test.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

CHAT, COMPLETIONS, EXPLAIN, FEEDBACK = (
    b"/v1/chat/completions",
    b"/v1/completions",
    b"/v1/route/explain",
    b"/v1/feedback",
)
POSTS = (CHAT, COMPLETIONS, EXPLAIN, FEEDBACK)
TIER_HEADER = b"x-tier"
BODY_LIMIT = 16384
"""The fuzzed router's ``limits.maxBodyBytes`` (small, so 413s are cheap to reach)."""


@dataclass(frozen=True, slots=True)
class Seed:
    path: bytes
    doc: Any
    headers: tuple[tuple[bytes, bytes], ...]
    ascii: bool


@dataclass(slots=True)
class Case:
    method: bytes
    path: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    chunks: list[int] | None
    """Send the body with Transfer-Encoding: chunked in pieces of these sizes."""
    kind: str
    """How the case was made (the mutation), for the failure report."""

    def wire(self) -> bytes:
        lines = [self.method + b" " + self.path + b" HTTP/1.1", b"host: 127.0.0.1"]
        lines += [k + b": " + v for k, v in self.headers]
        if self.chunks is None:
            lines.append(b"content-length: " + str(len(self.body)).encode())
            return b"\r\n".join(lines) + b"\r\n\r\n" + self.body
        lines.append(b"transfer-encoding: chunked")
        out = [b"\r\n".join(lines), b"\r\n\r\n"]
        pos = 0
        for size in self.chunks:
            piece = self.body[pos : pos + size]
            pos += size
            if piece:
                out += [b"%x\r\n" % len(piece), piece, b"\r\n"]
        out.append(b"0\r\n\r\n")
        return b"".join(out)


# -- stage 1: structured seeds (hypothesis) ------------------------------------------

_odd_text = st.text(st.characters(categories=["Cs", "Cc", "Zs", "Lo", "So"]), max_size=8)
text = st.one_of(st.text(max_size=40), _odd_text, st.sampled_from(["", "hi", "x" * 300]))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities encode as invalid JSON literals: 400s
    | text
)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(text, kids, max_size=4),
    max_leaves=10,
)
hybrid = st.just("hybrid")
model = st.one_of(hybrid, hybrid, hybrid, hybrid, st.sampled_from(["other", ""]), json_values)
content = st.one_of(
    text,
    st.lists(
        st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", 1]), "text": text}),
        max_size=3,
    ),
    json_values,
)
message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "user", "system", "assistant", "tool", 3]),
        "content": content,
    },
    optional={"name": text, "tool_calls": json_values},
)
options = {
    "stream": st.booleans() | json_values,
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}) | json_values,
    "logprobs": st.booleans() | st.integers(-1, 5) | json_values,
    "max_tokens": st.integers(-1, 10**6) | json_values,
    "temperature": st.floats() | json_values,
    "n": st.integers(0, 3),
    "tools": st.lists(json_values, max_size=2),
    "user": text,
    "extra": json_values,
}
chat_doc = st.fixed_dictionaries(
    {
        "model": model,
        "messages": st.one_of(
            st.lists(message, min_size=1, max_size=4),
            st.lists(message, min_size=1, max_size=2),
            json_values,
        ),
    },
    optional=options,
)
prompt = st.one_of(
    text,
    st.lists(text, max_size=3),
    st.lists(st.integers(0, 50000), max_size=5),
    st.lists(st.lists(st.integers(0, 9), max_size=3), max_size=2),
    json_values,
)
completions_doc = st.fixed_dictionaries({"model": model, "prompt": prompt}, optional=options)
request_id = st.from_regex(r"[A-Za-z0-9._:\-]{1,12}", fullmatch=True) | text | json_values
feedback_doc = st.fixed_dictionaries(
    {
        "request_id": request_id,
        "score": st.one_of(st.floats(0, 1), st.floats(0, 1), st.floats(), json_values),
    },
    optional={"comment": text | json_values},
)
header_value = st.binary(max_size=40).map(
    lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F).strip()
)
header = st.tuples(
    st.sampled_from(
        [
            b"content-type",
            b"Content-Type",
            b"x-request-id",
            b"X-HybridRoute-Request-Id",
            TIER_HEADER,
            b"X-Tier",
            b"x-hybridroute-explain",
            b"authorization",
            b"traceparent",
            b"tracestate",
            b"accept",
            b"accept-encoding",
            b"x-unknown",
        ]
    ),
    header_value
    | st.sampled_from(
        [
            b"application/json",
            b"text/plain; charset=latin-1",
            b"critical",
            b"free",
            b"true",
            b"1",
            b"Bearer k",
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ]
    ),
)
_docs = {
    CHAT: chat_doc,
    COMPLETIONS: completions_doc,
    EXPLAIN: chat_doc | completions_doc,
    FEEDBACK: feedback_doc,
}
seeds = st.sampled_from(POSTS).flatmap(
    lambda path: st.builds(
        Seed,
        path=st.just(path),
        doc=_docs[path],
        headers=st.lists(header, max_size=4).map(tuple),
        ascii=st.booleans(),
    )
)


def draw_seeds(count: int) -> list[Seed]:
    """``count`` seeds, the same ones in every run (derandomized)."""
    out: list[Seed] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(seeds)
    def collect(seed: Seed) -> None:
        out.append(seed)

    collect()
    return out[:count]


# -- stage 2: wire-level mutations (seeded random, fast) ------------------------------

Mutation = Callable[[bytes, random.Random], bytes]
_BAD_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xfe")
_ESCAPES = (b"\\ud800", b"\\udfff\\ud800", b"\\u0000", b"\\uZZZZ", b"\\", b"\\x41")
_NUMBERS = (b"1e400", b"-0", b"1" * 400, b"NaN", b"-Infinity", b"1e-400", b"18446744073709551616")
_SCALARS = (b"[]", b"null", b'"x"', b"1", b"true", b"[{}]", b" ", b"\xef\xbb\xbf{}")


def _into_string(body: bytes, rnd: random.Random, piece: bytes) -> bytes:
    """``piece`` right after a random double quote (inside or next to a string)."""
    quotes = [i for i, c in enumerate(body[:4096]) if c == 0x22]
    at = rnd.choice(quotes) + 1 if quotes else rnd.randrange(len(body) + 1)
    return body[:at] + piece + body[at:]


def _nest(body: bytes, rnd: random.Random) -> bytes:
    depth = int(2 ** rnd.uniform(0, 12))  # 1 .. 4096 levels
    opener, closer = rnd.choice(((b"[", b"]"), (b'{"a":', b"}")))
    inner = b"1" if opener != b"[" else b""
    nested = opener * depth + inner + closer * depth
    if body.startswith(b"{") and len(body) > 2:
        return b'{"deep":' + nested + b"," + body[1:]
    return nested


def _flip(body: bytes, rnd: random.Random) -> bytes:
    data = bytearray(body or b"{}")
    for _ in range(rnd.randint(1, 3)):
        data[rnd.randrange(len(data))] = rnd.randrange(256)
    return bytes(data)


def _cut_or_insert(body: bytes, rnd: random.Random) -> bytes:
    at = rnd.randrange(len(body) + 1)
    if rnd.random() < 0.5:
        return body[:at] + body[at + rnd.randint(1, 8) :]
    return body[:at] + bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 4))) + body[at:]


def _pad(body: bytes, rnd: random.Random) -> bytes:
    size = rnd.choice((BODY_LIMIT - len(body) - 20, BODY_LIMIT, BODY_LIMIT * 2, 4000))
    pad = b'"pad":"' + b"a" * max(size, 0) + b'",'
    return b"{" + pad + body[1:] if body.startswith(b"{") else body + pad


MUTATIONS: dict[str, Mutation] = {
    "as_is": lambda b, r: b,
    "truncated": lambda b, r: b[: r.randrange(len(b) + 1)],
    "invalid_utf8": lambda b, r: _into_string(b, r, r.choice(_BAD_UTF8)),
    "escape": lambda b, r: _into_string(b, r, r.choice(_ESCAPES)),
    "nested": _nest,
    "flipped": _flip,
    "cut_or_insert": _cut_or_insert,
    "number_edge": lambda b, r: (
        b'{"n":' + r.choice(_NUMBERS) + b"," + b[1:] if b.startswith(b"{") else r.choice(_NUMBERS)
    ),
    "duplicate_key": lambda b, r: b'{"model":"other",' + b[1:] if b.startswith(b"{") else b,
    "padded": _pad,
    "trailing": lambda b, r: b + r.choice((b"x", b" \n", b"}", b"]", b"\x00", b"{}")),
    "not_an_object": lambda b, r: r.choice(_SCALARS),
    "empty": lambda b, r: b"",
    "utf16": lambda b, r: b.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass"),
}
_NAMES = list(MUTATIONS)
_WEIGHTS = [15, 10, 10, 6, 6, 8, 6, 3, 2, 2, 3, 2, 1, 1]


def encode(seed: Seed, rnd: random.Random) -> bytes:
    separators = rnd.choice(((",", ":"), (", ", ": ")))
    text = json.dumps(seed.doc, ensure_ascii=seed.ascii, separators=separators)
    return text.encode("utf-8", "surrogatepass")


_OTHER_REQUESTS = (
    (b"GET", b"/v1/models"),
    (b"GET", b"/v1/models/hybrid"),
    (b"GET", b"/v1/models/%ff%00"),
    (b"GET", b"/healthz"),
    (b"GET", b"/readyz"),
    (b"GET", b"/v1/chat/completions"),
    (b"PUT", b"/v1/completions"),
    (b"DELETE", b"/v1/feedback"),
    (b"POST", b"/v1/models"),
    (b"POST", b"/nope/%2e%2e/x"),
    (b"POST", b"/v1/chat/completions/"),
    (b"PATCH", b"/metrics"),
)


def cases(seed_list: list[Seed], per_seed: int, *, seed: int = 0) -> Iterator[Case]:
    """``per_seed`` variants of every seed (about 2% of them other methods and paths)."""
    rnd = random.Random(seed)
    for s in seed_list:
        base = encode(s, rnd)
        for kind in rnd.choices(_NAMES, _WEIGHTS, k=per_seed):
            if rnd.random() < 0.02:
                method, path = rnd.choice(_OTHER_REQUESTS)
                yield Case(method, path, list(s.headers), b"", None, "other_request")
                continue
            body = MUTATIONS[kind](base, rnd)
            path = s.path if rnd.random() < 0.8 else rnd.choice(POSTS)
            if rnd.random() < 0.05:
                path += rnd.choice((b"?x=1", b"?stream=true", b"?"))
            chunks = None
            if body and rnd.random() < 0.15:
                chunks = [rnd.randint(1, 64) for _ in range(len(body) // 16 + 1)]
                chunks.append(len(body))
            yield Case(b"POST", path, list(s.headers), body, chunks, kind)
