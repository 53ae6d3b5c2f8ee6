"""The whole stack: kube-apiserver + controllers + kwok, the operator, a router process
following the operator's ConfigMap, and two replay model servers answering MMLU
questions from recorded RouteLLM outcomes; clients are the openai SDK and kubectl."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from hybridroute_localstack import ControlPlane, PrometheusFactory, eventually
from hybridroute_localstack.probe import free_port
from hybridroute_localstack.replay import ReplayServerProcess
from hybridroute_localstack.replaybook import (
    SEPARATED,
    Outcome,
    ReplayBook,
    Role,
    answer_text,
    mean_logprob,
)
from operator_harness import OperatorProcess, RouterProcess, crd_namespace, get_json, http_text
from stack import (
    HEADERS,
    Answer,
    ask,
    ask_streaming,
    conditions,
    cost_at,
    explain_target,
    hybridroute,
    mean,
    metric_sum,
    patch_policy,
    replay_servers,
    sample,
    served,
    start_replay,
)

pytestmark = pytest.mark.e2e

ROUTE = "mmlu"
PUBLIC_MODEL = "mmlu-hybrid"
THRESHOLD = 0.3  # the default scorer is P(small answers wrong): Mixtral misses ~29% of MMLU
QUESTIONS = 100
SEED = 2406


@pytest.fixture(scope="module")
def questions(book: ReplayBook) -> list[Outcome]:
    return sample(book, QUESTIONS, SEED)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def namespace(cluster: ControlPlane) -> Iterator[str]:
    with crd_namespace(cluster, "e2e") as name:
        yield name


@pytest.fixture(scope="module")
def replays(book: ReplayBook, workdir: Path) -> Iterator[dict[Role, ReplayServerProcess]]:
    with replay_servers(workdir) as servers:
        yield servers


@pytest.fixture(scope="module")
def operator(cluster: ControlPlane, namespace: str, workdir: Path) -> Iterator[OperatorProcess]:
    """The operator with its validating admission webhook on (served on loopback, where
    the local API server reaches it)."""
    webhook = ["--webhook-port", str(free_port()), "--webhook-host", "127.0.0.1"]
    proc = OperatorProcess(cluster, namespace, workdir, *webhook).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def route(
    cluster: ControlPlane,
    namespace: str,
    operator: OperatorProcess,
    replays: dict[Role, ReplayServerProcess],
) -> str:
    """The HybridRoute applied with kubectl, once the operator reports it Ready and
    Reconciled and its policy ConfigMap names the replay servers."""
    manifest = hybridroute(
        ROUTE, PUBLIC_MODEL, replays["large"].base_url, replays["small"].base_url, THRESHOLD
    )
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    eventually(
        lambda: (
            (c := conditions(cluster, namespace, ROUTE))
            and c.get("Ready") == "True"
            and c.get("Reconciled") == "True"
        ),
        "HybridRoute Ready and Reconciled",
        timeout=90,
    )
    configmap = get_json(cluster, "configmap", f"{ROUTE}-policy", "-n", namespace)
    assert configmap is not None, "the operator wrote no policy ConfigMap"
    policy = configmap["data"]["policy.yaml"]
    assert replays["large"].base_url in policy
    assert replays["small"].base_url in policy
    return ROUTE


@pytest.fixture(scope="module")
def router(
    cluster: ControlPlane, namespace: str, route: str, workdir: Path
) -> Iterator[RouterProcess]:
    """``hybridroute-router`` on loopback, following the operator's ConfigMap (the router
    pods in kwok are simulated, so the real router runs as a local process)."""
    proc = RouterProcess(cluster.kubeconfig, f"{namespace}/{route}-policy", workdir)
    proc.start()
    try:

        def serving() -> dict[str, Any] | None:
            return proc.ready() if proc.running else None

        ready = eventually(serving, "router ready with the policy", timeout=60)
        assert ready["source"].startswith("configmap"), ready
        assert ready["scorer"] == "learned", ready
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(router: RouterProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{router.url}/v1", api_key="e2e", max_retries=0) as c:
        yield c


def metrics(router: RouterProcess) -> str:
    return http_text(f"{router.url}/metrics")


def routed_to(router: RouterProcess, role: Role, reason: str | None = None) -> float:
    labels = {"route": ROUTE, "model": role, "code": "200"}
    if reason is not None:
        labels["reason"] = reason
    return metric_sum(metrics(router), "hybridroute_requests_total", **labels)


def set_threshold(
    cluster: ControlPlane, namespace: str, router: RouterProcess, threshold: float
) -> float:
    """Patch the HybridRoute and wait until the running router applies the threshold;
    returns how long that took (seconds)."""
    started = time.monotonic()
    patch_policy(cluster, namespace, ROUTE, {"complexity": {"threshold": threshold}})
    eventually(
        lambda: router.threshold(ROUTE) == threshold,
        f"router serving threshold {threshold}",
        timeout=30,
        interval=0.05,
    )
    return time.monotonic() - started


def test_routed_mmlu_answers_score_between_small_only_and_large_only(
    router: RouterProcess,
    client: openai.OpenAI,
    replays: dict[Role, ReplayServerProcess],
    questions: list[Outcome],
) -> None:
    before = {role: (routed_to(router, role), served(replays[role])) for role in replays}
    cost_before = metric_sum(metrics(router), "hybridroute_cost_usd_total", route=ROUTE)

    answers = [ask(client, PUBLIC_MODEL, q) for q in questions]

    for a in answers:
        assert all(h in a.headers for h in HEADERS), a.headers
        assert a.headers["x-hybridroute-request-id"], a.headers
        assert a.headers["x-hybridroute-model"] == f"replay-{a.role}"
        assert a.headers["x-hybridroute-reason"] in (
            "complexity_above_threshold",
            "complexity_below_threshold",
        )
        # the text came from the model the headers name: it carries that model's outcome
        assert a.quality == float(a.question.correct(a.role)), (a.headers, a.text)
    count = {role: sum(a.role == role for a in answers) for role in replays}
    assert 0.2 <= count["small"] / len(answers) <= 0.8, count

    routed = mean([a.quality for a in answers])
    small_only = mean([float(q.small) for q in questions])
    large_only = mean([float(q.large) for q in questions])
    assert small_only < routed <= large_only, (small_only, routed, large_only, count)

    for role in replays:
        counted, answered = before[role]
        assert routed_to(router, role) - counted == count[role], role
        assert served(replays[role]) - answered == count[role], role
    # cost by the HybridRoute's prices, from the usage the SDK saw
    cost = metric_sum(metrics(router), "hybridroute_cost_usd_total", route=ROUTE) - cost_before
    assert cost == pytest.approx(sum(a.cost for a in answers), rel=1e-9)
    all_large = sum(cost_at("large", a.usage) for a in answers)  # same tokens, large prices
    assert cost < all_large
    print(
        f"\n{len(answers)} MMLU questions: {count['small']} to small;"
        f" quality small-only {small_only:.3f}, routed {routed:.3f}, large-only {large_only:.3f};"
        f" cost ${cost:.4f} vs ${all_large:.4f} all-large"
    )


def test_threshold_edits_reach_the_running_router_without_a_restart(
    cluster: ControlPlane,
    namespace: str,
    router: RouterProcess,
    client: openai.OpenAI,
    questions: list[Outcome],
) -> None:
    pid = router.proc.pid if router.proc else None
    subset = questions[:30]
    edits: list[tuple[float, Role, str]] = [
        (0.0, "large", "complexity_above_threshold"),  # every question large
        (1.0, "small", "complexity_below_threshold"),  # then every question small
    ]
    try:
        for threshold, role, reason in edits:
            took = set_threshold(cluster, namespace, router, threshold)
            every = [ask(client, PUBLIC_MODEL, q) for q in subset]
            assert {a.role for a in every} == {role}, [a.headers for a in every]
            assert {a.headers["x-hybridroute-reason"] for a in every} == {reason}
            assert mean([a.quality for a in every]) == mean(
                [float(q.correct(role)) for q in subset]
            )
            assert took < 10, f"threshold {threshold} took {took:.1f}s to reach the router"
            print(f"\nthreshold {threshold}: kubectl patch -> router in {took:.2f}s")
    finally:
        set_threshold(cluster, namespace, router, THRESHOLD)
    assert router.running
    assert router.proc is not None
    assert router.proc.pid == pid
    assert eventually(
        lambda: conditions(cluster, namespace, ROUTE).get("Ready") == "True",
        "the route Ready at its latest generation",
    )
    route = get_json(cluster, "hybridroute", ROUTE, "-n", namespace)
    assert route is not None
    assert route["status"]["policy"]["threshold"] == THRESHOLD


def test_a_streamed_answer_arrives_whole_through_the_router(
    router: RouterProcess, client: openai.OpenAI, questions: list[Outcome]
) -> None:
    streamed: list[Answer] = []
    for question in questions[:6]:
        answer, usage = ask_streaming(client, PUBLIC_MODEL, question)
        assert answer.text == answer_text(question.prompt, question.correct(answer.role))
        assert usage is not None
        assert usage.completion_tokens == len(answer.text.split())
        assert all(h in answer.headers for h in HEADERS), answer.headers
        streamed.append(answer)
    assert len(streamed) == 6


def test_prometheus_scrapes_the_routers_request_count(
    router: RouterProcess,
    client: openai.OpenAI,
    questions: list[Outcome],
    prometheus_server: PrometheusFactory,
) -> None:
    for question in questions[:5]:
        ask(client, PUBLIC_MODEL, question)
    served = metric_sum(metrics(router), "hybridroute_requests_total", route=ROUTE)
    prometheus = prometheus_server([f"127.0.0.1:{router.port}"], job="router")

    def scraped() -> float | None:
        result = prometheus.query(f'sum(hybridroute_requests_total{{route="{ROUTE}"}})')
        return float(result[0]["value"][1]) if result else None

    assert eventually(lambda: scraped() == served, "Prometheus has the count", timeout=30)
    by_model = prometheus.query(
        f'sum by (model) (hybridroute_requests_total{{route="{ROUTE}",code="200"}})'
    )
    assert by_model, "no per-model series in Prometheus"
    for series in by_model:
        model = series["metric"]["model"]
        assert float(series["value"][1]) == routed_to(router, model), model


def test_low_confidence_small_answers_escalate_to_the_large_model(
    cluster: ControlPlane,
    namespace: str,
    router: RouterProcess,
    client: openai.OpenAI,
    questions: list[Outcome],
) -> None:
    """The cascade switched on in the HybridRoute: small answers whose (replayed) mean
    logprob is below the bound are answered again by the large model."""
    bound = -0.3
    original = router.ready()["policy"]
    escalated_before = metric_sum(metrics(router), "hybridroute_escalations_total", route=ROUTE)
    patch_policy(
        cluster, namespace, ROUTE, {"confidence": {"enabled": True, "minMeanLogprob": bound}}
    )
    try:
        eventually(lambda: router.ready()["policy"] != original, "router took the cascade")
        answers = [ask(client, PUBLIC_MODEL, q) for q in questions]
    finally:
        patch_policy(cluster, namespace, ROUTE, {"confidence": None})
        eventually(lambda: router.ready()["policy"] == original, "router left the cascade")

    escalated = [
        a for a in answers if a.headers["x-hybridroute-reason"] == "low_confidence_escalation"
    ]
    for a in answers:
        reason = a.headers["x-hybridroute-reason"]
        if reason == "complexity_above_threshold":
            assert a.role == "large"
            continue
        unsure = mean_logprob(a.question.prompt, a.question.small, SEPARATED) < bound
        assert reason == ("low_confidence_escalation" if unsure else "complexity_below_threshold")
        assert a.role == ("large" if unsure else "small"), a.headers
        assert a.quality == float(a.question.correct(a.role))
        assert not a.logprobs, "logprobs the client did not ask for were passed on"
    assert escalated, "no small answer was unsure enough to escalate"
    counted = metric_sum(metrics(router), "hybridroute_escalations_total", route=ROUTE)
    assert counted - escalated_before == len(escalated)

    with_cascade = mean([a.quality for a in answers])
    without = mean([float(a.question.small) if a in escalated else a.quality for a in answers])
    assert with_cascade > without, (without, with_cascade)
    print(
        f"\ncascade (minMeanLogprob {bound}): {len(escalated)} escalations;"
        f" quality {without:.3f} -> {with_cascade:.3f}"
    )


def test_rejected_policy_edits_leave_the_last_good_policy_serving(
    cluster: ControlPlane,
    namespace: str,
    router: RouterProcess,
    client: openai.OpenAI,
    questions: list[Outcome],
) -> None:
    """A bad edit is refused at ``kubectl`` with a readable message, by the CRD schema or
    by the operator's admission webhook; the router keeps its policy and keeps answering."""
    serving = router.ready()["policy"]

    out_of_bounds = patch_policy(
        cluster, namespace, ROUTE, {"complexity": {"threshold": 1.5}}, check=False
    )
    assert out_of_bounds.returncode != 0
    assert "threshold" in out_of_bounds.stderr, out_of_bounds.stderr

    def refused_by_webhook() -> str | None:
        tiers = {"tiers": {"rules": {"critical": "large"}, "default": "gold"}}
        result = patch_policy(cluster, namespace, ROUTE, tiers, check=False)
        if result.returncode == 0:  # the webhook was not registered yet: undo, try again
            patch_policy(cluster, namespace, ROUTE, {"tiers": None})
            return None
        return result.stderr

    stderr = eventually(refused_by_webhook, "the webhook refusing an unknown default tier")
    assert "'gold' is not a tier in rules" in stderr, stderr

    spec = get_json(cluster, "hybridroute", ROUTE, "-n", namespace)
    assert spec is not None
    assert spec["spec"]["policy"]["complexity"]["threshold"] == THRESHOLD
    assert (spec["spec"]["policy"].get("tiers") or {}).get("default") != "gold"
    assert router.ready()["policy"] == serving
    answer = ask(client, PUBLIC_MODEL, questions[0])
    assert answer.quality == float(questions[0].correct(answer.role))


