"""Scorer artifacts and similarity examples from ConfigMaps: the router mounts them, the
policy points at the mounted files with the ConfigMap content's hash, a missing or
incomplete ConfigMap blocks the policy (pure; no cluster)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_operator.api import SpecError, parse_spec
from hybridroute_operator.artifacts import SCORER_KEYS
from hybridroute_operator.observed import LARGE, EndpointHealth, Observed, configmap_files
from hybridroute_operator.observed import small_target as small
from hybridroute_operator.render import RouteRef, build_policy, render
from hybridroute_operator.render.router import build_deployment
from hybridroute_operator.status import Outcome as StatusOutcome
from hybridroute_operator.status import build_status, find_problems
from hybridroute_policy import parse_policy

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
ROUTE = RouteRef(name="support", namespace="llm", uid="uid-1", generation=2)
JSON_BYTES = b'{"format": "hybridroute.learned-scorer"}\n'
NPZ_BYTES = bytes(range(256))  # not UTF-8: binaryData
SCORER_CM = {
    "metadata": {"name": "support-scorer"},
    "data": {"scorer.json": JSON_BYTES.decode()},
    "binaryData": {"scorer.npz": base64.b64encode(NPZ_BYTES).decode()},
}
EXAMPLES = b'{"text": "hi", "label": "simple"}\n{"text": "prove it", "label": "hard"}\n'


def spec(**policy: Any) -> Any:
    raw = yaml.safe_load((ROOT / "examples/02-hybridroute/hybridroute.yaml").read_text())
    for section, fields in policy.items():
        raw["spec"].setdefault("policy", {}).setdefault(section, {}).update(fields)
    return parse_spec(raw["spec"])


def observed(config_maps: dict[str, Any]) -> Observed:
    ready = EndpointHealth(ready=1, total=1)
    return Observed(
        endpoints={LARGE: ready, small("v3"): ready, small("v4"): ready},
        config_maps=config_maps,
    )


WITH_BOTH = {
    "complexity": {"scorer": "learned", "scorerArtifactConfigMap": "support-scorer"},
    "similarity": {"examplesConfigMap": "support-examples"},
}
BOTH_PRESENT = {
    "support-scorer": configmap_files(SCORER_CM),
    "support-examples": {"examples.jsonl": EXAMPLES},
}


def test_configmap_files_decode_data_and_binary_data() -> None:
    assert configmap_files(SCORER_CM) == {"scorer.json": JSON_BYTES, "scorer.npz": NPZ_BYTES}
    assert configmap_files(None) is None


def test_the_policy_points_at_the_mounted_files_with_the_content_hash() -> None:
    policy = build_policy(ROUTE, spec(**WITH_BOTH), observed(BOTH_PRESENT))
    assert policy.complexity.scorer_artifact == "/etc/hybridroute/artifacts/scorer/scorer"
    assert policy.complexity.scorer_artifact_sha256 == (
        hashlib.sha256(JSON_BYTES + NPZ_BYTES).hexdigest()  # cat scorer.json scorer.npz
    )
    assert policy.similarity.examples_file == "/etc/hybridroute/artifacts/examples/examples.jsonl"
    assert policy.similarity.examples_sha256 == hashlib.sha256(EXAMPLES).hexdigest()


def test_the_policy_configmap_is_a_router_policy_without_the_configmap_names() -> None:
    children = render(ROUTE, spec(**WITH_BOTH), observed(BOTH_PRESENT))
    (cm,) = [c for c in children if c["kind"] == "ConfigMap"]
    text = cm["data"]["policy.yaml"]
    assert "ConfigMap" not in text  # cluster-only fields stay out of the router's policy
    parsed = parse_policy(text, source="rendered")
    assert parsed.complexity.scorer_artifact_sha256 is not None


def test_a_changed_artifact_changes_the_policy_configmap() -> None:
    before = render(ROUTE, spec(**WITH_BOTH), observed(BOTH_PRESENT))
    changed = dict(BOTH_PRESENT, **{"support-scorer": {"scorer.json": b"{}", "scorer.npz": b"x"}})
    after = render(ROUTE, spec(**WITH_BOTH), observed(changed))
    cms = [next(c for c in r if c["kind"] == "ConfigMap") for r in (before, after)]
    assert cms[0]["data"] != cms[1]["data"]
    deployments = [next(c for c in r if c["kind"] == "Deployment") for r in (before, after)]
    assert deployments[0] == deployments[1]  # no rollout: the routers reload in place


def test_the_router_mounts_exactly_the_artifact_keys_read_only() -> None:
    pod = build_deployment(ROUTE, spec(**WITH_BOTH))["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["artifact-scorer"]["configMap"] == {
        "name": "support-scorer",
        "items": [
            {"key": "scorer.json", "path": "scorer.json"},
            {"key": "scorer.npz", "path": "scorer.npz"},
        ],
        "optional": True,  # a missing ConfigMap is a condition, not a Pod stuck creating
        "defaultMode": 0o444,
    }
    assert volumes["artifact-examples"]["configMap"]["items"] == [
        {"key": "examples.jsonl", "path": "examples.jsonl"}
    ]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["artifact-scorer"] == {
        "name": "artifact-scorer",
        "mountPath": "/etc/hybridroute/artifacts/scorer",
        "readOnly": True,
    }
    assert mounts["artifact-examples"]["mountPath"] == "/etc/hybridroute/artifacts/examples"


def test_no_artifact_volumes_without_artifact_configmaps() -> None:
    pod = build_deployment(ROUTE, spec())["spec"]["template"]["spec"]
    assert not [v for v in pod["volumes"] if v["name"].startswith("artifact-")]


def test_a_missing_artifact_configmap_is_a_blocking_problem() -> None:
    (problem,) = find_problems(
        spec(**WITH_BOTH), observed(dict(BOTH_PRESENT, **{"support-scorer": None}))
    )
    assert problem.reason == "ArtifactConfigMapNotFound"
    assert problem.blocking
    assert "policy.complexity.scorerArtifactConfigMap" in problem.message
    assert "'support-scorer' does not exist" in problem.message


def test_an_artifact_configmap_without_its_keys_is_a_blocking_problem() -> None:
    only_json = {"scorer.json": JSON_BYTES}
    problems = find_problems(
        spec(**WITH_BOTH), observed(dict(BOTH_PRESENT, **{"support-scorer": only_json}))
    )
    assert [(p.reason, p.blocking) for p in problems] == [("ArtifactConfigMapIncomplete", True)]
    assert "scorer.npz" in problems[0].message


def test_status_reports_the_artifact_hashes_in_force() -> None:
    s = spec(**WITH_BOTH)
    obs = observed(BOTH_PRESENT)
    policy = build_policy(ROUTE, s, obs)
    status = build_status(
        spec=s,
        observed=obs,
        outcome=StatusOutcome("applied"),
        problems=[],
        policy=policy,
        generation=2,
        endpoint="http://x",
        now="2026-01-01T00:00:00Z",
        previous={},
    )
    assert status["policy"]["scorer"] == "learned"
    assert status["policy"]["scorerArtifactSha256"] == policy.complexity.scorer_artifact_sha256
    assert status["policy"]["examplesSha256"] == hashlib.sha256(EXAMPLES).hexdigest()


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {"complexity": {"scorer": "heuristic", "scorerArtifactConfigMap": "cm"}},
            "scorerArtifactConfigMap needs scorer auto, learned or similarity",
        ),
        (
            {
                "complexity": {
                    "scorer": "learned",
                    "scorerArtifactConfigMap": "cm",
                    "scorerArtifact": "/x",
                }
            },
            "scorerArtifact (a path in the router image) or scorerArtifactConfigMap, not both",
        ),
        (
            {"similarity": {"examplesConfigMap": "cm", "examplesFile": "/x"}},
            "examplesFile or examplesConfigMap, not both",
        ),
        ({"complexity": {"scorer": "learned", "scorerArtifactConfigMap": "Bad_Name"}}, "pattern"),
    ],
)
def test_contradictory_artifact_sources_are_rejected(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=r"spec\.policy") as err:
        spec(**policy)
    assert message in str(err.value)


def test_the_scorer_keys_are_the_ones_hybridroute_train_writes() -> None:
    from hybridroute_quality.cli import CONFIGMAP_SCORER_KEYS

    assert tuple(CONFIGMAP_SCORER_KEYS) == SCORER_KEYS
