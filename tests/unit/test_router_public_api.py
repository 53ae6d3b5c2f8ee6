"""The router's public import surface is what its ``__all__`` lists."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("module", ["hybridroute_router.decision", "hybridroute_router.scorers"])
def test_all_lists_exactly_the_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    exported = set(mod.__all__)
    public = {n for n in vars(mod) if not n.startswith("_") and not _is_submodule(mod, n)}
    assert exported == public
    assert all(getattr(mod, n) is not None for n in exported)


def _is_submodule(mod: object, name: str) -> bool:
    value = getattr(mod, name)
    return type(value).__name__ == "module" or name == "annotations"


def test_importing_the_scorers_pulls_in_no_server_machinery() -> None:
    """The operator and the quality tools import router submodules (the scorers): that
    must not drag in the HTTP server, metrics or tracing."""
    code = (
        "import sys, hybridroute_router.scorers, hybridroute_router.decision; "
        "print(sorted(m for m in ('uvicorn', 'prometheus_client', 'opentelemetry', "
        "'httptools', 'hybridroute_router.http') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
