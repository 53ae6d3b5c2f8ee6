"""Which replica works: kopf's peering rule applied to a KopfPeering status."""

from __future__ import annotations

import datetime

import pytest
from hybridroute_operator.peering import may_work, peering_path, random_priority

pytestmark = pytest.mark.unit
NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def peer(priority: int, seconds_ago: float = 1, lifetime: int = 60) -> dict[str, object]:
    seen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


def test_the_highest_priority_live_peer_works_and_the_others_stand_by() -> None:
    body = {"status": {"a": peer(10), "b": peer(3)}}
    assert may_work(body, "a", 10, NOW)
    assert not may_work(body, "b", 3, NOW)


def test_peers_sharing_a_priority_all_stand_by_as_kopf_pauses_them() -> None:
    body = {"status": {"a": peer(0), "b": peer(0)}}
    assert not may_work(body, "a", 0, NOW)
    assert not may_work(body, "b", 0, NOW)


def test_a_dead_higher_priority_peer_no_longer_blocks() -> None:
    body = {"status": {"a": peer(10, seconds_ago=120), "b": peer(3)}}
    assert may_work(body, "b", 3, NOW)


def test_a_replica_not_yet_registered_or_without_peering_object_stands_by() -> None:
    assert not may_work({"status": {"a": peer(10)}}, "b", 99, NOW)
    assert not may_work(None, "b", 99, NOW)


def test_random_priorities_differ_between_replicas() -> None:
    assert len({random_priority() for _ in range(50)}) > 45


def test_peering_object_is_cluster_scoped_only_for_a_cluster_wide_operator() -> None:
    assert peering_path("p", None) == "/apis/kopf.dev/v1/clusterkopfpeerings/p"
    assert peering_path("p", "ns") == "/apis/kopf.dev/v1/namespaces/ns/kopfpeerings/p"
