"""``hybridroute-router``: load the policy, build the app, serve it with uvicorn on
uvloop + httptools."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
from hybridroute_policy import DEFAULTS_KEY, PolicyError

from hybridroute_router.http.app import Hook, RouterApp
from hybridroute_router.policy_source.artifacts import ArtifactWatcher
from hybridroute_router.policy_source.configmap import (
    POLICY_KEY,
    ConfigMapWatcher,
    fetch_policy_document,
)
from hybridroute_router.policy_source.file import FileWatcher, marker_path, read_document
from hybridroute_router.policy_source.kube import (
    KubeAccess,
    KubeConfigError,
    from_kubeconfig,
    in_cluster,
)
from hybridroute_router.policy_source.reloader import (
    PolicyDocument,
    Reloader,
    read_policy,
)
from hybridroute_router.runtime import Options, Runtime
from hybridroute_router.state import RouterState, build_state
from hybridroute_router.telemetry.logs import JsonFormatter
from hybridroute_router.telemetry.tracing import (
    DEFAULT_SAMPLE_RATIO,
    EXPORTERS,
    Tracing,
    build_provider,
    exporter_from_env,
    sample_ratio_from_env,
)

log = logging.getLogger("hybridroute.router")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hybridroute-router",
        description="OpenAI-compatible router between a large and a small model.",
    )
    p.add_argument("--policy", help="policy file (YAML or JSON); watched for changes")
    p.add_argument(
        "--policy-configmap",
        metavar="NAMESPACE/NAME",
        help=f"also follow this ConfigMap's {POLICY_KEY!r} key via the Kubernetes API; "
        f"the policy (and --policy's file) is read with the defaults its {DEFAULTS_KEY!r} "
        "key names (absent: those of before the default scorer became auto)",
    )
    p.add_argument("--kubeconfig", help="kubeconfig for --policy-configmap (default: in-cluster)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--admin-port",
        type=int,
        help="serve /metrics, /healthz and /readyz on this port only (default: on --port)",
    )
    p.add_argument("--admin-host", help="listen address of --admin-port (default: --host)")
    p.add_argument(
        "--feedback-token-file",
        default=os.environ.get("HYBRIDROUTE_FEEDBACK_TOKEN_FILE"),
        metavar="PATH",
        help="POST /v1/feedback needs 'Authorization: Bearer <this file's token>' "
        "(default $HYBRIDROUTE_FEEDBACK_TOKEN_FILE; none: open)",
    )
    p.add_argument(
        "--startup-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with only --policy-configmap: how long to wait at startup for the ConfigMap "
        "while it does not exist yet or the API server is unavailable (404, 429, 5xx, no "
        "answer), retrying with back-off; 401/403 fail at once",
    )
    p.add_argument(
        "--reload-interval",
        type=float,
        default=1.0,
        help="seconds between policy file checks (and artifact file checks while the "
        "policy's scorer could not load)",
    )
    p.add_argument(
        "--decision-log",
        metavar="PATH|-|off",
        help="decision log target; default policy.logging.decisionLog, else stdout",
    )
    p.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="uvicorn's per-request access log (off by default: it is costly)",
    )
    p.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    p.add_argument(
        "--otel-exporter",
        default=exporter_from_env(os.environ),
        choices=EXPORTERS,
        help="OpenTelemetry trace exporter (default $OTEL_TRACES_EXPORTER, else none); "
        "otlp sends OTLP/HTTP protobuf to $OTEL_EXPORTER_OTLP_ENDPOINT",
    )
    p.add_argument(
        "--trace-sample-ratio",
        type=float,
        default=None,
        help="parent-based sampling ratio of new traces when tracing is on (default "
        "$OTEL_TRACES_SAMPLER_ARG with OTEL_TRACES_SAMPLER=parentbased_traceidratio, "
        f"else {DEFAULT_SAMPLE_RATIO})",
    )
    p.add_argument(
        "--trust-request-id",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="use the client's x-request-id as the request id (off: always generate ids)",
    )
    p.add_argument(
        "--hash-key-file",
        default=os.environ.get("HYBRIDROUTE_HASH_KEY_FILE"),
        metavar="PATH",
        help="secret that keys the sticky version hash and the prompt HMAC in the logs "
        "(default $HYBRIDROUTE_HASH_KEY_FILE; none: a per-process key, no prompt HMAC)",
    )
    return p


def read_secret(path: str | None, option: str) -> bytes | None:
    """A secret file's bytes (surrounding whitespace removed), or None without a path."""
    if not path:
        return None
    try:
        value = Path(path).read_bytes().strip()
    except OSError as exc:
        raise SystemExit(f"hybridroute-router: cannot read {option}: {exc}") from exc
    if not value:
        raise SystemExit(f"hybridroute-router: {option} is empty")
    return value


def read_hash_key(path: str | None) -> bytes | None:
    """The secret of ``--hash-key-file`` (surrounding whitespace removed), or None."""
    if not path:
        return None
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise SystemExit(f"hybridroute-router: cannot read --hash-key-file: {exc}") from exc
    if len(key) < 16:
        raise SystemExit("hybridroute-router: --hash-key-file must hold at least 16 bytes")
    return key