def test_a_small_model_outage_falls_back_to_large_and_traffic_returns_after(
    cluster: ControlPlane,
    namespace: str,
    router: RouterProcess,
    client: openai.OpenAI,
    replays: dict[Role, ReplayServerProcess],
    workdir: Path,
    questions: list[Outcome],
) -> None:
    """The small replay server dies: its questions are answered by large (fallback, then
    the open circuit), nobody sees an error; it comes back: small answers again."""
    original = router.ready()["policy"]
    smalls = [q for q in questions if explain_target(router.url, PUBLIC_MODEL, q) == "small"]
    assert len(smalls) >= 10
    patch_policy(
        cluster, namespace, ROUTE, {"circuitBreaker": {"failureThreshold": 2, "openSeconds": 1}}
    )
    small = replays["small"]
    try:
        eventually(lambda: router.ready()["policy"] != original, "router took the breaker")
        small.stop()
        during = [ask(client, PUBLIC_MODEL, q) for q in smalls[:10]]
        assert {a.role for a in during} == {"large"}, [a.headers for a in during]
        reasons = {a.headers["x-hybridroute-reason"] for a in during}
        assert reasons <= {"fallback_small_to_large", "no_small_version_ready"}, reasons
        assert "fallback_small_to_large" in reasons
        assert all(a.quality == float(a.question.large) for a in during)
    finally:
        if not replays["small"].component.running():
            replays["small"] = start_replay("small", workdir, port=small.port)
        patch_policy(cluster, namespace, ROUTE, {"circuitBreaker": None})
        eventually(lambda: router.ready()["policy"] == original, "router back on its policy")

    def answered_by_small() -> Answer | None:
        answer = ask(client, PUBLIC_MODEL, smalls[0])
        return answer if answer.role == "small" else None

    back = eventually(answered_by_small, "small answering again", timeout=30)
    assert back.headers["x-hybridroute-reason"] == "complexity_below_threshold"
