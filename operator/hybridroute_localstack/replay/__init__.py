"""Replay model servers: OpenAI-compatible servers answering from recorded outcomes
(the RouteLLM data), with a capacity, vLLM-style /metrics and bad-student knobs.

``start_replay_server(workdir, Behaviour(...))`` starts one as a process (see
``launch.py``); ``python -m hybridroute_localstack.replay.server --help`` runs one by hand.
"""

from hybridroute_localstack.replay.behaviour import Behaviour
from hybridroute_localstack.replay.launch import (
    ReplayServerProcess,
    replay_arguments,
    replay_command,
    start_replay_server,
)

__all__ = [
    "Behaviour",
    "ReplayServerProcess",
    "replay_arguments",
    "replay_command",
    "start_replay_server",
]
