"""Pinned versions of every binary the local stack builds, and where each comes from.

Pure data: the build step (:mod:`hybridroute_localstack.build`) turns a :class:`Tool`
into ``go build`` invocations; the cache directory of a tool is keyed by its version,
so bumping a version here makes the next ``hybridroute-local build`` rebuild it.
"""

from __future__ import annotations

from dataclasses import dataclass

KUBERNETES_VERSION = "v1.36.3"
# The module proxy's release time of k8s.io/kubernetes@KUBERNETES_VERSION: used as the
# build date so that links are reproducible.
KUBERNETES_BUILD_DATE = "2026-07-22T18:07:38Z"
ETCD_VERSION = "v3.5.35"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"

MIN_GO = (1, 26)


@dataclass(frozen=True)
class Tool:
    """One cache entry: a set of commands built together from one Go module.

    ``module_dir`` names a wrapper module shipped in ``gomod/`` (its go.mod and go.sum
    pin everything); ``None`` means ``go install <package>@<version>`` with the
    upstream module's own go.mod.
    """

    name: str
    version: str
    binaries: tuple[str, ...]
    packages: tuple[str, ...]
    module_dir: str | None
    ldflags: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The cache directory name: ``<name>-<version>``."""
        return f"{self.name}-{self.version}"


def _kube_ldflags(version: str, build_date: str) -> tuple[str, ...]:
    """``-X`` flags that make ``/version`` report ``version`` like an official build."""
    major, minor = version.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    flags: list[str] = []
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags.extend(f"-X {package}.{key}={value}" for key, value in values.items())
    return tuple(flags)


KUBERNETES = Tool(
    name="kubernetes",
    version=KUBERNETES_VERSION,
    binaries=("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
    packages=tuple(
        f"k8s.io/kubernetes/cmd/{command}"
        for command in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    ),
    module_dir="kube",
    ldflags=_kube_ldflags(KUBERNETES_VERSION, KUBERNETES_BUILD_DATE),
)

ETCD = Tool(
    name="etcd",
    version=ETCD_VERSION,
    binaries=("etcd",),
    packages=("hybridroute.local/etcd",),
    module_dir="etcd",
)

KWOK = Tool(
    name="kwok",
    version=KWOK_VERSION,
    binaries=("kwok",),
    packages=(f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}",),
    module_dir=None,
)

HELM = Tool(
    name="helm",
    version=HELM_VERSION,
    binaries=("helm",),
    packages=(f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}",),
    module_dir=None,
    ldflags=(f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",),
)

ALL_TOOLS: tuple[Tool, ...] = (KUBERNETES, ETCD, KWOK, HELM)
