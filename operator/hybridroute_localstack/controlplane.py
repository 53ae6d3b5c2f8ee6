"""A real local Kubernetes control plane made of processes: etcd and kube-apiserver,
plus on demand kube-controller-manager, kube-scheduler and kwok with one fake node.

``ControlPlane`` is what the pytest fixtures and ``hybridroute-local up`` use::

    plane = ControlPlane(workdir).start()        # etcd + kube-apiserver
    plane.start_workloads()                      # + controllers, scheduler, kwok node
    plane.kubectl("get", "nodes")
    plane.stop()

Every component gets free ports chosen at run time, logs into ``workdir/logs/`` and is
polled for readiness with a deadline; one that exits or stays unready fails fast with
its log tail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hybridroute_localstack import commands
from hybridroute_localstack.build import MissingBinaryError, find_binary
from hybridroute_localstack.kubeconfig import write_kubeconfig
from hybridroute_localstack.node import (
    FAKE_NODE_NAME,
    KWOK_CONFIG,
    KWOK_STAGES,
    STAGE_CRD_NAME,
    fake_node,
    stage_crd,
)
from hybridroute_localstack.pki import Pki, make_pki
from hybridroute_localstack.probe import answers, free_port, tls_context
from hybridroute_localstack.process import (
    PORT_ATTEMPTS,
    PORT_IN_USE,
    Component,
    ComponentFailed,
    start,
    wait_until,
)


class KubectlError(subprocess.CalledProcessError):
    """``kubectl`` (or ``helm``) exited non-zero; the message carries its stderr."""

    def __str__(self) -> str:
        args = " ".join(str(a) for a in self.cmd[1:] if not str(a).startswith("--kubeconfig"))
        tool = Path(str(self.cmd[0])).name
        return f"{tool} {args} failed (exit {self.returncode}): {str(self.stderr).strip()}"


def kubectl_binary() -> str:
    """The kubectl built with the control plane, else the one on PATH."""
    try:
        return str(find_binary("kubectl"))
    except MissingBinaryError:
        found = shutil.which("kubectl")
        if found is None:
            raise
        return found


@dataclass
class ControlPlane:
    """Processes of one local control plane living under ``workdir``."""

    workdir: Path
    die_with_parent: bool = True
    start_timeout: float = 120.0
    components: list[Component] = field(default_factory=list, repr=False)
    server: str = ""
    _pki: Pki | None = field(default=None, repr=False)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def pki(self) -> Pki:
        if self._pki is None:
            raise RuntimeError("the control plane is not started")
        return self._pki

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start etcd and kube-apiserver and wait until ``/readyz`` answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            pki = self._pki = make_pki(self.workdir / "pki")
            etcd_port = self._start_etcd()
            self._start_apiserver(pki, etcd_port)
        except BaseException:
            self.stop()
            raise
        return self

    def start_workloads(self) -> None:
        """Add controller-manager, scheduler and kwok with a Ready fake node (idempotent).
        kwok's stages are Stage objects (``data/kwok-stages.yaml``), applied first."""
        if self.component("kwok") is not None:
            return
        try:
            pki = self.pki
            self._start_secure_component("kube-controller-manager", pki)
            self._start_secure_component("kube-scheduler", pki)
            self.kubectl("apply", "-f", "-", input=json.dumps(stage_crd()))
            self._wait_for("the kwok Stage type established", self._stage_type_established)
            self.kubectl("apply", "-f", str(KWOK_STAGES))
            self._start_kwok()
            self.kubectl("apply", "-f", "-", input=json.dumps(fake_node()))
            self._wait_for("the fake node Ready", self._fake_node_ready)
            self._wait_for("the default ServiceAccount created", self._default_account_exists)
        except BaseException:
            for name in ("kwok", "kube-scheduler", "kube-controller-manager"):
                found = self.component(name)
                if found is not None:
                    found.stop()
                    self.components.remove(found)
            raise

    def _fake_node_ready(self) -> bool:
        ready = self.kubectl(
            "get",
            "node",
            FAKE_NODE_NAME,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
            check=False,
        )
        return ready.stdout == "True"

    def _stage_type_established(self) -> bool:
        established = self.kubectl(
            "get",
            "crd",
            STAGE_CRD_NAME,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Established")].status}',
            check=False,
        )
        return established.stdout == "True"

    def _default_account_exists(self) -> bool:
        return self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0

    def stop(self) -> None:
        """Stop every component, newest first; nothing is left running."""
        for component in reversed(self.components):
            component.stop()
        self.components.clear()

    # -- use -------------------------------------------------------------------------

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this control plane; ``check`` raises :class:`KubectlError`."""
        command = [kubectl_binary(), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=120, check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, command, result.stdout, result.stderr)
        return result

    def helm(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned helm against this control plane (same contract as ``kubectl``)."""
        command = [str(find_binary("helm")), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=300, check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, command, result.stdout, result.stderr)
        return result

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        """The last lines of each component's log, by component name."""
        return {c.name: c.log_tail(lines) for c in self.components}

    # -- internals -------------------------------------------------------------------

    def _launch(self, name: str, command: list[str]) -> Component:
        component = start(
            name, command, self.logs_dir / f"{name}.log", die_with_parent=self.die_with_parent
        )
        self.components.append(component)
        return component

    def _retry_on_port_clash(self, name: str, attempt_start: Callable[[], int]) -> int:
        for attempt in range(PORT_ATTEMPTS):
            try:
                return attempt_start()
            except ComponentFailed as failed:
                found = self.component(name)
                if found is not None:
                    found.stop()
                    self.components.remove(found)
                if PORT_IN_USE not in str(failed) or attempt == PORT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _start_etcd(self) -> int:
        def attempt() -> int:
            client, peer = free_port(), free_port()
            data = self.workdir / "etcd-data"
            shutil.rmtree(data, ignore_errors=True)
            etcd = self._launch(
                "etcd", commands.etcd_command(find_binary("etcd"), data, client, peer)
            )
            wait_until(
                etcd,
                lambda: answers(f"http://127.0.0.1:{client}/health", expect='"health":"true"'),
                "healthy",
                timeout=60,
            )
            return client

        return self._retry_on_port_clash("etcd", attempt)

    def _start_apiserver(self, pki: Pki, etcd_port: int) -> None:
        admin = tls_context(pki.ca_cert, pki.admin_cert, pki.admin_key)

        def attempt() -> int:
            port = free_port()
            apiserver = self._launch(
                "kube-apiserver",
                commands.apiserver_command(
                    find_binary("kube-apiserver"),
                    pki,
                    self.workdir / "apiserver-certs",
                    etcd_port,
                    port,
                ),
            )
            wait_until(
                apiserver,
                lambda: answers(f"https://127.0.0.1:{port}/readyz", admin, expect="ok"),
                "ready (/readyz)",
                timeout=self.start_timeout,
            )
            return port

        port = self._retry_on_port_clash("kube-apiserver", attempt)
        self.server = f"https://127.0.0.1:{port}"
        write_kubeconfig(self.kubeconfig, self.server, pki.ca_cert, pki.admin_cert, pki.admin_key)

    def _start_secure_component(self, name: str, pki: Pki) -> None:
        build = {
            "kube-controller-manager": commands.controller_manager_command,
            "kube-scheduler": commands.scheduler_command,
        }[name]
        context = tls_context(pki.ca_cert)

        def attempt() -> int:
            port = free_port()
            component = self._launch(
                name,
                build(find_binary(name), pki, self.kubeconfig, port, self.workdir / name),
            )
            wait_until(
                component,
                lambda: answers(f"https://127.0.0.1:{port}/healthz", context, expect="ok"),
                "healthy (/healthz)",
                timeout=self.start_timeout,
            )
            return port

        self._retry_on_port_clash(name, attempt)

    def _start_kwok(self) -> None:
        def attempt() -> int:
            port = free_port()
            kwok = self._launch(
                "kwok",
                commands.kwok_command(find_binary("kwok"), self.kubeconfig, KWOK_CONFIG, port),
            )
            wait_until(
                kwok,
                lambda: answers(f"http://127.0.0.1:{port}/healthz"),
                "healthy (/healthz)",
                timeout=self.start_timeout,
            )
            return port

        self._retry_on_port_clash("kwok", attempt)

    def _wait_for(self, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not check():
            for component in self.components:
                if not component.running():
                    raise component.failure(f"exited while waiting for {what}")
            if time.monotonic() >= deadline:
                tails = "\n".join(f"--- {n}:\n{t}" for n, t in self.log_tails(15).items())
                raise ComponentFailed(
                    f"timed out after {self.start_timeout:.0f}s waiting for {what}\n{tails}"
                )
            time.sleep(0.3)
