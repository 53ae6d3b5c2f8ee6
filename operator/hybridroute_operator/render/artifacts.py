"""The router's side of artifact ConfigMaps (pure): the volumes that mount them, and the
policy fields that point at the mounted files with the ConfigMap content's sha256.

A changed ConfigMap therefore changes the policy ConfigMap, which the router watches: it
reloads the scorer once the mounted files have that hash (the kubelet refreshes ConfigMap
volumes on its own schedule) and keeps its last good scorer until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridroute_policy import ComplexityPolicy, SimilarityPolicy

from hybridroute_operator.api.spec import ComplexitySpec, HybridRouteSpec, SimilaritySpec
from hybridroute_operator.artifacts import (
    EXAMPLES_DIR,
    EXAMPLES_KEY,
    SCORER_KEYS,
    SCORER_PATH,
    ConfigMapFiles,
    artifact_refs,
    content_sha256,
)


def complexity_policy(
    spec: ComplexitySpec, config_maps: Mapping[str, ConfigMapFiles | None]
) -> ComplexityPolicy:
    """The router's complexity policy: a ConfigMap artifact becomes its mounted path and
    the ConfigMap content's hash."""
    fields = spec.model_dump(exclude={"scorer_artifact_config_map"})
    name = spec.scorer_artifact_config_map
    if name is not None:
        fields["scorer_artifact"] = SCORER_PATH
        fields["scorer_artifact_sha256"] = content_sha256(config_maps.get(name), SCORER_KEYS)
    return ComplexityPolicy.model_validate(fields)


def similarity_policy(
    spec: SimilaritySpec, config_maps: Mapping[str, ConfigMapFiles | None]
) -> SimilarityPolicy:
    fields = spec.model_dump(exclude={"examples_config_map"})
    name = spec.examples_config_map
    if name is not None:
        fields["examples_file"] = f"{EXAMPLES_DIR}/{EXAMPLES_KEY}"
        fields["examples_sha256"] = content_sha256(config_maps.get(name), (EXAMPLES_KEY,))
    return SimilarityPolicy.model_validate(fields)


def artifact_volumes(spec: HybridRouteSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """ConfigMap volumes (``optional``: a missing ConfigMap is a status condition, not a
    Pod stuck in ContainerCreating) and their read-only mounts."""
    refs = artifact_refs(spec)
    volumes = [
        {
            "name": ref.volume,
            "configMap": {
                "name": ref.config_map,
                "items": [{"key": k, "path": k} for k in ref.keys],
                "optional": True,
                "defaultMode": 0o444,
            },
        }
        for ref in refs
    ]
    mounts = [{"name": ref.volume, "mountPath": ref.mount_path, "readOnly": True} for ref in refs]
    return volumes, mounts
