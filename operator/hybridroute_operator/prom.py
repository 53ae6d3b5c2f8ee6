"""The operator's Prometheus client: instant queries over the HTTP API (``/api/v1/query``).

Shared by every control loop that reads Prometheus (load adaptation, canary analysis,
savings). Each query ends in one of a few bounded results, the same strings as the
``result`` label of ``hybridroute_operator_prometheus_queries_total``:

- ``ok``: the expected number of series came back;
- ``no_data``: the query ran and matched no series (or only NaN);
- ``ambiguous``: a query meant to give one number gave several series;
- ``error``: Prometheus answered with an error (bad PromQL, a timeout on its side);
- ``unreachable``: no answer (connection refused, DNS, our own timeout).

Failures raise ``QueryError`` with that result, the query and Prometheus' message, so a
controller can hold its last value with a reason of its own: a failed query never
becomes a zero.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import httpx

QueryResult = Literal["ok", "no_data", "ambiguous", "error", "unreachable"]
Purpose = Literal["adaptation", "canary", "savings"]


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels, value and evaluation time (unix s)."""

    labels: Mapping[str, str]
    value: float
    time: float


class QueryError(Exception):
    def __init__(self, result: QueryResult, query: str, message: str) -> None:
        super().__init__(f"{result}: {message} (query: {query})")
        self.result = result
        self.query = query
        self.message = message


class QueryObserver(Protocol):
    """Where query outcomes are counted (the operator's metrics; tests may pass a list)."""

    def observe_query(self, purpose: Purpose, result: QueryResult, seconds: float) -> None: ...


@dataclass
class _Discard:
    def observe_query(self, purpose: Purpose, result: QueryResult, seconds: float) -> None:
        return None


def parse_vector(query: str, payload: object) -> list[Sample]:
    """The samples of a ``/api/v1/query`` JSON answer (pure). Scalars become one sample
    without labels; NaN samples are dropped (``0/0`` is no data, not a number)."""
    if not isinstance(payload, dict):
        raise QueryError("error", query, "answer is not a JSON object")
    if payload.get("status") != "success":
        kind = payload.get("errorType", "error")
        raise QueryError("error", query, f"{kind}: {payload.get('error', 'unknown error')}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise QueryError("error", query, "answer has no data")
    result_type, result = data.get("resultType"), data.get("result")
    rows: list[tuple[Mapping[str, str], object]]
    if result_type == "vector" and isinstance(result, list):
        rows = [(dict(item.get("metric") or {}), item.get("value")) for item in result]
    elif result_type == "scalar":
        rows = [({}, result)]
    else:
        raise QueryError("error", query, f"expected an instant vector, got {result_type}")
    samples = []
    for labels, pair in rows:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise QueryError("error", query, "malformed sample")
        value = float(pair[1])
        if not math.isnan(value):
            samples.append(Sample(labels=labels, value=value, time=float(pair[0])))
    return samples


@dataclass
class PrometheusClient:
    """One Prometheus server. ``bearer_token`` is sent as ``Authorization: Bearer``."""

    url: str
    bearer_token: str | None = None
    timeout_seconds: float = 5.0
    observer: QueryObserver = field(default_factory=_Discard)
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Accept": "application/json"}
            if self.bearer_token:
                headers["Authorization"] = f"Bearer {self.bearer_token}"
            self._client = httpx.AsyncClient(
                base_url=self.url.rstrip("/"), headers=headers, timeout=self.timeout_seconds
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def vector(self, query: str, *, purpose: Purpose) -> list[Sample]:
        """Every series the query returns (possibly none)."""
        started = time.perf_counter()
        result: QueryResult = "error"
        try:
            samples = await self._query(query)
            result = "ok" if samples else "no_data"
            return samples
        except QueryError as exc:
            result = exc.result
            raise
        finally:
            self.observer.observe_query(purpose, result, time.perf_counter() - started)

    async def scalar(self, query: str, *, purpose: Purpose) -> Sample:
        """Exactly one number: no series or several series are errors of their own."""
        started = time.perf_counter()
        result: QueryResult = "error"
        try:
            samples = await self._query(query)
            if not samples:
                result = "no_data"
                raise QueryError("no_data", query, "the query returned no series")
            if len(samples) > 1:
                result = "ambiguous"
                shown = ", ".join(_show(s.labels) for s in samples[:3])
                raise QueryError(
                    "ambiguous",
                    query,
                    f"the query returned {len(samples)} series ({shown}); aggregate it "
                    "to one, e.g. with sum(...)",
                )
            result = "ok"
            return samples[0]
        except QueryError as exc:
            result = exc.result
            raise
        finally:
            self.observer.observe_query(purpose, result, time.perf_counter() - started)

    async def _query(self, query: str) -> list[Sample]:
        try:
            response = await self._http().post("/api/v1/query", data={"query": query})
        except httpx.HTTPError as exc:
            raise QueryError(
                "unreachable", query, f"Prometheus at {self.url} unreachable: {exc!r}"
            ) from exc
        try:
            payload = response.json()
        except ValueError:
            raise QueryError(
                "error", query, f"HTTP {response.status_code} from Prometheus, not JSON"
            ) from None
        return parse_vector(query, payload)


def _show(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


@dataclass
class PrometheusPool:
    """One client per (URL, token, timeout), shared by the loops of every route."""

    observer: QueryObserver = field(default_factory=_Discard)
    _clients: dict[tuple[str, str | None, float], PrometheusClient] = field(
        default_factory=dict, init=False
    )

    def get(self, url: str, bearer_token: str | None, timeout_seconds: float) -> PrometheusClient:
        key = (url, bearer_token, timeout_seconds)
        client = self._clients.get(key)
        if client is None:
            client = PrometheusClient(url, bearer_token, timeout_seconds, self.observer)
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def fill(template: str, values: Mapping[str, str]) -> str:
    """A PromQL template with ``{route}``, ``{namespace}``, ``{version}``... placeholders
    filled in. Only the named placeholders are replaced (PromQL's own braces stay); label
    values are escaped for PromQL string literals."""
    out = template
    for name, value in values.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        out = out.replace("{" + name + "}", escaped)
    return out
