"""``hybridroute-operator``: run the HybridRoute operator (kopf) against a cluster."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, cast

import kopf

from hybridroute_operator.handlers import enable_webhook, registry
from hybridroute_operator.peering import own_identity, random_priority
from hybridroute_operator.runtime import Options


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hybridroute-operator", description=__doc__)
    p.add_argument("--kubeconfig", type=Path, help="kubeconfig file; in-cluster account when unset")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)"
    )
    scope.add_argument(
        "--all-namespaces", "-A", action="store_true", help="watch the whole cluster"
    )
    peering = p.add_mutually_exclusive_group()
    peering.add_argument(
        "--standalone", action="store_true", help="no peering (only one replica may run)"
    )
    peering.add_argument(
        "--peering", default="hybridroute-operator", help="kopf peering object (several replicas)"
    )
    p.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority of this replica (the highest live one works); default: a "
        "random one, so that replicas never tie (kopf pauses all peers of equal priority)",
    )
    p.add_argument(
        "--peering-lifetime",
        type=int,
        default=60,
        help="seconds before a silent peer is considered gone (a standby takes over)",
    )
    p.add_argument("--metrics-port", type=int, default=8090, help="Prometheus metrics; 0 disables")
    p.add_argument("--metrics-host", default="0.0.0.0")  # noqa: S104
    p.add_argument("--health-port", type=int, default=8091, help="/healthz for probes; 0 disables")
    p.add_argument(
        "--webhook-port",
        type=int,
        default=0,
        help="serve the validating admission webhook on this port (0: off)",
    )
    p.add_argument(
        "--webhook-host",
        default="127.0.0.1",
        help="name or IP by which the API server reaches the webhook (in its certificate)",
    )
    p.add_argument(
        "--prometheus-url",
        default=None,
        help="default Prometheus for load adaptation and canary analysis (a route's own "
        "spec.adaptation.prometheus / spec.canary.prometheus wins)",
    )
    p.add_argument(
        "--savings-interval",
        type=float,
        default=60.0,
        help="seconds between status.savings measurements of a route without "
        "spec.adaptation (with it: the adaptation interval)",
    )
    p.add_argument("--resync-seconds", type=float, default=60.0)
    p.add_argument("--retry-seconds", type=float, default=5.0)
    p.add_argument("--max-parallel", type=int, default=16, help="routes reconciled at once")
    p.add_argument("--log-format", choices=["json", "text"], default="json")
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning"],
        default="info",
        help="the operator's own log level (debug: one line per reconcile)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="kopf's debug logs too")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger("hybridroute.operator").setLevel(args.log_level.upper())
    if not args.verbose:  # kopf logs every handled watch event at INFO
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    peering = None if args.standalone else args.peering
    priority = random_priority() if args.priority is None else args.priority
    identity = own_identity()
    if peering is not None:
        logging.getLogger("hybridroute.operator").info(
            "peering %s as %s with priority %d", peering, identity, priority
        )
    options = Options(
        kubeconfig=args.kubeconfig,
        resync_seconds=args.resync_seconds,
        retry_seconds=args.retry_seconds,
        max_parallel=args.max_parallel,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port or None,
        peering_lifetime_seconds=args.peering_lifetime,
        webhook_port=args.webhook_port or None,
        webhook_host=args.webhook_host,
        peering_name=peering,
        identity=identity,
        priority=priority,
        namespaces=() if args.all_namespaces else tuple(args.namespace),
        prometheus_url=args.prometheus_url,
        savings_interval_seconds=args.savings_interval,
    )
    if options.webhook_port is not None:
        enable_webhook()
    liveness = f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None
    kopf.run(
        registry=registry,
        memo=kopf.Memo(options=options),
        standalone=args.standalone,
        peering_name=peering,
        priority=priority,
        identity=cast(Any, identity),  # kopf's Identity is a NewType of str
        clusterwide=args.all_namespaces or not args.namespace,  # no namespace: the cluster
        namespaces=args.namespace,
        liveness_endpoint=liveness,
    )
    return 0