def _split_configmap(value: str) -> tuple[str, str]:
    namespace, _, name = value.partition("/")
    if not namespace or not name:
        raise SystemExit("--policy-configmap must be NAMESPACE/NAME")
    return namespace, name


def _initial_state(args: argparse.Namespace, access: KubeAccess | None) -> RouterState:
    """The first policy: ``--policy``'s file, else the ConfigMap read through the API;
    with ``--policy-configmap`` read with the defaults its marker names."""
    doc: PolicyDocument
    if args.policy:
        source = str(args.policy)
        marker = marker_path(args.policy) if access is not None else None
        try:
            doc = read_document(Path(args.policy), marker)
        except OSError as exc:
            raise PolicyError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    else:
        assert access is not None
        namespace, name = _split_configmap(args.policy_configmap)
        source = f"configmap/{namespace}/{name}"
        doc = fetch_policy_document(access, namespace, name, timeout=args.startup_timeout)
    policy, defaults = read_policy(doc, source=source, from_configmap=access is not None)
    return build_state(policy, source=source, defaults=defaults)


def build_app(args: argparse.Namespace) -> RouterApp:
    if not args.policy and not args.policy_configmap:
        raise SystemExit("hybridroute-router: give --policy PATH and/or --policy-configmap NS/NAME")
    access: KubeAccess | None = None
    if args.policy_configmap:
        namespace, name = _split_configmap(args.policy_configmap)
        try:
            access = from_kubeconfig(args.kubeconfig) if args.kubeconfig else in_cluster()
        except KubeConfigError as exc:
            raise SystemExit(f"hybridroute-router: {exc}") from exc
    try:
        state = _initial_state(args, access)
    except (PolicyError, httpx.HTTPError, RuntimeError) as exc:
        raise SystemExit(f"hybridroute-router: cannot start: {exc}") from exc
    if args.admin_port is not None and args.admin_port == args.port and args.port != 0:
        raise SystemExit("hybridroute-router: --admin-port must differ from --port")
    options = Options(
        decision_log=args.decision_log,
        trust_request_id=args.trust_request_id,
        hash_key=read_hash_key(args.hash_key_file),
        feedback_token=read_secret(args.feedback_token_file, "--feedback-token-file"),
        admin_port=args.admin_port,
    )
    ratio = args.trace_sample_ratio
    if ratio is None and args.otel_exporter != "none":
        ratio = sample_ratio_from_env(os.environ)
    tracing = Tracing(
        build_provider(args.otel_exporter, DEFAULT_SAMPLE_RATIO if ratio is None else ratio)
    )
    rt = Runtime(state, options=options, tracing=tracing)
    reloader = Reloader(rt, from_configmap=access is not None)
    startup: list[Hook] = []
    shutdown: list[Hook] = []
    cm: ConfigMapWatcher | None = None
    if access is not None:
        cm = ConfigMapWatcher(access, namespace, name, reloader)
        startup.append(cm.start)
        shutdown.append(cm.stop)
    if args.policy:
        watcher = FileWatcher(
            args.policy,
            reloader,
            interval=args.reload_interval,
            defer_to=(lambda: cm.healthy) if cm is not None else None,
            marker=marker_path(args.policy) if cm is not None else None,
        )
        watcher.prime()
        startup.insert(0, watcher.start)
        shutdown.append(watcher.stop)
    artifacts = ArtifactWatcher(rt, interval=args.reload_interval)
    startup.append(artifacts.start)
    shutdown.append(artifacts.stop)
    shutdown.append(reloader.stop)
    return RouterApp(rt, on_startup=startup, on_shutdown=shutdown)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    app = build_app(args)
    import uvicorn

    from hybridroute_router.serving import RouterHttpProtocol

    # Everything loaded so far lives as long as the process: move it out of the cyclic
    # collector's sight, so collections stay short (tail latency). Done here, by the
    # process's owner, not in the app: an embedding process keeps its own GC.
    gc.collect()
    gc.freeze()

    sockets: list[socket.socket] | None = None
    if args.admin_port is not None:  # one server, two listeners; the app splits by port
        sockets = [
            listen(args.host, args.port),
            listen(args.admin_host or args.host, args.admin_port),
        ]
        app.admin_port = sockets[1].getsockname()[1]
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http=RouterHttpProtocol,  # httptools; an answer's head and body in one write
        lifespan="on",
        access_log=args.access_log,
        log_level=args.log_level,
        server_header=False,
        proxy_headers=False,  # the router reads no client address; saves a middleware hop
        date_header=False,
        log_config=None,  # uvicorn's own logs go through the JSON handler above
    )
    uvicorn.Server(config).run(sockets=sockets)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket (IPv6 when ``host`` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise SystemExit(f"hybridroute-router: cannot listen on {host}:{port}: {exc}") from exc


if __name__ == "__main__":
    main()
