"""Reconcile one HybridRoute: observe, render, apply what changed, prune, write status.

Level-based: it reads the latest known object and converges the cluster to it, however
often and in whatever order it is triggered. The API is reached only through ``kube``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hybridroute_operator.api.constants import LABEL_MANAGED_BY, LABEL_ROUTE, MANAGED_BY
from hybridroute_operator.api.kinds import (
    CONFIGMAP,
    DEPLOYMENT,
    ENDPOINT_SLICE,
    PRUNABLE_KINDS,
    SERVICE,
    SERVICE_MONITOR,
)
from hybridroute_operator.api.spec import HybridRouteSpec, SpecError, parse_spec
from hybridroute_operator.artifacts import artifact_refs
from hybridroute_operator.controls import LoopOutput, controls_from_status, effective_spec
from hybridroute_operator.drift import drifted
from hybridroute_operator.kube import KubeApi, KubeError
from hybridroute_operator.metrics import OperatorMetrics
from hybridroute_operator.observed import (
    EXTERNAL,
    LARGE,
    EndpointHealth,
    Observed,
    ObservedIndex,
    configmap_files,
    router_health,
    small_target,
)
from hybridroute_operator.render import (
    Manifest,
    RouteRef,
    build_policy,
    key_of,
    large_service_name,
    render,
    router_endpoint,
    router_name,
    small_service_name,
)
from hybridroute_operator.status import (
    Outcome,
    build_status,
    condition,
    find_problems,
    same_status,
)

RouteKey = tuple[str, str]
ChildKey = tuple[str, str, str]
log = logging.getLogger("hybridroute.operator")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
API_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class Trigger:
    """A route to reconcile; not urgent = status refresh, may wait to coalesce a burst."""

    key: RouteKey
    urgent: bool


async def _none() -> Any:
    return None


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _revision(resource_version: str) -> int:
    """resourceVersion as a number where it is one (etcd revisions), else 0 (unknown)."""
    return int(resource_version) if resource_version.isdigit() else 0


def _digest(manifest: Manifest) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


@dataclass
class AppliedCache:
    """What was last applied per route, so unchanged children are not sent again."""

    applied: dict[RouteKey, dict[ChildKey, tuple[str, Manifest, int]]] = field(default_factory=dict)

    def unchanged(self, route: RouteKey, manifest: Manifest) -> bool:
        seen = self.applied.get(route, {}).get(key_of(manifest))
        return seen is not None and seen[0] == _digest(manifest)

    def remember(self, route: RouteKey, manifest: Manifest, resource_version: str = "") -> None:
        entry = (_digest(manifest), manifest, _revision(resource_version))
        self.applied.setdefault(route, {})[key_of(manifest)] = entry

    def desired(self, route: RouteKey, child: ChildKey) -> Manifest | None:
        seen = self.applied.get(route, {}).get(child)
        return seen[1] if seen else None

    def older_than_applied(self, route: RouteKey, child: ChildKey, resource_version: str) -> bool:
        """An event from before the operator's last apply of this child (a stale view,
        not a change by hand)."""
        seen = self.applied.get(route, {}).get(child)
        revision = _revision(resource_version)
        return seen is not None and 0 < revision < seen[2]

    def keys(self, route: RouteKey) -> set[ChildKey]:
        return set(self.applied.get(route, {}))

    def forget_child(self, route: RouteKey, child: ChildKey) -> None:
        self.applied.get(route, {}).pop(child, None)

    def forget_route(self, route: RouteKey) -> None:
        self.applied.pop(route, None)


def replacing(old: Any, new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` as a JSON merge patch that replaces ``old`` (status is merge-patched): keys
    of ``old`` that ``new`` no longer has are set to None (deleted), in nested objects too
    (a version dropped from ``status.canary.weights`` must not linger)."""
    out = dict(new)
    if isinstance(old, Mapping):
        for k, v in old.items():
            if k not in out:
                if v is not None:
                    out[k] = None
            elif isinstance(v, Mapping) and isinstance(out[k], Mapping):
                out[k] = replacing(v, out[k])
    return out


