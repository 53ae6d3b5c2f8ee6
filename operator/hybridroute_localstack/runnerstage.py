"""DEV-ONLY, never part of the product: the pod runner's kwok Stage on the API server.

A pod runner's Stage (:func:`~hybridroute_localstack.readiness.runner_stage`) keeps the
pods of its namespaces unready until the runner's probe passes. It names the runner
that holds it (annotation :data:`HOLDER_ANNOTATION`: the process id and the process's
start time, so a recycled pid does not count; runner and API server share this
machine, the local API server being loopback only). A runner that stops removes its
Stage; one killed with SIGKILL cannot, so a runner that starts:

- adopts a Stage of its own name (the same namespaces) whose holder is gone, and
- deletes every other pod runner's Stage whose holder is gone (its namespaces would
  otherwise keep new pods unready with nothing to probe them),

before it applies its own. Stages of runners that still run are left alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from hybridroute_localstack.kubeapi import KubeApi, KubeApiError
from hybridroute_localstack.process import process_alive
from hybridroute_localstack.readiness import STAGE_PATH, runner_stage

JsonObject = dict[str, Any]
HOLDER_ANNOTATION = "local.hybridroute.dev/runner"
MANAGED_BY = "app.kubernetes.io/managed-by=hybridroute-pod-runner"
FIELD_MANAGER = "hybridroute-pod-runner"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def this_holder() -> str:
    """This process as a Stage's holder: ``PID/STARTTIME``."""
    return f"{os.getpid()}/{_start_time(os.getpid())}"


def holder_alive(holder: str | None) -> bool:
    """The process named by ``holder`` still runs (no holder recorded: not alive)."""
    pid, _, started = (holder or "").partition("/")
    if not pid.isdigit():
        return False
    return process_alive(int(pid)) and _start_time(int(pid)) == started


def held_stage(namespaces: list[str] | None) -> JsonObject:
    """The runner's Stage for ``namespaces``, naming this process as its holder."""
    stage = runner_stage(namespaces)
    stage["metadata"]["annotations"] = {HOLDER_ANNOTATION: this_holder()}
    return stage


def _holder(stage: JsonObject) -> str | None:
    holder = (stage["metadata"].get("annotations") or {}).get(HOLDER_ANNOTATION)
    return None if holder is None else str(holder)


class RunnerStage:
    """The Stage of a runner for ``namespaces`` (None: every namespace)."""

    def __init__(
        self, api: KubeApi, namespaces: list[str] | None, say: Callable[[str], None]
    ) -> None:
        self.api = api
        self.stage = held_stage(namespaces)
        self.name: str = self.stage["metadata"]["name"]
        self.say = say

    def register(self) -> None:
        """Clean the Stages of runners that are gone, then apply this one."""
        try:
            self._clean_stale()
        except KubeApiError as exc:  # others' leftovers: this runner's own Stage still counts
            self.say(f"kwok Stages of pod runners that are gone not cleaned ({exc})")
        try:
            path = f"{STAGE_PATH}/{self.name}?fieldManager={FIELD_MANAGER}&force=true"
            self.api.request("PATCH", path, self.stage, "application/apply-patch+yaml")
        except KubeApiError as exc:
            self.say(f"no kwok Stage for the runner: pods are Ready before they answer ({exc})")

    def remove(self) -> None:
        """Delete this Stage, unless another runner has taken it over since."""
        with contextlib.suppress(KubeApiError):
            found = self.api.get(f"{STAGE_PATH}/{self.name}")
            if found is not None and _holder(found) == this_holder():
                self._delete(found)

    def _clean_stale(self) -> None:
        for stage in self.api.items(f"{STAGE_PATH}?labelSelector={MANAGED_BY}"):
            name, holder = stage["metadata"]["name"], _holder(stage)
            if holder == this_holder():
                continue
            if holder_alive(holder):
                if name == self.name:
                    self.say(f"kwok Stage {name} is also held by the running pod runner {holder}")
                continue
            if name == self.name:
                self.say(f"kwok Stage {name}: adopted from a pod runner that is gone ({holder})")
            elif self._delete(stage):
                self.say(f"kwok Stage {name}: removed, its pod runner is gone ({holder})")

    def _delete(self, stage: JsonObject) -> bool:
        """Delete ``stage`` as it was read: not a Stage created anew since (uid), nor one
        a starting runner adopted since (an apply keeps the uid, not the resourceVersion).
        False: it was not deleted."""
        meta = stage["metadata"]
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]},
        }
        try:
            self.api.request("DELETE", f"{STAGE_PATH}/{stage['metadata']['name']}", options)
        except KubeApiError as exc:
            if exc.status not in (404, 409):
                raise
            return False  # gone already, or not the Stage that was read
        return True
