"""Load adaptation's pure core: the threshold control law (``law``), the queries a spec
asks for (``queries``) and what an evaluation writes to status (``report``). The loop
that runs the queries is ``hybridroute_operator.loops.adaptation``."""

from hybridroute_operator.adaptation.law import (
    Bounds,
    Previous,
    Reading,
    Result,
    Why,
    step,
)
from hybridroute_operator.adaptation.queries import Query, render_query, signal_queries

__all__ = [
    "Bounds",
    "Previous",
    "Query",
    "Reading",
    "Result",
    "Why",
    "render_query",
    "signal_queries",
    "step",
]
