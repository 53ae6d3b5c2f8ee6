"""vLLM-style Prometheus metrics of a replay server (names as vLLM's OpenAI server
exports them, label ``model_name``), in a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
TTFT_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)


@dataclass
class VllmMetrics:
    """The gauges, counters and histograms one replay server updates."""

    model: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r, labels = self.registry, ["model_name"]
        self.running = Gauge(
            "vllm:num_requests_running", "Requests in service.", labels, registry=r
        ).labels(self.model)
        self.waiting = Gauge(
            "vllm:num_requests_waiting", "Requests queued over capacity.", labels, registry=r
        ).labels(self.model)
        self.gpu_cache = Gauge(
            "vllm:gpu_cache_usage_perc",
            "KV-cache use, 0-1 (the replay: running / capacity).",
            labels,
            registry=r,
        ).labels(self.model)
        self.kv_cache = Gauge(
            "vllm:kv_cache_usage_perc",
            "KV-cache use, 0-1 (newer vLLM name of gpu_cache_usage_perc).",
            labels,
            registry=r,
        ).labels(self.model)
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Request latency, queue included.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=r,
        ).labels(self.model)
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Time to the first token, queue included.",
            labels,
            buckets=TTFT_BUCKETS,
            registry=r,
        ).labels(self.model)
        self.success = Counter(
            "vllm:request_success", "Finished requests.", [*labels, "finished_reason"], registry=r
        )
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Prompt tokens processed.", labels, registry=r
        ).labels(self.model)
        self.generation_tokens = Counter(
            "vllm:generation_tokens", "Tokens generated.", labels, registry=r
        ).labels(self.model)
        self.replay = Counter(
            "replay_requests",
            "Replay outcomes: answered from the book, unknown prompt, injected error.",
            ["outcome"],
            registry=r,
        )

    def occupancy(self, running: int, waiting: int, capacity: int) -> None:
        self.running.set(running)
        self.waiting.set(waiting)
        usage = min(1.0, running / capacity) if capacity else 0.0
        self.gpu_cache.set(usage)
        self.kv_cache.set(usage)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
