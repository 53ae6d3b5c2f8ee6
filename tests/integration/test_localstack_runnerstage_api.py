"""The pod runner's kwok Stage against the real API server: a runner cleaning the Stages
of runners that are gone never deletes one another runner has adopted meanwhile."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from hybridroute_localstack import ControlPlane
from hybridroute_localstack.kubeapi import KubeApi, KubeApiError
from hybridroute_localstack.readiness import STAGE_PATH
from hybridroute_localstack.runnerstage import (
    FIELD_MANAGER,
    HOLDER_ANNOTATION,
    RunnerStage,
    held_stage,
)

pytestmark = pytest.mark.integration


def _apply(api: KubeApi, stage: dict[str, object], holder: str) -> None:
    stage["metadata"]["annotations"] = {HOLDER_ANNOTATION: holder}  # type: ignore[index]
    name = stage["metadata"]["name"]  # type: ignore[index]
    path = f"{STAGE_PATH}/{name}?fieldManager={FIELD_MANAGER}&force=true"
    api.request("PATCH", path, stage, "application/apply-patch+yaml")


def test_a_stale_stage_adopted_after_it_was_read_is_not_deleted(cluster: ControlPlane) -> None:
    """Two runners start at once: B reads runner A's old Stage while its holder is gone,
    A adopts it (an apply: the same object, uid unchanged), then B deletes what it read.
    The delete must not remove the Stage A now holds."""
    api = KubeApi.from_kubeconfig(cluster.kubeconfig)
    namespace = f"stage-{uuid.uuid4().hex[:8]}"
    stage = held_stage([namespace])
    name = stage["metadata"]["name"]
    try:
        _apply(api, stage, "999999999/1")  # a runner that is gone
        read_by_b = api.get(f"{STAGE_PATH}/{name}")
        assert read_by_b is not None
        _apply(api, held_stage([namespace]), "999999998/2")  # adopted by runner A
        assert not RunnerStage(api, [f"other-{namespace}"], say=lambda _: None)._delete(read_by_b)
        found = api.get(f"{STAGE_PATH}/{name}")
        assert found is not None, "the Stage its new holder adopted was deleted"
        assert found["metadata"]["annotations"][HOLDER_ANNOTATION] == "999999998/2"
        assert RunnerStage(api, [f"other-{namespace}"], say=lambda _: None)._delete(found)
        assert api.get(f"{STAGE_PATH}/{name}") is None  # as read now: deleted
    finally:
        with contextlib.suppress(KubeApiError):
            api.request("DELETE", f"{STAGE_PATH}/{name}")
