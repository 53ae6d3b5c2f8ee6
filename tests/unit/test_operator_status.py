"""Status conditions and problems, as pure functions of spec, observations and outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_operator.api import parse_spec
from hybridroute_operator.observed import (
    LARGE,
    EndpointHealth,
    Observed,
    RouterHealth,
    endpoint_health,
    small_target,
)
from hybridroute_operator.render import RouteRef, build_policy
from hybridroute_operator.status import Outcome, build_status, find_problems, same_status

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
ROUTE = RouteRef("support", "llm", "uid-1", generation=4)
READY = EndpointHealth(ready=1, total=1)
SERVING = RouterHealth(desired=2, ready=2, available=2, exists=True)
APPLIED = Outcome("applied")


def spec_with(**endpoint_override: Any) -> Any:
    raw = yaml.safe_load(
        (ROOT / "examples/02-hybridroute/hybridroute.yaml").read_text(encoding="utf-8")
    )
    if endpoint_override:
        raw["spec"]["large"]["endpoint"] = endpoint_override
    return parse_spec(raw["spec"])


def observed(
    large: EndpointHealth = READY,
    v3: EndpointHealth = READY,
    v4: EndpointHealth = READY,
    router: RouterHealth = SERVING,
) -> Observed:
    return Observed(
        endpoints={LARGE: large, small_target("v3"): v3, small_target("v4"): v4}, router=router
    )


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def status_for(
    obs: Observed,
    outcome: Outcome = APPLIED,
    previous: dict[str, Any] | None = None,
    now: str = "2026-01-01T00:00:00Z",
) -> dict[str, Any]:
    spec = spec_with()
    return build_status(
        spec=spec,
        observed=obs,
        outcome=outcome,
        problems=find_problems(spec, obs),
        policy=build_policy(ROUTE, spec, obs),
        generation=ROUTE.generation,
        endpoint="http://support-router.llm.svc:8080/v1",
        now=now,
        previous=previous or {},
    )


@pytest.mark.parametrize(
    ("obs", "ready", "degraded"),
    [
        (observed(), ("True", "RouterServing"), ("False", "AllTargetsReady")),
        (
            observed(router=RouterHealth(desired=2)),
            ("False", "RouterNotAvailable"),
            ("False", "AllTargetsReady"),
        ),
        (
            observed(large=EndpointHealth(0, 0)),
            ("False", "LargeModelNotReady"),
            ("True", "NoPodsSelected"),
        ),
        (
            observed(v4=EndpointHealth(0, 3)),
            ("True", "RouterServing"),
            ("True", "NoReadyEndpoints"),
        ),
        (
            observed(v3=EndpointHealth(0, 1), v4=EndpointHealth(0, 1)),
            ("False", "NoSmallVersionReady"),
            ("True", "NoReadyEndpoints"),
        ),
    ],
)
def test_conditions_follow_what_was_observed(
    obs: Observed, ready: tuple[str, str], degraded: tuple[str, str]
) -> None:
    found = conditions(status_for(obs))
    assert found["Ready"] == ready
    assert found["Degraded"] == degraded
    assert found["Reconciled"] == ("True", "Applied")


def test_degraded_message_names_the_version_and_the_selector() -> None:
    status = status_for(observed(v4=EndpointHealth(0, 0)))
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert (
        degraded["message"]
        == "small version v4: selector {'app': 'student', 'version': 'v4'} matches no pods"
    )


def test_missing_referenced_service_blocks_the_policy_with_a_clear_message() -> None:
    spec = spec_with(service="llama-svc", port=8000)
    obs = Observed(
        endpoints={
            LARGE: EndpointHealth(service_exists=False),
            small_target("v3"): READY,
            small_target("v4"): READY,
        },
        router=SERVING,
    )
    problems = find_problems(spec, obs)
    assert [(p.reason, p.blocking) for p in problems] == [("ServiceNotFound", True)]
    assert "Service 'llama-svc' does not exist" in problems[0].message


def test_invalid_spec_is_reported_not_ready_and_not_reconciled() -> None:
    status = build_status(
        spec=None,
        observed=Observed(),
        outcome=Outcome("invalid", "InvalidSpec", "spec.x: bad"),
        problems=[],
        policy=None,
        generation=7,
        endpoint="e",
        now="t",
        previous={},
    )
    found = conditions(status)
    assert found["Ready"] == ("False", "InvalidSpec")
    assert found["Reconciled"] == ("False", "InvalidSpec")
    assert "policy" not in status  # the last good summary stays


def test_status_carries_generation_endpoint_versions_and_policy_summary() -> None:
    status = status_for(observed(v4=EndpointHealth(0, 2)))
    assert status["observedGeneration"] == 4
    assert status["routerEndpoint"] == "http://support-router.llm.svc:8080/v1"
    assert status["versions"][1] == {
        "name": "v4",
        "weight": 10,
        "ready": False,
        "readyEndpoints": 0,
        "totalEndpoints": 2,
    }
    assert status["policy"]["threshold"] == 0.5
    assert status["policy"]["canaryWeight"] == 10
    assert status["policy"]["stableVersion"] == "v3"
    assert status["policy"]["readyVersions"] == ["v3"]


def test_transition_time_moves_only_when_the_condition_flips() -> None:
    first = status_for(observed(), now="2026-01-01T00:00:00Z")
    same = status_for(observed(), previous=first, now="2026-01-01T00:05:00Z")
    assert same_status(first, same)
    flipped = status_for(
        observed(router=RouterHealth(desired=2)), previous=first, now="2026-01-01T00:09:00Z"
    )
    times = {c["type"]: c["lastTransitionTime"] for c in flipped["conditions"]}
    assert times["Ready"] == "2026-01-01T00:09:00Z"
    assert times["Reconciled"] == "2026-01-01T00:00:00Z"


def test_conditions_of_other_controllers_are_kept() -> None:
    canary = {
        "type": "CanaryProgressing",
        "status": "True",
        "reason": "Advancing",
        "message": "m",
        "lastTransitionTime": "t",
    }
    status = status_for(observed(), previous={"conditions": [canary]})
    assert canary in status["conditions"]


def test_endpoint_health_counts_ready_endpoints_over_slices() -> None:
    slices: list[dict[str, Any]] = [
        {"endpoints": [{"conditions": {"ready": True}}, {"conditions": {"ready": False}}]},
        {"endpoints": [{"conditions": {}}]},
        {"endpoints": None},
    ]
    assert endpoint_health(slices) == EndpointHealth(ready=2, total=3)


@pytest.mark.parametrize(
    ("obs", "outcome", "reconciling", "stalled"),
    [
        (observed(), APPLIED, ("False", "Settled"), ("False", "NotStalled")),
        (
            observed(large=EndpointHealth(0, 1)),
            APPLIED,
            ("True", "LargeModelNotReady"),
            ("False", "NotStalled"),
        ),
        (
            observed(),
            Outcome("blocked", "ServiceNotFound", "large model: Service 'x' does not exist"),
            ("False", "Settled"),
            ("True", "ServiceNotFound"),
        ),
        (
            Observed(),
            Outcome("invalid", "InvalidSpec", "spec.small: field required"),
            ("False", "Settled"),
            ("True", "InvalidSpec"),
        ),
    ],
)
def test_kstatus_conditions_say_whether_to_wait_or_give_up(
    obs: Observed,
    outcome: Outcome,
    reconciling: tuple[str, str],
    stalled: tuple[str, str],
) -> None:
    """Flux's default health check (kstatus) waits while Reconciling is True and fails on
    Stalled: a route still coming up is Reconciling, one blocked on a person is Stalled."""
    found = conditions(status_for(obs, outcome))
    assert found["Reconciling"] == reconciling
    assert found["Stalled"] == stalled
