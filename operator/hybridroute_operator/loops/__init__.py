"""Control loops (load adaptation, canary analysis, savings): one module per loop, the
shared scheduling and Prometheus plumbing in ``base``. Pure decisions live outside this
package (``hybridroute_operator.adaptation``, ``hybridroute_operator.canary``); a loop
only gathers readings, calls its pure function and returns a ``LoopOutput``."""

from hybridroute_operator.loops.base import (
    ControlLoop,
    LoopConfigError,
    LoopEnv,
    LoopInput,
    LoopScheduler,
    prometheus_for,
)

__all__ = [
    "ControlLoop",
    "LoopConfigError",
    "LoopEnv",
    "LoopInput",
    "LoopScheduler",
    "prometheus_for",
]
