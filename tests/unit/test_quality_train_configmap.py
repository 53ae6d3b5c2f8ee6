"""``hybridroute train --configmap NAME`` writes a ConfigMap manifest that the operator
hashes and the router loads to the same sha256 (the planes agree on the artifact)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from hybridroute_operator.artifacts import SCORER_KEYS, content_sha256
from hybridroute_operator.observed import configmap_files
from hybridroute_policy import Policy
from hybridroute_quality.cli import main
from hybridroute_router.scorers.registry import load_scorer

pytestmark = pytest.mark.unit


def rows(n: int = 40) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(n):
        hard = i % 2 == 0
        prompt = (
            f"Derive and prove the bound for case {i}, step by step, then compute it."
            if hard
            else f"Say hello to friend number {i}."
        )
        out.append({"prompt": prompt, "small": 0.0 if hard else 1.0, "large": 1.0})
    return out


def test_train_writes_a_configmap_the_operator_hashes_and_the_router_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    out = tmp_path / "out" / "support"
    args = ["train", str(data), "--out", str(out), "--no-progress"]
    assert main([*args, "--configmap", "support-scorer", "--namespace", "llm"]) == 0
    manifest_path = out.with_suffix(".configmap.yaml")
    assert str(manifest_path) in capsys.readouterr().out
    manifest = yaml.safe_load(manifest_path.read_text())

    assert manifest["kind"] == "ConfigMap"
    assert manifest["metadata"]["name"] == "support-scorer"
    assert manifest["metadata"]["namespace"] == "llm"
    assert set(manifest["data"]) | set(manifest["binaryData"]) == set(SCORER_KEYS)
    json_bytes, npz_bytes = (
        out.with_suffix(".json").read_bytes(),
        out.with_suffix(".npz").read_bytes(),
    )
    assert manifest["data"]["scorer.json"].encode() == json_bytes
    assert base64.b64decode(manifest["binaryData"]["scorer.npz"]) == npz_bytes

    # what the kubelet would mount, and what the operator puts in the policy
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    for key, value in configmap_files(manifest).items():
        (mounted / key).write_bytes(value)
    sha = content_sha256(configmap_files(manifest), SCORER_KEYS)
    policy = Policy.model_validate(
        {
            "large": {"upstream": {"baseUrl": "http://l:8000/v1", "model": "l"}},
            "small": {
                "versions": [{"name": "v1", "upstream": {"baseUrl": "http://s/v1", "model": "s"}}]
            },
            "complexity": {
                "scorer": "learned",
                "scorerArtifact": str(mounted / "scorer"),
                "scorerArtifactSha256": sha,
            },
        }
    )
    loaded = load_scorer(policy)
    assert loaded.fallback_reason is None
    assert loaded.artifact_sha256 == sha


def test_without_configmap_no_manifest_is_written(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    out = tmp_path / "support"
    assert main(["train", str(data), "--out", str(out), "--no-progress"]) == 0
    assert not out.with_suffix(".configmap.yaml").exists()
