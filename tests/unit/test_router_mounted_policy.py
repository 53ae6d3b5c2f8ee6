"""The router's read of a mounted policy ConfigMap (``read_document``): ``policy.yaml`` and
its ``policy-defaults`` marker are two files, and the kubelet replaces both at once by
swapping the ``..data`` symlink to a new timestamped folder, then deletes the old one.
A read must take both files from one version of the ConfigMap, or an older operator's
policy (``scorer`` left out: heuristic) meets a newer operator's marker (left out: auto).
The folders and symlinks are real; only the moment of the swap is forced, by running it
right after the first read of ``policy.yaml``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_router.policy_source.file import marker_path, read_document
from hybridroute_router.policy_source.reloader import PolicyDocument, read_policy

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {
    "large": {"upstream": {"baseUrl": "http://large:8000/v1", "model": "big"}},
    "small": {
        "versions": [{"name": "v1", "upstream": {"baseUrl": "http://s:8000/v1", "model": "s"}}]
    },
}
# An operator of before the marker: the heuristic, its default, left out.
OLDER = {"policy.yaml": yaml.safe_dump(BASE)}
# Today's operator for the same route: the heuristic named, and the marker.
NEWER = {
    "policy.yaml": yaml.safe_dump({**BASE, "complexity": {"scorer": "heuristic"}}),
    "policy-defaults": "2",
}


def publish(folder: Path, version: str, files: Mapping[str, str]) -> None:
    """What the kubelet's atomic writer does for a ConfigMap volume: a new timestamped
    folder, ``..data`` swapped to it, the keys' symlinks, the old folder deleted."""
    data = folder / "..data"
    old = os.readlink(data) if data.is_symlink() else None
    (folder / version).mkdir()
    for key, value in files.items():
        (folder / version / key).write_text(value)
    (folder / "..data_tmp").symlink_to(version)
    os.replace(folder / "..data_tmp", data)
    for key in files:
        if not (folder / key).is_symlink():
            (folder / key).symlink_to(Path("..data") / key)
    for link in folder.iterdir():
        if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
            link.unlink()
    if old is not None:
        shutil.rmtree(folder / old)


def swap_after_first_policy_read(monkeypatch: pytest.MonkeyPatch, swap: Callable[[], None]) -> None:
    real = Path.read_text
    pending = [swap]

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        text = real(self, *args, **kwargs)
        if self.name == "policy.yaml" and pending:
            pending.pop()()
        return text

    monkeypatch.setattr(Path, "read_text", read_text)


@pytest.mark.parametrize(
    ("first", "then"), [(OLDER, NEWER), (NEWER, OLDER)], ids=["upgrade", "downgrade"]
)
def test_a_swap_during_the_read_gives_one_version_not_a_mix(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    first: Mapping[str, str],
    then: Mapping[str, str],
) -> None:
    publish(tmp_path, "..2026_11_29_14_00_00.1", first)
    swap_after_first_policy_read(
        monkeypatch, lambda: publish(tmp_path, "..2026_11_29_14_00_05.2", then)
    )
    policy_file = tmp_path / "policy.yaml"
    doc = read_document(policy_file, marker_path(policy_file))
    assert doc == PolicyDocument(then["policy.yaml"], then.get("policy-defaults"))
    policy, _ = read_policy(doc, source="mounted", from_configmap=True)
    assert policy.complexity.scorer == "heuristic"  # the route's scorer, in either version


def test_an_unchanged_mount_is_read_as_it_is(tmp_path: Path) -> None:
    publish(tmp_path, "..2026_11_29_14_00_00.1", NEWER)
    doc = read_document(tmp_path / "policy.yaml", marker_path(tmp_path / "policy.yaml"))
    assert doc == PolicyDocument(NEWER["policy.yaml"], "2")
    publish(tmp_path, "..2026_11_29_14_00_05.2", OLDER)  # the marker's symlink goes
    doc = read_document(tmp_path / "policy.yaml", marker_path(tmp_path / "policy.yaml"))
    assert doc == PolicyDocument(OLDER["policy.yaml"], None)


def test_a_file_that_is_not_utf8_is_an_error_naming_it(tmp_path: Path) -> None:
    policy, marker = tmp_path / "policy.yaml", marker_path(tmp_path / "policy.yaml")
    policy.write_bytes(b"large: \xff\n")
    with pytest.raises(OSError, match=r"policy\.yaml: not UTF-8 text"):
        read_document(policy, None)
    policy.write_text("large: {}\n")
    marker.write_bytes(b"\xff")
    with pytest.raises(OSError, match="policy-defaults: not UTF-8 text"):
        read_document(policy, marker)


def test_a_missing_policy_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_document(tmp_path / "policy.yaml", marker_path(tmp_path / "policy.yaml"))


def test_a_mount_that_keeps_changing_while_read_is_an_error_not_a_mix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(tmp_path, "..v0", OLDER)
    versions = iter(range(1, 100))
    real = Path.read_text

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        text = real(self, *args, **kwargs)
        if self.name == "policy.yaml":  # a kubelet update during every read
            n = next(versions)
            publish(tmp_path, f"..v{n}", NEWER if n % 2 else OLDER)
        return text

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(OSError, match="changed 5 times while read"):
        read_document(tmp_path / "policy.yaml", marker_path(tmp_path / "policy.yaml"))
