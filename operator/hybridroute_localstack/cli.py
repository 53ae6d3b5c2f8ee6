"""``hybridroute-local``: build the binaries and run a local control plane outside pytest.

hybridroute-local build          build or reuse the pinned binaries (cached by version)
hybridroute-local up [--full]    start etcd + kube-apiserver (+ controllers, scheduler,
                                 kwok node with --full) detached; prints KUBECONFIG
hybridroute-local env            print `export KUBECONFIG=...` for the running plane
hybridroute-local status         which components run; exit 1 if any is down
hybridroute-local down           stop everything `up` started
hybridroute-local run [...]      the live HybridRoute: control plane, Prometheus, operator,
                                 model servers and router processes, in the foreground
                                 (what `bash .ci/up` runs; docs/local-stack.md)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybridroute_localstack import demo, state
from hybridroute_localstack.build import BuildError, build_all, tool_dir
from hybridroute_localstack.controlplane import ControlPlane
from hybridroute_localstack.probe import answers, tls_context
from hybridroute_localstack.process import ComponentFailed
from hybridroute_localstack.versions import ETCD, HELM, KUBERNETES, KWOK


def _say(message: str) -> None:
    print(message, flush=True)


def _healthy(run: state.RunState) -> bool:
    if not all(run.alive().values()):
        return False
    pki = Path(run.kubeconfig).parent / "pki"
    context = tls_context(pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
    return answers(f"{run.server}/readyz", context, expect="ok")


def cmd_build(_: argparse.Namespace) -> int:
    build_all(say=_say)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    directory: Path = args.state_dir
    existing = state.load(directory)
    if existing is not None:
        has_workloads = any(c.name == "kwok" for c in existing.components)
        if _healthy(existing) and (has_workloads or not args.full):
            _say(f"already running: {existing.server}")
            _say(f"export KUBECONFIG={existing.kubeconfig}")
            return 0
        _say("stopping the previous control plane: " + ", ".join(state.stop_recorded(existing)))
    shutil.rmtree(directory, ignore_errors=True)
    build_all(say=lambda message: None if "cached" in message else _say(message))
    plane = ControlPlane(directory, die_with_parent=False, start_timeout=args.timeout)
    try:
        plane.start()
        _say(f"kube-apiserver ready at {plane.server}")
        if args.full:
            plane.start_workloads()
            _say("kube-controller-manager, kube-scheduler and kwok ready; node kwok-node-0 Ready")
    except BaseException:
        plane.stop()
        raise
    state.save(state.record(plane), directory)
    _say(f"logs in {plane.logs_dir}; stop with `hybridroute-local down`")
    _say(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    existing = state.load(args.state_dir)
    if existing is None:
        _say("nothing to stop")
        return 0
    stopped = state.stop_recorded(existing)
    (args.state_dir / state.STATE_FILE).unlink(missing_ok=True)
    _say("stopped: " + (", ".join(stopped) or "nothing was running"))
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    existing = state.load(args.state_dir)
    if existing is None:
        print("not running; start it with `hybridroute-local up`", file=sys.stderr)
        return 1
    print(f"export KUBECONFIG={existing.kubeconfig}")
    tools = ":".join(str(tool_dir(t)) for t in (KUBERNETES, HELM, KWOK, ETCD))
    print(f'export PATH="{tools}:$PATH"')
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    existing = state.load(args.state_dir)
    if existing is None:
        _say("not running")
        return 1
    for name, alive in existing.alive().items():
        _say(f"{name:<24} {'running' if alive else 'DOWN'}")
    healthy = _healthy(existing)
    _say(f"{'kube-apiserver /readyz':<24} {'ok' if healthy else 'FAILING'} ({existing.server})")
    return 0 if healthy else 1


def cmd_run(args: argparse.Namespace) -> int:
    options = demo.DemoOptions(
        state_dir=args.state_dir,
        crds=args.crds,
        example=args.example,
        namespace=args.namespace,
        traffic=args.traffic,
        duration=args.duration,
        summary_json=args.summary_json,
        refresh=args.refresh,
        timeout=args.timeout,
        fancy=False if args.plain else None,
    )
    return demo.run(options, _say)


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="the live HybridRoute in the foreground (what `bash .ci/up` runs)",
        description=demo.__doc__.split("\n\n")[0] if demo.__doc__ else None,
    )
    run.add_argument(
        "--traffic",
        type=float,
        default=0.0,
        metavar="RATE",
        help="replay recorded eval questions through the route, RATE per second",
    )
    run.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="tear everything down and exit after SECONDS of serving",
    )
    run.add_argument(
        "--summary-json",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the final numbers here",
    )
    run.add_argument("--refresh", type=float, default=3.0, help="seconds between live updates")
    run.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    run.add_argument("--namespace", default="default", help="where the example goes")
    run.add_argument(
        "--crds", type=Path, default=demo.CHECKOUT / "crds", help="CRD YAML to install"
    )
    run.add_argument(
        "--example",
        type=Path,
        default=demo.CHECKOUT / "examples" / "02-hybridroute",
        help="a folder with model manifests and one HybridRoute",
    )
    run.add_argument("--timeout", type=float, default=180.0, help="seconds per bring-up step")
    run.set_defaults(func=cmd_run)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hybridroute-local", description=__doc__.split("\n")[0])
    root.add_argument(
        "--state-dir",
        type=Path,
        default=state.default_state_dir(),
        help="where `up` keeps certificates, data, logs and state (default: %(default)s)",
    )
    sub = root.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build or reuse the pinned binaries").set_defaults(func=cmd_build)
    up = sub.add_parser("up", help="start the control plane detached")
    up.add_argument("--full", action="store_true", help="also controllers, scheduler and kwok")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds per component")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop what `up` started").set_defaults(func=cmd_down)
    sub.add_parser("env", help="print the KUBECONFIG export").set_defaults(func=cmd_env)
    sub.add_parser("status", help="show what runs").set_defaults(func=cmd_status)
    _add_run(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (BuildError, ComponentFailed) as failed:
        print(f"hybridroute-local {args.command}: {failed}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
