"""The e2e tests reuse the integration harness (operator and router processes, kubectl
helpers) from ``tests/integration/operator_harness.py``; ``book`` is the recorded RouteLLM
MMLU outcomes the replay servers answer from."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hybridroute_localstack.replaybook import ReplayBook, default_data_dir

_INTEGRATION = str(Path(__file__).resolve().parents[1] / "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)


@pytest.fixture(scope="module")
def book() -> ReplayBook:
    data = default_data_dir()
    if not data.is_dir():
        pytest.skip(f"the shared RouteLLM data is not at {data.resolve()}")
    return ReplayBook.from_paths([data])
