"""DEV-ONLY, never part of the product: one pod's readiness prober, on a thread of its own.

As the kubelet runs one probe worker per container, the pod runner gives each pod a
:class:`Prober`: a thread that runs the pod's readiness probe whenever it is due
(:class:`~hybridroute_localstack.readiness.ProbeState`: at the runner's pace until the
first pass, then every ``periodSeconds``; not before ``initialDelaySeconds``), each run
bounded by the probe's ``timeoutSeconds``. The runner's poll loop only reads the latest
outcome (:attr:`Prober.ready`), so a process that hangs its probe holds up its own
prober and nothing else.

    prober = Prober(probe, "127.80.1.2", quick=0.5, name="default/web-1").start(started)
    prober.ready                # the latest outcome, read by the poll loop
    prober.reset(restarted)     # the process was restarted: not ready, probed anew
    prober.stop()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from hybridroute_localstack.readiness import Probe, ProbeState, check


class Prober:
    """See the module docstring. ``quick``: seconds between probes until the first pass."""

    def __init__(
        self,
        probe: Probe,
        address: str,
        *,
        quick: float,
        name: str,
        run: Callable[[Probe, str], bool] = check,
    ) -> None:
        self.probe = probe
        self.address = address
        self.quick = quick
        self._run_probe = run
        self._lock = threading.Lock()
        self._state = ProbeState()
        self._not_before = 0.0
        self._generation = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"probe {name}", daemon=True)

    def start(self, started: float) -> Prober:
        """Probe the process started at ``started`` (``time.monotonic()``)."""
        self.reset(started)
        self._thread.start()
        return self

    @property
    def state(self) -> ProbeState:
        """A copy of the latest outcome and counters."""
        with self._lock:
            return replace(self._state)

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._state.ready

    def reset(self, started: float) -> None:
        """The process (re)started at ``started`` or exited: not ready until it passes
        again. An outcome of a probe still under way when this is called is dropped."""
        with self._lock:
            self._state = ProbeState()
            self._not_before = started + self.probe.initial_delay
            self._generation += 1
        self._wake.set()

    def stop(self) -> None:
        """Probe no more (a probe under way ends within its timeout)."""
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due = max(self._state.due, self._not_before)
                generation = self._generation
            wait = due - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            passed = self._run_probe(self.probe, self.address)
            with self._lock:
                if generation == self._generation:
                    self._state.record(self.probe, passed, time.monotonic(), self.quick)