def route_ref(body: Mapping[str, Any]) -> RouteRef:
    meta = body["metadata"]
    return RouteRef(
        name=meta["name"],
        namespace=meta["namespace"],
        uid=meta["uid"],
        generation=int(meta.get("generation") or 1),
    )


def _service_for(route: RouteRef, target: str, spec: HybridRouteSpec) -> str | None:
    """The Service whose endpoints tell a target's readiness (None for external URLs)."""
    if target == LARGE:
        endpoint, own = spec.large.endpoint, large_service_name(route)
    else:
        version = target.removeprefix("small/")
        endpoint = next(v.endpoint for v in spec.small.versions if v.name == version)
        own = small_service_name(route, version)
    if endpoint.url is not None:
        return None
    return endpoint.service or own


class Reconciler:
    def __init__(
        self, kube: KubeApi, metrics: OperatorMetrics, *, now: Callable[[], str] = utc_now
    ) -> None:
        self.kube = kube
        self.metrics = metrics
        self.now = now
        self.cache = AppliedCache()
        self.routes: dict[RouteKey, dict[str, Any]] = {}
        self._generations: dict[RouteKey, tuple[str, int]] = {}
        self._written: dict[RouteKey, dict[str, Any]] = {}
        self._monitoring: tuple[float, bool] | None = None
        self._services: dict[RouteKey, frozenset[str]] = {}
        self.index = ObservedIndex()
        self.specs: dict[RouteKey, HybridRouteSpec] = {}  # last valid spec, as written
        # control loops' latest outputs: loop name -> (condition types it owns, output)
        self.loop_outputs: dict[RouteKey, dict[str, tuple[tuple[str, ...], LoopOutput | None]]]
        self.loop_outputs = {}

    # -- what the handlers feed in -------------------------------------------------------
    def route_seen(self, body: Mapping[str, Any]) -> RouteKey | None:
        """Remember the latest object; return its key when it needs a reconcile (a new
        object or a new generation; status-only updates do not)."""
        ref = route_ref(body)
        key = (ref.namespace, ref.name)
        self.routes[key] = dict(body)
        self.metrics.routes.set(len(self.routes))
        if self._generations.get(key) == (ref.uid, ref.generation):
            return None
        return key

    def route_gone(self, body: Mapping[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        self.routes.pop(key, None)
        self.cache.forget_route(key)
        self._generations.pop(key, None)
        self._written.pop(key, None)
        self.specs.pop(key, None)
        self.loop_outputs.pop(key, None)
        self.metrics.forget_route(*key)
        self.index.forget(key[0], self._services.pop(key, frozenset()), key)
        self.metrics.routes.set(len(self.routes))

    # -- what the control loops feed in --------------------------------------------------
    def status_view(self, key: RouteKey) -> dict[str, Any]:
        """The latest status as this operator knows it: the object's, what it wrote
        since, and the loops' sections not written yet."""
        body = self.routes.get(key) or {}
        status = dict(body.get("status") or {})
        status.update(self._written.get(key, {}))
        for name, (_, output) in self.loop_outputs.get(key, {}).items():
            if output is not None and output.section is not None:
                status[name] = dict(output.section)
            else:
                status.pop(name, None)
        return status

    def loop_output(
        self, key: RouteKey, name: str, condition_types: tuple[str, ...], output: LoopOutput | None
    ) -> bool:
        """A control loop's decision (None: the loop was switched off for this route);
        the next reconcile writes it to status and renders the policy from it. True when
        it differs from the loop's last decision: an equal one needs no reconcile (the
        status and policy it leads to were already requested, failures are retried).
        Each evaluation is counted (``hybridroute_operator_loop_evaluations_total``)."""
        changed = False
        if key in self.routes:
            outputs = self.loop_outputs.setdefault(key, {})
            changed = outputs.get(name) != (condition_types, output)
            outputs[name] = (condition_types, output)
            if output is not None:
                labels = {"namespace": key[0], "route": key[1], "loop": name}
                self.metrics.loop_evaluations.labels(**labels).inc()
        if output is None:
            self.metrics.forget_route(*key, loop=name)
        return changed

    def artifact_seen(self, body: Mapping[str, Any]) -> list[RouteKey]:
        """A ConfigMap changed: the routes that mount it as a scorer artifact or examples
        (their policy carries its hash, so they need a reconcile now, not at resync)."""
        meta = body.get("metadata") or {}
        if (meta.get("labels") or {}).get(LABEL_MANAGED_BY) == MANAGED_BY:
            return []  # the operator's own policy ConfigMaps: most events, never artifacts
        namespace, name = meta.get("namespace"), meta.get("name")
        return [
            key
            for key, spec in self.specs.items()
            if key[0] == namespace and any(r.config_map == name for r in artifact_refs(spec))
        ]

    def child_seen(self, event_type: str | None, body: Mapping[str, Any]) -> Trigger | None:
        """A child changed: whether and how soon its owner needs a reconcile. A deleted
        child, or one whose operator-owned fields were edited, is forgotten (so re-applied)
        at once; a router Deployment's status change only refreshes status, debounced."""
        meta = body.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(LABEL_ROUTE)
        key = (str(meta.get("namespace")), str(owner))
        if owner is None or key not in self.routes:
            return None
        child = (str(body.get("apiVersion")), str(body.get("kind")), str(meta.get("name")))
        desired = self.cache.desired(key, child)
        stale = self.cache.older_than_applied(key, child, str(meta.get("resourceVersion", "")))
        changed = event_type == "DELETED" or drifted(desired or {}, dict(body))
        if desired is not None and not stale and changed:
            log.info("child changed by hand, restoring", extra={"route": owner, "child": child[1:]})
            self.cache.forget_child(key, child)
            self.metrics.drift.labels(kind=child[1]).inc()
            if child[1] == DEPLOYMENT.kind:
                self.index.router_event(key, event_type, body)
            return Trigger(key, urgent=True)
        if body.get("kind") == DEPLOYMENT.kind:  # router readiness may have changed
            self.index.router_event(key, event_type, body)
            return Trigger(key, urgent=False)
        return None

    def slice_seen(self, event_type: str | None, body: Mapping[str, Any]) -> list[RouteKey]:
        """Index an EndpointSlice; the routes whose model readiness depends on it."""
        service = self.index.slice_event(event_type, body)
        if service is None:
            return []
        namespace, name = service
        return [k for k, names in self._services.items() if k[0] == namespace and name in names]

    def resync(self, key: RouteKey) -> None:
        """Periodic full pass: re-apply everything (no-ops at the server when unchanged)
        and re-read readiness from the API (in case a watch missed something)."""
        self.cache.forget_route(key)
        self.index.forget(key[0], self._services.get(key, frozenset()), key)

    # -- the reconcile itself ------------------------------------------------------------
    async def reconcile(self, key: RouteKey) -> bool:
        """Returns False when it should be retried (an API error)."""
        body = self.routes.get(key)
        if body is None:
            return True
        started = time.perf_counter()
        ref = route_ref(body)
        try:
            ok, result = await self._reconcile(ref, key, body)
        except KubeError as exc:
            self.metrics.errors.labels(reason=exc.reason or str(exc.status)).inc()
            log.warning("reconcile failed", extra={"route": ref.name, "error": str(exc)})
            ok, result = False, "error"
        elapsed = time.perf_counter() - started
        self.metrics.reconciles.labels(result=result).inc()
        self.metrics.duration.observe(elapsed)
        log.debug(
            "reconciled",
            extra={
                "route": ref.name,
                "namespace": ref.namespace,
                "result": result,
                "generation": ref.generation,
                "seconds": round(elapsed, 4),
            },
        )
        if ok:
            self._generations[key] = (ref.uid, ref.generation)
        return ok

    async def _reconcile(
        self, ref: RouteRef, key: RouteKey, body: Mapping[str, Any]
    ) -> tuple[bool, str]:
        try:
            spec = parse_spec(body.get("spec") or {})
        except SpecError as exc:
            outcome = Outcome("invalid", "InvalidSpec", str(exc))
            self.specs.pop(key, None)  # the loops pause until the spec is valid again
            await self._write_status(ref, key, body, None, Observed(), outcome, [], None)
            return True, "invalid"
        self.specs[key] = spec
        spec = effective_spec(spec, controls_from_status(spec, self.status_view(key)))
        observed = await self.observe(ref, spec)
        problems = find_problems(spec, observed)
        blocking = [p for p in problems if p.blocking]
        policy = build_policy(ref, spec, observed)
        children = render(ref, spec, observed)
        if blocking:  # keep serving the last good policy
            held = {"ConfigMap"}
            if observed.router.exists and any(p.holds_router for p in blocking):
                held.add("Deployment")  # the running pods keep the artifact mounts they have
            children = [c for c in children if c["kind"] not in held]
            outcome = Outcome("blocked", blocking[0].reason, "; ".join(p.message for p in blocking))
        else:
            outcome = Outcome("applied")
        ok = True
        known = self.cache.keys(key)
        try:
            await self._apply(key, children)
            if self._may_have_stale_children(key, body, known, children):
                await self._prune(ref, key, children, observed.service_monitor_api)
        except KubeError as exc:
            outcome = Outcome("failed", "ApplyFailed", str(exc)[:1000])
            log.warning("apply failed", extra={"route": ref.name, "error": str(exc)[:1000]})
            self.metrics.errors.labels(reason=exc.reason or str(exc.status)).inc()
            ok = False
        good_policy = policy if outcome.kind == "applied" else None
        await self._write_status(ref, key, body, spec, observed, outcome, problems, good_policy)
        return ok, outcome.kind

    def _may_have_stale_children(
        self, key: RouteKey, body: Mapping[str, Any], known: set[ChildKey], children: list[Manifest]
    ) -> bool:
        """Pruning lists three kinds: only worth it when a child may have dropped out of the
        rendered set. A route never reconciled before has no stale children (anything
        applied was rendered from this very spec); else: after a restart or resync
        (nothing cached), or when the rendered set differs from what was applied. The
        resync covers the rare rest (killed before the first status write, spec changed)."""
        if not (body.get("status") or {}).get("observedGeneration") and not known:
            return False
        return known != {key_of(c) for c in children}

    async def observe(self, ref: RouteRef, spec: HybridRouteSpec) -> Observed:
        targets = [LARGE, *(small_target(v.name) for v in spec.small.versions)]
        services = {t: _service_for(ref, t, spec) for t in targets}
        names = sorted({s for s in services.values() if s})
        self._services[(ref.namespace, ref.name)] = frozenset(names)
        referenced = sorted(
            {
                e.service
                for e in [spec.large.endpoint, *(v.endpoint for v in spec.small.versions)]
                if e.service
            }
        )
        namespace = ref.namespace
        unseen = [n for n in names if self.index.health(namespace, n) is None]
        selector = f"{SERVICE_NAME_LABEL} in ({','.join(unseen)})"
        router = self.index.routers.get((namespace, ref.name))
        slices, deployment, found = await asyncio.gather(
            self.kube.list(ENDPOINT_SLICE, namespace, label_selector=selector)
            if unseen
            else _none(),
            self.kube.get(DEPLOYMENT, namespace, router_name(ref)) if router is None else _none(),
            asyncio.gather(*(self.kube.get(SERVICE, namespace, name) for name in referenced)),
        )
        if unseen:
            self.index.learn_slices(namespace, unseen, slices or [])
        if router is None:
            router = router_health(deployment)
            if deployment is not None:
                self.index.routers[(namespace, ref.name)] = router
        existing = {name for name, svc in zip(referenced, found, strict=True) if svc is not None}
        endpoints: dict[str, EndpointHealth] = {}
        for target, svc in services.items():
            exists = svc in existing or svc not in referenced
            health = self.index.health(namespace, svc, service_exists=exists) if svc else EXTERNAL
            endpoints[target] = health or EndpointHealth(service_exists=exists)
        return Observed(
            endpoints=endpoints,
            router=router,
            service_monitor_api=await self._monitoring_api(),
            config_maps=await self._artifact_config_maps(ref.namespace, spec),
        )

    async def _artifact_config_maps(
        self, namespace: str, spec: HybridRouteSpec
    ) -> dict[str, dict[str, bytes] | None]:
        """The content of the ConfigMaps the spec mounts as scorer artifacts or examples
        (read on every reconcile: their hash goes into the policy)."""
        names = sorted({ref.config_map for ref in artifact_refs(spec)})
        found = await asyncio.gather(*(self.kube.get(CONFIGMAP, namespace, n) for n in names))
        return {name: configmap_files(body) for name, body in zip(names, found, strict=True)}

    async def _monitoring_api(self) -> bool:
        now = time.monotonic()
        if self._monitoring is None or now - self._monitoring[0] > API_CHECK_SECONDS:
            self._monitoring = (now, await self.kube.serves(SERVICE_MONITOR.api_version))
        return self._monitoring[1]

    async def _apply(self, key: RouteKey, children: list[Manifest]) -> None:
        todo = [c for c in children if not self.cache.unchanged(key, c)]
        if not todo:
            return
        results = await asyncio.gather(*(self.kube.apply(c) for c in todo), return_exceptions=True)
        failure: BaseException | None = None
        for manifest, result in zip(todo, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            self.metrics.applies.labels(kind=manifest["kind"]).inc()
            self.cache.remember(key, manifest, str(result["metadata"].get("resourceVersion", "")))
        if failure is not None:
            raise failure

    async def _prune(
        self, ref: RouteRef, key: RouteKey, children: list[Manifest], monitoring: bool
    ) -> None:
        """Delete children that are no longer rendered (a removed version, a disabled HPA)."""
        wanted = {key_of(c) for c in children}
        selector = f"{LABEL_ROUTE}={ref.name},{LABEL_MANAGED_BY}={MANAGED_BY}"
        for kind in PRUNABLE_KINDS:
            if kind is SERVICE_MONITOR and not monitoring:
                continue
            found = await self.kube.list(
                kind, ref.namespace, label_selector=selector, metadata_only=True
            )
            for item in found:
                meta = item["metadata"]
                owners = {o.get("uid") for o in meta.get("ownerReferences") or []}
                if ref.uid in owners and (kind.api_version, kind.kind, meta["name"]) not in wanted:
                    log.info(
                        "pruning child",
                        extra={"route": ref.name, "child": [kind.kind, meta["name"]]},
                    )
                    await self.kube.delete(kind, ref.namespace, meta["name"], uid=meta.get("uid"))

    async def _write_status(
        self,
        ref: RouteRef,
        key: RouteKey,
        body: Mapping[str, Any],
        spec: HybridRouteSpec | None,
        observed: Observed,
        outcome: Outcome,
        problems: list[Any],
        policy: Any,
    ) -> None:
        previous = dict(body.get("status") or {})
        previous.update(self._written.get(key, {}))
        status = build_status(
            spec=spec,
            observed=observed,
            outcome=outcome,
            problems=problems,
            policy=policy,
            generation=ref.generation,
            endpoint=router_endpoint(ref),
            now=self.now(),
            previous=previous,
        )
        self._add_loop_outputs(key, status, previous, ref.generation)
        if same_status(previous, status):
            return
        await self.kube.patch_status(ref.namespace, ref.name, status)
        self._written[key] = status

    def _add_loop_outputs(
        self, key: RouteKey, status: dict[str, Any], previous: Mapping[str, Any], generation: int
    ) -> None:
        """The control loops' sections and conditions, into the status to write."""
        before = {c.get("type", ""): c for c in previous.get("conditions") or []}
        conditions: list[dict[str, Any]] = status["conditions"]
        for name, (types, output) in self.loop_outputs.get(key, {}).items():
            if output is None or output.section is None:
                if name in previous:
                    status[name] = None  # merge patch: delete the section
                conditions[:] = [c for c in conditions if c.get("type") not in types]
                continue
            status[name] = replacing(previous.get(name), output.section)
            mine = {note.type for note in output.conditions}
            conditions[:] = [c for c in conditions if c.get("type") not in mine]
            conditions.extend(
                condition(n.type, n.ok, n.reason, n.message, generation, self.now(), before)
                for n in output.conditions
            )
