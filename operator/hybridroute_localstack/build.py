"""Build the pinned binaries with the local Go toolchain and cache them by version.

``build_all()`` is what ``hybridroute-local build`` and ``.ci/setup`` run: a tool whose
cache directory already holds every binary costs nothing, a missing one is built into a
temporary directory that is renamed into place only when the build succeeded, so an
interrupted build never leaves a half-filled cache entry behind.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from hybridroute_localstack.versions import ALL_TOOLS, MIN_GO, Tool

GO_HELP = (
    "install Go >= {need} and put `go` on PATH (https://go.dev/doc/install); "
    "an older go can fetch the right one itself with GOTOOLCHAIN=go{need}.0"
)


class BuildError(RuntimeError):
    """A tool could not be built; the message says what is missing and what to do."""


class MissingBinaryError(RuntimeError):
    """A binary the local stack needs is not in the cache yet."""


def cache_root() -> Path:
    """``$HYBRIDROUTE_CACHE_DIR`` or ``~/.cache/hybridroute``: outside the repository."""
    configured = os.environ.get("HYBRIDROUTE_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "hybridroute"


def tool_dir(tool: Tool) -> Path:
    """Where the binaries of ``tool`` live once built."""
    return cache_root() / "bin" / tool.key


def gomod_dir(tool: Tool) -> Path | None:
    """The wrapper Go module shipped with this package, if ``tool`` uses one."""
    if tool.module_dir is None:
        return None
    return Path(__file__).resolve().parent / "gomod" / tool.module_dir


def is_built(tool: Tool) -> bool:
    directory = tool_dir(tool)
    return all((directory / binary).is_file() for binary in tool.binaries)


def find_binary(name: str) -> Path:
    """The cached path of binary ``name``; raises :class:`MissingBinaryError` if not built."""
    for tool in ALL_TOOLS:
        if name in tool.binaries:
            path = tool_dir(tool) / name
            if path.is_file():
                return path
            raise MissingBinaryError(
                f"{name} {tool.version} is not built yet (expected {path}); "
                "run `hybridroute-local build` (or `bash .ci/setup`) first"
            )
    raise MissingBinaryError(f"{name} is not one of the binaries the local stack builds")


def parse_go_version(text: str) -> tuple[int, int] | None:
    """``(major, minor)`` from ``go env GOVERSION`` output such as ``go1.26.8``."""
    match = re.search(r"go(\d+)\.(\d+)", text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def check_go() -> str:
    """The path of a usable ``go``; raises :class:`BuildError` saying how to get one."""
    need = f"{MIN_GO[0]}.{MIN_GO[1]}"
    go = shutil.which("go")
    if go is None:
        raise BuildError("missing: go (not on PATH); " + GO_HELP.format(need=need))
    result = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    found = parse_go_version(result.stdout)
    if found is None or found < MIN_GO:
        raise BuildError(
            f"go at {go} reports {result.stdout.strip() or result.stderr.strip()!r}; "
            + GO_HELP.format(need=need)
        )
    return go


def go_command(go: str, tool: Tool, out_dir: Path) -> list[str]:
    """The single go invocation that builds every binary of ``tool`` into ``out_dir``."""
    flags = ["-trimpath", "-ldflags", " ".join(["-s", "-w", *tool.ldflags])]
    if tool.module_dir is None:
        return [go, "install", *flags, *tool.packages]
    return [go, "build", *flags, "-o", f"{out_dir}{os.sep}", *tool.packages]


def go_environment(out_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env["GOBIN"] = str(out_dir)
    env["GOFLAGS"] = " ".join(filter(None, [env.get("GOFLAGS", ""), "-buildvcs=false"]))
    return env


def build_tool(go: str, tool: Tool, say: Callable[[str], None]) -> Path:
    """Build ``tool`` unless cached; returns its directory."""
    final = tool_dir(tool)
    final.parent.mkdir(parents=True, exist_ok=True)
    with (final.parent / f".{tool.key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(tool):
            say(f"{tool.key}: cached in {final}")
            return final
        partial = final.parent / f".{tool.key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        log_path = cache_root() / "logs" / f"build-{tool.key}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command = go_command(go, tool, partial)
        say(f"{tool.key}: building {', '.join(tool.binaries)} (cold: minutes; log {log_path})")
        started = time.monotonic()
        with log_path.open("w") as log:
            log.write(" ".join(command) + "\n")
            log.flush()
            result = subprocess.run(
                command,
                cwd=gomod_dir(tool),
                env=go_environment(partial),
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0 or not all((partial / b).is_file() for b in tool.binaries):
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
            raise BuildError(
                f"building {tool.key} failed (exit {result.returncode}); "
                f"full log: {log_path}\n{tail}\n"
                "the Go module proxy must be reachable (GOPROXY) for a cold build"
            )
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        say(f"{tool.key}: built in {time.monotonic() - started:.0f}s -> {final}")
        return final


def build_all(tools: Iterable[Tool] = ALL_TOOLS, say: Callable[[str], None] = print) -> list[Path]:
    """Build (or reuse) every tool; the first failure stops with a :class:`BuildError`."""
    pending = list(tools)
    if all(is_built(tool) for tool in pending):
        for tool in pending:
            say(f"{tool.key}: cached in {tool_dir(tool)}")
        return [tool_dir(tool) for tool in pending]
    go = check_go()
    return [build_tool(go, tool, say) for tool in pending]
