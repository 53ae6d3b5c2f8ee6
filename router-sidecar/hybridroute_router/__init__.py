"""HybridRoute's data plane: the OpenAI-compatible router. Keep this module light: the
operator and the quality tools import submodules (e.g. ``hybridroute_router.scorers``)."""
