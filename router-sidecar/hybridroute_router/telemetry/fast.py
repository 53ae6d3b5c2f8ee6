"""Lock-free counters and histograms for the per-request metrics.

prometheus_client takes a lock and runs several Python calls per update; the router
updates about ten series per request, all from its one event-loop thread. These classes
keep plain floats per label set and hand prometheus_client ready-made metric families
at scrape time (``generate_latest`` runs on the same thread), so an update is one
attribute increment. Exposition is identical to prometheus_client's Counter and
Histogram (minus the ``_created`` series).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class CounterCell:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramCell:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # first bucket with le >= value
        self.sum += value


class FastCounter:
    _type = "counter"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._cells: dict[tuple[str, ...], CounterCell] = {}

    def labels(self, *values: str) -> CounterCell:
        cell = self._cells.get(values)
        if cell is None:
            if len(values) != len(self._labelnames):
                raise ValueError(f"{self._name} takes labels {self._labelnames}")
            cell = self._cells[values] = CounterCell()
        return cell

    def family(self) -> Metric:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for values, cell in self._cells.items():
            family.add_metric(values, cell.value)
        return family


class FastHistogram:
    _type = "histogram"

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._bounds = tuple(float(b) for b in buckets)
        self._les = [repr(b) for b in self._bounds]  # as prometheus_client writes "le"
        self._cells: dict[tuple[str, ...], HistogramCell] = {}

    def labels(self, *values: str) -> HistogramCell:
        cell = self._cells.get(values)
        if cell is None:
            if len(values) != len(self._labelnames):
                raise ValueError(f"{self._name} takes labels {self._labelnames}")
            cell = self._cells[values] = HistogramCell(self._bounds)
        return cell

    def family(self) -> Metric:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for values, cell in self._cells.items():
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for le, count in zip((*self._les, "+Inf"), cell.counts, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(values, buckets, cell.sum)
        return family


FastMetric = FastCounter | FastHistogram


class FastCollector(Collector):
    """Exposes fast metrics through a prometheus_client registry."""

    def __init__(self, metrics: Iterable[FastMetric]) -> None:
        self.metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        for metric in self.metrics:
            yield metric.family()

    def describe(self) -> Iterator[Metric]:
        return self.collect()
