"""The router's kubeconfig loader: paths relative to the kubeconfig's folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hybridroute_router.policy_source.kube import from_kubeconfig

pytestmark = pytest.mark.unit


def test_a_relative_token_file_is_read_from_the_kubeconfigs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "kube"
    folder.mkdir()
    (folder / "token").write_text("s3cret\n")
    config = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"tokenFile": "token"}}],
    }
    (folder / "config").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    access = from_kubeconfig(folder / "config")
    assert access.headers() == {"Authorization": "Bearer s3cret"}
