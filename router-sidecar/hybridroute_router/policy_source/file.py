"""Watch a policy file (a mounted ConfigMap too: kubelet swaps a symlink) by polling
its status and content; changes go to the reloader. A mounted operator ConfigMap also
holds its ``policy-defaults`` marker, as a file beside ``policy.yaml``."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

from hybridroute_policy import DEFAULTS_KEY

from hybridroute_router.policy_source.reloader import PolicyDocument, Reloader

log = logging.getLogger("hybridroute.router.policy")
Stamp = tuple[tuple[int, int, int] | None, ...]


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def marker_path(policy_path: str | Path) -> Path:
    """Where a mounted operator ConfigMap puts its ``policy-defaults`` key: beside
    ``policy.yaml`` (the kubelet mounts every key of the ConfigMap as a file)."""
    return Path(policy_path).parent / DEFAULTS_KEY


READ_ATTEMPTS = 5
"""Reads of a mounted ConfigMap that the kubelet may interrupt with an update, in a row."""


def _versions(path: Path, marker: Path) -> tuple[str, str]:
    """The files ``path`` and ``marker`` are now (a mounted ConfigMap: inside the folder
    ``..data`` points at, which the kubelet never changes, only replaces)."""
    return os.path.realpath(path), os.path.realpath(marker)


def _text(path: str | Path, shown: Path) -> str:
    """A file's UTF-8 text. Errors are OSErrors whose ``strerror`` names ``shown`` (the
    path the user gave, not the kubelet's timestamped folder), a file that is not UTF-8
    too; FileNotFoundError stays itself (a swap of the mount, or no marker)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as exc:
        raise OSError(errno.EILSEQ, f"{shown}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise OSError(exc.errno, f"{shown}: {exc.strerror}") from exc


def _read_marker(path: str, shown: Path) -> str | None:
    try:
        return _text(path, shown)
    except FileNotFoundError:
        return None


def read_document(path: Path, marker: Path | None) -> PolicyDocument:
    """The policy file's text and, with ``marker``, that file's content (None when it does
    not exist), both of one version of a mounted ConfigMap: the kubelet swaps ``..data``
    to a new folder and deletes the old one, so both are read where their symlinks point,
    and again if those moved meanwhile. Raises OSError when either cannot be read."""
    if marker is None:
        return PolicyDocument(_text(path, path))
    for _ in range(READ_ATTEMPTS):
        version = _versions(path, marker)
        try:
            doc = PolicyDocument(_text(version[0], path), _read_marker(version[1], marker))
        except FileNotFoundError:
            if _versions(path, marker) == version:
                raise
            continue  # the folder read from was deleted after a swap
        if _versions(path, marker) == version:
            return doc
    raise OSError(errno.EAGAIN, f"changed {READ_ATTEMPTS} times while read", str(path))


class FileWatcher:
    """``defer_to``: while it returns True (the ConfigMap watch is healthy), file changes
    are not applied: a mounted copy lags the API and could roll a newer policy back. The
    change is applied once ``defer_to`` turns False, if the file still differs.
    ``marker``: the ``policy-defaults`` file beside a mounted ConfigMap's policy (None for
    a standalone policy file); a change to either file is a change."""

    def __init__(
        self,
        path: str | Path,
        reloader: Reloader,
        *,
        interval: float = 1.0,
        defer_to: Callable[[], bool] | None = None,
        marker: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.marker = marker
        self.reloader = reloader
        self.interval = interval
        self.defer_to = defer_to
        self._stamp: Stamp | None = None
        self._ignored: Stamp | None = None
        self._task: asyncio.Task[None] | None = None

    def _stat(self) -> Stamp | None:
        policy = _stat(self.path)
        if policy is None:
            return None
        return (policy,) if self.marker is None else (policy, _stat(self.marker))

    def prime(self) -> None:
        """Remember the file as loaded at startup."""
        self._stamp = self._stat()

    async def check(self) -> None:
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return
        if self.defer_to is not None and self.defer_to():
            if stamp != self._ignored:  # counted once per change
                self._ignored = stamp
                self.reloader.rt.metrics.reloads.labels("file", "ignored").inc()
                log.info(
                    "policy file %s changed; ignored while the ConfigMap is followed", self.path
                )
            return
        self._stamp = stamp
        try:
            doc = await asyncio.to_thread(read_document, self.path, self.marker)
        except OSError as exc:
            log.error("cannot read policy file %s: %s", self.path, exc.strerror or exc)
            return
        await self.reloader.offer(doc, source=str(self.path), kind="file")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("policy file watch failed")

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
