"""Upstream API keys from an environment variable or a file (a mounted Secret).

Keys never come from the policy and are never logged. A file is re-read when it changes
(checked at most every ``recheck_seconds``), so a rotated Secret takes effect without a
restart."""

from __future__ import annotations

import os
import time

from hybridroute_policy import ApiKeySource


class ApiKeyError(RuntimeError):
    """The configured key source cannot be read (message never contains the key)."""


class ApiKey:
    __slots__ = ("_mtime", "_next_check", "_source", "_value", "recheck_seconds")

    def __init__(self, source: ApiKeySource, *, recheck_seconds: float = 10.0) -> None:
        self._source = source
        self.recheck_seconds = recheck_seconds
        self._value: str | None = None
        self._mtime = 0
        self._next_check = 0.0
        self._load()

    def _load(self) -> None:
        if self._source.env is not None:
            value = os.environ.get(self._source.env)
            if not value:
                raise ApiKeyError(f"environment variable {self._source.env} is not set")
            self._value = value.strip()
            return
        path = self._source.file
        assert path is not None
        try:
            st = os.stat(path)
            if st.st_mtime_ns != self._mtime or self._value is None:
                with open(path, encoding="utf-8") as fh:
                    self._value = fh.read().strip()
                self._mtime = st.st_mtime_ns
        except OSError as exc:
            if self._value is None:
                raise ApiKeyError(f"cannot read API key file {path}: {exc.strerror}") from None

    def get(self) -> str:
        if self._source.file is not None:
            now = time.monotonic()
            if now >= self._next_check:
                self._next_check = now + self.recheck_seconds
                self._load()
        assert self._value is not None
        return self._value

    def __repr__(self) -> str:  # never show the key
        return f"ApiKey({self._source!r})"
