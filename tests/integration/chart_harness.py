"""The operator's Helm chart for the chart tests: render it with the pinned helm binary
(built by ``hybridroute-local build``; the tests are skipped when it is missing)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_localstack.build import MissingBinaryError, find_binary

CHART = Path(__file__).parents[2] / "charts" / "hybridroute-operator"


def helm_binary() -> str:
    try:
        return str(find_binary("helm"))
    except MissingBinaryError as exc:
        pytest.skip(f"helm not built: {exc}")


def render(
    helm: str, *values: str, namespace: str = "hro-system"
) -> subprocess.CompletedProcess[str]:
    """``helm template`` of the chart with ``--set`` for each of ``values``."""
    args = [helm, "template", "hro", str(CHART), "--namespace", namespace, "--include-crds"]
    for value in values:
        args += ["--set", value]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def template(helm: str, *values: str, namespace: str = "hro-system") -> list[dict[str, Any]]:
    """The rendered documents (``helm template`` must succeed)."""
    result = render(helm, *values, namespace=namespace)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]
