"""The e2e tests reuse the integration harness (operator and router processes, kubectl
helpers) from ``tests/integration/operator_harness.py``."""

from __future__ import annotations

import sys
from pathlib import Path

_INTEGRATION = str(Path(__file__).resolve().parents[1] / "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)
