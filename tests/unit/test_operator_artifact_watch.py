"""Which routes a ConfigMap event concerns: those that mount it as a scorer artifact or
examples (pure bookkeeping of the reconciler; no cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
import yaml
from hybridroute_operator.api import parse_spec
from hybridroute_operator.kube import KubeApi
from hybridroute_operator.metrics import OperatorMetrics
from hybridroute_operator.reconcile import Reconciler

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def reconciler() -> Reconciler:
    raw = yaml.safe_load((ROOT / "examples/02-hybridroute/hybridroute.yaml").read_text())
    plain = parse_spec(raw["spec"])
    raw["spec"]["policy"]["complexity"].update(
        {"scorer": "learned", "scorerArtifactConfigMap": "shared-scorer"}
    )
    raw["spec"]["policy"]["similarity"] = {"examplesConfigMap": "support-examples"}
    mounting = parse_spec(raw["spec"])
    r = Reconciler(cast(KubeApi, None), OperatorMetrics())
    r.specs = {
        ("llm", "support"): mounting,
        ("other", "support"): mounting,
        ("llm", "plain"): plain,
    }
    return r


def configmap(namespace: str, name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"namespace": namespace, "name": name, "labels": labels}}


def test_an_artifact_configmap_event_concerns_the_routes_of_its_namespace_that_mount_it() -> None:
    r = reconciler()
    assert r.artifact_seen(configmap("llm", "shared-scorer")) == [("llm", "support")]
    assert r.artifact_seen(configmap("llm", "support-examples")) == [("llm", "support")]
    assert r.artifact_seen(configmap("other", "shared-scorer")) == [("other", "support")]


def test_other_configmaps_concern_no_route() -> None:
    r = reconciler()
    assert r.artifact_seen(configmap("llm", "unrelated")) == []
    own = configmap(
        "llm", "shared-scorer", **{"app.kubernetes.io/managed-by": "hybridroute-operator"}
    )
    assert r.artifact_seen(own) == []  # the operator's own ConfigMaps are never artifacts
