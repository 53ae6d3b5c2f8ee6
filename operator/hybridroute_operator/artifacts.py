"""Scorer artifacts and similarity examples a HybridRoute mounts from ConfigMaps: which
ConfigMaps, which keys, where the router finds them, and their content hash (pure data).

``policy.complexity.scorerArtifactConfigMap`` names a ConfigMap holding a trained scorer
(keys ``scorer.json`` and ``scorer.npz``), ``policy.similarity.examplesConfigMap`` one
holding example queries (key ``examples.jsonl``). ``render.artifacts`` mounts them and
points the policy at them; ``status`` reports a missing or incomplete one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hybridroute_operator.api.spec import HybridRouteSpec

ARTIFACTS_DIR = "/etc/hybridroute/artifacts"
SCORER_KEYS = ("scorer.json", "scorer.npz")
EXAMPLES_KEY = "examples.jsonl"
SCORER_DIR = f"{ARTIFACTS_DIR}/scorer"
EXAMPLES_DIR = f"{ARTIFACTS_DIR}/examples"
SCORER_PATH = f"{SCORER_DIR}/scorer"  # the learned scorer's base path: .json and .npz beside

ConfigMapFiles = Mapping[str, bytes]
"""A ConfigMap's keys and bytes (``data`` UTF-8 encoded, ``binaryData`` decoded)."""


@dataclass(frozen=True)
class ArtifactRef:
    """One ConfigMap the router mounts: what it holds, which keys, where."""

    what: Literal["scorer artifact", "similarity examples"]
    field: str  # the spec field naming it, for messages
    config_map: str
    keys: tuple[str, ...]
    volume: str
    mount_path: str


def artifact_refs(spec: HybridRouteSpec) -> list[ArtifactRef]:
    refs = []
    complexity, similarity = spec.policy.complexity, spec.policy.similarity
    if complexity.scorer_artifact_config_map is not None:
        refs.append(
            ArtifactRef(
                "scorer artifact",
                "policy.complexity.scorerArtifactConfigMap",
                complexity.scorer_artifact_config_map,
                SCORER_KEYS,
                "artifact-scorer",
                SCORER_DIR,
            )
        )
    if similarity.examples_config_map is not None:
        refs.append(
            ArtifactRef(
                "similarity examples",
                "policy.similarity.examplesConfigMap",
                similarity.examples_config_map,
                (EXAMPLES_KEY,),
                "artifact-examples",
                EXAMPLES_DIR,
            )
        )
    return refs


def missing_keys(files: ConfigMapFiles, keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if k not in files]


def content_sha256(files: ConfigMapFiles | None, keys: tuple[str, ...]) -> str | None:
    """sha256 of the keys' bytes concatenated in order (what the router computes over the
    mounted files: ``cat scorer.json scorer.npz | sha256sum``); None when incomplete."""
    if files is None or missing_keys(files, keys):
        return None
    digest = hashlib.sha256()
    for key in keys:
        digest.update(files[key])
    return digest.hexdigest()
