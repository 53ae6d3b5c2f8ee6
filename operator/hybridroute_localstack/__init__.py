"""A real local Kubernetes control plane (etcd, kube-apiserver, controllers, scheduler,
kwok) and Prometheus, run as processes for tests and for ``hybridroute-local up``.

For the live stack (``hybridroute-local run``, docs/local-stack.md) and for tests that
want its pieces: ``replay`` (replay model servers: ``start_replay_server``,
``Behaviour``), ``podrunner`` (the dev-only pod runner: ``PodRunner``), ``kubeapi``
(``KubeApi``), ``traffic`` and ``summary`` (demo traffic and its numbers)."""

from hybridroute_localstack.build import BuildError, MissingBinaryError, build_all, find_binary
from hybridroute_localstack.controlplane import ControlPlane, KubectlError
from hybridroute_localstack.eventually import NotYet, eventually
from hybridroute_localstack.process import ComponentFailed
from hybridroute_localstack.prometheus import (
    PrometheusFactory,
    PrometheusMissing,
    PrometheusServer,
)

__all__ = [
    "BuildError",
    "ComponentFailed",
    "ControlPlane",
    "KubectlError",
    "MissingBinaryError",
    "NotYet",
    "PrometheusFactory",
    "PrometheusMissing",
    "PrometheusServer",
    "build_all",
    "eventually",
    "find_binary",
]
