"""Fixtures many integration tests share: the router's two fake upstreams (real HTTP
servers on loopback, ``router_harness.fake_upstream``). A test module that needs other
answers defines its own ``large`` or ``small``, which takes precedence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from router_harness import FakeUpstream, fake_upstream


@pytest.fixture
def large() -> Iterator[tuple[FakeUpstream, str]]:
    with fake_upstream("large", "large answer") as pair:
        yield pair


@pytest.fixture
def small() -> Iterator[tuple[FakeUpstream, str]]:
    with fake_upstream("small", "small answer") as pair:
        yield pair
