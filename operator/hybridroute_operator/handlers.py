"""kopf handlers: thin adapters from watch events to the reconciler. No logic here.

Handlers are ``async``: they run on the operator's event loop (sync ones would run in
kopf's thread pool, away from the work queue).

No handler needs a finalizer (no timers, daemons or on.delete): deleting a HybridRoute
never waits for the operator; its children go by owner-reference garbage collection."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from hybridroute_operator.admission import admission_problem
from hybridroute_operator.api.constants import GROUP, LABEL_MANAGED_BY, MANAGED_BY, PLURAL, VERSION
from hybridroute_operator.api.kinds import ENDPOINT_SLICE, WATCHED_CHILD_KINDS
from hybridroute_operator.reconcile import SERVICE_NAME_LABEL
from hybridroute_operator.runtime import Options, Runtime, cluster_access, webhook_certificate

registry = kopf.OperatorRegistry()
WEBHOOK_CONFIGURATION = "hybridroute.inferensys.io"


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


@kopf.on.login(registry=registry)
def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    access = cluster_access(memo.options)
    return kopf.ConnectionInfo(
        server=access.server,
        ca_path=access.verify if isinstance(access.verify, str) else None,
        insecure=access.verify is False,
        certificate_path=access.cert[0] if access.cert else None,
        private_key_path=access.cert[1] if access.cert else None,
        token=access.token,
        scheme="Bearer" if access.token else None,
    )


@kopf.on.startup(registry=registry)
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    options: Options = memo.options
    settings.posting.level = logging.WARNING
    settings.scanning.disabled = True
    settings.peering.lifetime = options.peering_lifetime_seconds  # a dead peer's lease
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    if options.webhook_port is not None:
        cert_file, key_file = webhook_certificate(options)
        settings.admission.server = kopf.WebhookServer(
            addr=options.webhook_addr,
            port=options.webhook_port,
            host=options.webhook_host,
            certfile=cert_file,
            pkeyfile=key_file,
            cafile=cert_file,
        )
        settings.admission.managed = WEBHOOK_CONFIGURATION
    runtime = Runtime(options, cluster_access(options))
    runtime.start()
    memo.runtime = runtime


@kopf.on.cleanup(registry=registry)
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await _runtime(memo).stop()


@kopf.on.probe(id="operator", registry=registry)
def probe(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    return _runtime(memo).health()


def validate_spec(spec: kopf.Spec, name: str | None, namespace: str | None, **_: Any) -> None:
    problem = admission_problem(name or "", namespace or "", dict(spec))
    if problem is not None:
        raise kopf.AdmissionError(problem, code=422)


def enable_webhook() -> None:
    """Register the validating webhook handler (kopf refuses admission handlers without
    a webhook server, so this only happens with ``--webhook-port``)."""
    kopf.on.validate(
        GROUP,
        VERSION,
        PLURAL,
        registry=registry,
        id="spec",
        operations=["CREATE", "UPDATE"],
        ignore_failures=True,  # the operator being down must not block applies
    )(validate_spec)


@kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
async def route_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    body = event["object"]
    if event["type"] == "DELETED":
        runtime.reconciler.route_gone(body)
        return
    key = runtime.reconciler.route_seen(body)
    if key is not None:
        runtime.queue.request(key)


async def child_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    runtime.trigger(runtime.reconciler.child_seen(event["type"], event["object"]))


async def artifact_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    for key in runtime.reconciler.artifact_seen(event["object"]):
        runtime.queue.request(key)


async def endpoints_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    runtime.status_changed(runtime.reconciler.slice_seen(event["type"], event["object"]))


for _kind in WATCHED_CHILD_KINDS:
    kopf.on.event(
        group=_kind.group,
        version=_kind.version,
        plural=_kind.plural,
        labels={LABEL_MANAGED_BY: MANAGED_BY},
        registry=registry,
        id=f"child-{_kind.plural}",
    )(child_event)

# Artifact ConfigMaps are the user's (no label of ours): every ConfigMap event is looked
# up by name; the operator's ConfigMap watch is unfiltered at the server anyway.
kopf.on.event("", "v1", "configmaps", registry=registry, id="artifact-configmaps")(artifact_event)

kopf.on.event(
    group=ENDPOINT_SLICE.group,
    version=ENDPOINT_SLICE.version,
    plural=ENDPOINT_SLICE.plural,
    labels={SERVICE_NAME_LABEL: kopf.PRESENT},
    registry=registry,
    id="endpointslices",
)(endpoints_event)
