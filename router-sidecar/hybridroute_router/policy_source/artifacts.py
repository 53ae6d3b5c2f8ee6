"""Retry the policy's scorer when its artifact files were not usable at the reload.

In a cluster the policy ConfigMap (watched through the API) usually changes before the
kubelet refreshes the mounted artifact ConfigMap: the new policy names an artifact hash
the files do not have yet, so the router applies the policy but keeps its last good
scorer. This watcher then looks at the artifact files every ``interval`` seconds, only
while the scorer in force is a fallback, and loads the policy's scorer again each time
their content changed; once it loads, it is put in force like a policy reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from pathlib import Path

from hybridroute_router.runtime import Runtime
from hybridroute_router.scorers.registry import load_scorer, watched_files

log = logging.getLogger("hybridroute.router.policy")


def fingerprint(paths: list[Path]) -> str:
    """A digest of the files' content (a missing file counts as its own value)."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError as exc:
            digest.update(f"missing:{path}:{exc.errno}".encode())
    return digest.hexdigest()


class ArtifactWatcher:
    def __init__(self, rt: Runtime, *, interval: float = 1.0) -> None:
        self.rt = rt
        self.interval = interval
        self._tried: tuple[str, str] | None = None  # (policy digest, files fingerprint)
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        """One look; True when a scorer was put in force."""
        state = self.rt.state
        if state.scorer.fallback_reason is None:
            return False
        paths = watched_files(state.policy)
        if not paths:
            return False
        attempt = (state.digest, await asyncio.to_thread(fingerprint, paths))
        if attempt == self._tried:
            return False
        self._tried = attempt
        loaded = await asyncio.to_thread(load_scorer, state.policy, state.scorer)
        if loaded.fallback_reason is not None:
            return False
        if self.rt.state is not state:  # a reload got there first (with its own scorer)
            return False
        log.info(
            "scorer %s in force (artifact %s)",
            loaded.scorer.name,
            (loaded.artifact_sha256 or "")[:12],
        )
        await self.rt.apply(dataclasses.replace(state, scorer=loaded))
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # never let the watcher die: it is the retry path
                log.exception("artifact check failed")

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
