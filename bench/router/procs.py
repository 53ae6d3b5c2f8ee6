"""Process plumbing for the router benchmark: start a server pinned to a core, wait until
it answers, read its CPU time, pause it while another arm runs, stop it. Only processes
started here are ever signalled, by their own process group id."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from wrkstats import parse_proc_stat_cpu_ticks

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A server process started in its own session (process group id == pid)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pause(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.resume()
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


def pinned(cpu: int, nice: int, cmd: list[str], fifo: int = 0) -> list[str]:
    """cmd pinned to one core, at a nice level when not 0, or with fifo > 0 at that
    SCHED_FIFO priority (taskset, nice and chrt exec the command: the pid stays the same)."""
    prefix = ["nice", "-n", str(nice)] if nice else []
    if fifo > 0:
        prefix = ["chrt", "-f", str(fifo)]
    return ["taskset", "-c", str(cpu), *prefix, *cmd]


def set_fifo(pid: int, priority: int) -> None:
    """Every thread of pid to SCHED_FIFO at priority, or back to SCHED_OTHER (its nice
    level kept) with priority 0: a real-time thread is never kept waiting by ordinary
    work on its core."""
    policy = os.SCHED_FIFO if priority > 0 else os.SCHED_OTHER
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setscheduler(int(tid), policy, os.sched_param(priority))


def start(
    name: str, cmd: list[str], cpu: int, log: Path, env: dict[str, str], nice: int = 0
) -> Server:
    """Run cmd pinned to a core (see pinned) in a new session."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            pinned(cpu, nice, cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    set_autogroup_nice(proc.pid, nice)
    return Server(name, proc, log)


def set_autogroup_nice(pid: int, nice: int) -> None:
    """With autogroup scheduling (Linux, sched_autogroup_enabled=1) every session is one
    scheduling group and a process's own nice level only counts inside its group: the
    group's nice is what weighs against other sessions' work. A new session has its own
    group, so set it there too. Best effort: nothing to do where autogroup is absent."""
    if nice:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def run_pinned(
    cmd: list[str], cpu: int, nice: int, env: dict[str, str], timeout: float, fifo: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run cmd to completion pinned to a core, in its own session at the nice level (or
    at SCHED_FIFO priority fifo when > 0)."""
    with subprocess.Popen(
        pinned(cpu, nice, cmd, fifo),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    ) as proc:
        set_autogroup_nice(proc.pid, nice)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        return subprocess.CompletedProcess(proc.args, proc.returncode or 0, out, err)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            out.extend(int(c) for c in text.split())
    except OSError:
        pass
    return out


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of pid and all its live descendants."""
    ticks, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            ticks += parse_proc_stat_cpu_ticks(Path(f"/proc/{p}/stat").read_text())
        except OSError:
            continue
        todo.extend(_children(p))
    return ticks / CLK_TCK


def wait_http_ok(server: Server, url: str, timeout_s: float) -> None:
    """Poll url until it answers 2xx; raise with the server's log when it dies or times out."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            code = server.proc.returncode
            raise RuntimeError(f"{server.name} exited ({code}):\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
                last = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)  # polling interval of a readiness probe, not a synchronisation sleep
    raise RuntimeError(
        f"{server.name} not ready after {timeout_s:.0f}s ({last}):\n{server.log_tail()}"
    )


def post_chat(base_url: str, api_key: str) -> tuple[int, dict[str, str], dict[str, object]]:
    """One chat completion through base_url: status, headers, JSON body."""
    body = json.dumps(
        {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello."}]}
    ).encode()
    req = urllib.request.Request(
        f"{base_url}/v1/chat/completions",
        data=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {api_key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers.items()), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), {"error": exc.read().decode(errors="replace")}


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text: str = resp.read().decode()
        return text
