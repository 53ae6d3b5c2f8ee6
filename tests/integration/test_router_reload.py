"""Policy reloads: a changed file is validated and swapped atomically under load with no
failed request; an invalid file is rejected and the last good policy keeps serving; the
console script serves and reloads."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hybridroute_policy import Policy
from hybridroute_router.state import policy_digest
from router_harness import (
    FakeUpstream,
    policy_doc,
    router_process,
    running_router,
    serving,
    wait_for,
)

pytestmark = pytest.mark.integration

ADMIN_PATHS = ("/metrics", "/healthz", "/readyz")
BODY = {"model": "hybrid", "messages": [{"role": "user", "content": "What is 2 plus 2?"}]}


def digest(doc: dict[str, Any]) -> str:
    return policy_digest(Policy.model_validate(doc))


@pytest.fixture
def upstreams() -> Iterator[list[tuple[FakeUpstream, str]]]:
    ups = [FakeUpstream(f"up{i}", answer=f"answer from up{i}") for i in range(3)]
    with serving(ups[0]) as a, serving(ups[1]) as b, serving(ups[2]) as c:
        yield [(ups[0], a.url), (ups[1], b.url), (ups[2], c.url)]


class Load:
    """Closed-loop clients hammering the router until stopped; every outcome recorded."""

    def __init__(self, url: str, clients: int = 4) -> None:
        self.url = url
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    resp = client.post("/v1/chat/completions", json=BODY)
                    self.statuses.append(resp.status_code)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=20)


def ready_digest(url: str) -> str:
    return str(httpx.get(f"{url}/readyz").json()["policy"])


def test_reloads_under_load_fail_no_request(tmp_path: Path, upstreams: Any) -> None:
    (_, large_url), *smalls = upstreams
    first = policy_doc(large_url, {"v1": smalls[0][1]})
    with running_router(first, tmp_path) as r, Load(r.url) as load:
        wait_for(lambda: len(load.statuses) > 50)
        for i in range(1, 5):
            up, url = smalls[i % 2]
            doc = policy_doc(large_url, {"v1": url}, complexity={"threshold": 0.4 + i / 100})
            before = len(up.requests)
            r.write_policy(doc)
            wait_for(lambda doc=doc: ready_digest(r.url) == digest(doc))
            # traffic now reaches the new small upstream
            wait_for(lambda up=up, before=before: len(up.requests) > before + 20)
        # the total is a count to reach, not a rate to expect: a busy machine serves
        # the same steps with fewer requests in flight
        wait_for(lambda: len(load.statuses) > 200, timeout=30)
    assert load.errors == []
    assert set(load.statuses) == {200}
    assert len(load.statuses) > 200


def test_invalid_policy_is_rejected_and_the_last_good_one_keeps_serving(
    tmp_path: Path, upstreams: Any
) -> None:
    (_, large_url), (_, small_url), _ = upstreams
    good = policy_doc(large_url, {"v1": small_url})
    with running_router(good, tmp_path) as r:
        r.policy_path.write_text("large: [this is not a policy")
        wait_for(
            lambda: (
                'hybridroute_policy_reloads_total{outcome="rejected",source="file"} 1.0'
                in httpx.get(f"{r.url}/metrics").text
            )
        )
        bad_weights = policy_doc(
            large_url, {"v1": small_url, "v2": small_url}, weights={"v1": 50, "v2": 60}
        )
        r.write_policy(bad_weights)
        wait_for(
            lambda: (
                'hybridroute_policy_reloads_total{outcome="rejected",source="file"} 2.0'
                in httpx.get(f"{r.url}/metrics").text
            )
        )
        resp = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
        assert ready_digest(r.url) == digest(good)
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "answer from up1"


def test_a_policy_rejected_for_a_missing_key_file_applies_once_the_file_appears(
    tmp_path: Path, upstreams: Any
) -> None:
    (_, large_url), (_, url1), _ = upstreams
    key = tmp_path / "large.key"
    with running_router(policy_doc(large_url, {"v1": url1}), tmp_path) as r:
        keyed = policy_doc(large_url, {"v1": url1})
        keyed["large"]["upstream"]["apiKey"] = {"file": str(key)}
        r.write_policy(keyed)
        wait_for(
            lambda: (
                'hybridroute_policy_reloads_total{outcome="rejected",source="file"} 1.0'
                in httpx.get(f"{r.url}/metrics").text
            )
        )
        assert ready_digest(r.url) != digest(keyed)
        key.write_text("sk-test\n")  # the Secret is mounted late; the file is unchanged
        wait_for(lambda: ready_digest(r.url) == digest(keyed), timeout=15)


def test_console_script_serves_and_reloads_its_policy_file(tmp_path: Path, upstreams: Any) -> None:
    (_, large_url), (_, url1), (_, url2) = upstreams
    path = tmp_path / "policy.yaml"
    first = policy_doc(large_url, {"v1": url1})
    path.write_text(msgspec.json.encode(first).decode())
    with router_process(path, "--reload-interval", "0.1") as proc:
        url = proc.url
        r1 = httpx.post(f"{url}/v1/chat/completions", json=BODY)
        second = policy_doc(large_url, {"v2": url2})
        tmp = path.with_suffix(".tmp")
        tmp.write_text(msgspec.json.encode(second).decode())
        tmp.replace(path)
        wait_for(lambda: ready_digest(url) == digest(second))
        r2 = httpx.post(f"{url}/v1/chat/completions", json=BODY)
    assert r1.json()["choices"][0]["message"]["content"] == "answer from up1"
    assert r2.json()["choices"][0]["message"]["content"] == "answer from up2"
    assert r2.headers["x-hybridroute-version"] == "v2"


def test_admin_port_alone_serves_metrics_and_probes(tmp_path: Path, upstreams: Any) -> None:
    (_, large_url), (_, url1), _ = upstreams
    path = tmp_path / "policy.yaml"
    path.write_text(msgspec.json.encode(policy_doc(large_url, {"v1": url1})).decode())
    with router_process(path, admin=True) as proc:
        answer = httpx.post(f"{proc.url}/v1/chat/completions", json=BODY)
        public = {p: httpx.get(f"{proc.url}{p}").status_code for p in ADMIN_PATHS}
        admin = {p: httpx.get(f"{proc.admin_url}{p}") for p in ADMIN_PATHS}
        on_admin = httpx.post(f"{proc.admin_url}/v1/chat/completions", json=BODY)
    assert answer.status_code == 200
    assert public == dict.fromkeys(ADMIN_PATHS, 404)
    assert {p: r.status_code for p, r in admin.items()} == dict.fromkeys(ADMIN_PATHS, 200)
    assert "hybridroute_requests_total{" in admin["/metrics"].text
    assert on_admin.status_code == 404


def test_console_script_refuses_an_invalid_policy_at_startup(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("route: x\n")
    exe = Path(sys.executable).with_name("hybridroute-router")
    result = subprocess.run(
        [str(exe), "--policy", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "large: Field required" in result.stderr


def test_console_script_refuses_a_policy_file_that_is_not_utf8_with_a_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"large: \xff\xfe\n")
    exe = Path(sys.executable).with_name("hybridroute-router")
    result = subprocess.run(
        [str(exe), "--policy", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert f"{path}: not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr
