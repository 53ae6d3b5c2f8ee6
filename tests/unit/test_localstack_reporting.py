"""A failing test's report gets the log tail of each local component it used, once."""

from __future__ import annotations

import pytest
from hybridroute_localstack.reporting import log_sections

pytestmark = pytest.mark.unit


class RecordingComponentsFake:
    def log_tails(self, lines: int = 40) -> dict[str, str]:
        return {"etcd": "etcd started", "kube-apiserver": "listening on 127.0.0.1"}


def test_each_component_log_becomes_one_report_section() -> None:
    plane = RecordingComponentsFake()
    sections = log_sections({"control_plane": plane, "cluster": plane, "tmp_path": "/tmp/x"})
    assert sections == [
        ("etcd log (tail)", "etcd started"),
        ("kube-apiserver log (tail)", "listening on 127.0.0.1"),
    ]


def test_fixtures_without_logs_add_nothing() -> None:
    assert log_sections({"tmp_path": "/tmp/x", "number": 3}) == []
