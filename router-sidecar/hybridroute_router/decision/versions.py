"""Weighted, sticky choice among small-model versions."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from hybridroute_policy import SmallVersion


def sticky_bucket(key: str, secret: bytes = b"") -> int:
    """A stable bucket in [0, 10000) for a request id: the same id picks the same version.
    With a ``secret`` (at most 64 bytes) the bucket cannot be predicted from the id, so a
    client cannot pick a version by choosing its id."""
    digest = hashlib.blake2b(
        key.encode("utf-8", "surrogatepass"), digest_size=8, key=secret
    ).digest()
    return int.from_bytes(digest, "big") % 10_000


def choose_version(
    versions: Sequence[SmallVersion], bucket: int, unavailable: Collection[str] = ()
) -> SmallVersion | None:
    """Pick a ready version by weight. Versions that are not ready, listed as unavailable
    (e.g. circuit open) or at weight 0 are never chosen; the remaining weights are
    rescaled. None when no version is left: the large model answers. Weight 0 means no
    traffic, not even as a last resort: it marks a rolled-back canary, the previous
    stable kept for a manual rollback, a discovered version not yet analysed."""
    candidates = [v for v in versions if v.ready and v.weight > 0 and v.name not in unavailable]
    if not candidates:
        return None
    total = sum(v.weight for v in candidates)
    point = bucket * total / 10_000
    acc = 0.0
    for v in candidates:
        acc += v.weight
        if point < acc:
            return v
    return candidates[-1]
