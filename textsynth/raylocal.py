"""A Ray cluster of several real nodes on this machine, for tests and benchmarks.

    with LocalCluster([1, 1]) as c:        # a head and one worker node, one CPU each
        subprocess.run(["textsynth", "synth", "--address", c.address, ...], env=c.env)

Each node is a ``ray start --block`` process group (its own raylet, agents and CPUs), bound
to 127.0.0.1 with authentication off: nothing outside this machine can reach it. The head
serves the dashboard and the job API (``c.dashboard``). Every port is a free one, because
the agents' default ports collide between two nodes on one host (and with any other Ray
here). Leaving the block stops only this cluster's processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _agent_ports() -> list[str]:
    return [f"--{flag}={free_port()}" for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                   "runtime-env-agent-port", "metrics-export-port")]


class LocalCluster:
    """``cpus[0]`` CPUs on the head, one more node per further entry. ``env`` is added to
    every node's environment (object-store keys, Ray system settings) and to ``self.env``,
    the environment for drivers and ``ray job submit``."""

    def __init__(self, cpus: list[int], env: dict | None = None, start_timeout: float = 180):
        self.cpus, self.start_timeout = cpus, start_timeout
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{BIN}:{os.environ['PATH']}",
                    **(env or {})}
        self.nodes: list[subprocess.Popen] = []
        self.address = self.dashboard = ""

    def __enter__(self) -> LocalCluster:
        # a short temp dir: Ray's socket paths are length-limited
        self.tmp = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
        port, dash = free_port(), free_port()
        self.address, self.dashboard = f"127.0.0.1:{port}", f"http://127.0.0.1:{dash}"
        try:
            self.nodes.append(self._start(["--head", f"--port={port}", f"--num-cpus={self.cpus[0]}",
                                           f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1",
                                           "--include-dashboard=true", f"--temp-dir={self.tmp}"]))
            self._wait_for(1)
            for n, cpus in enumerate(self.cpus[1:], start=2):
                self.nodes.append(self._start([f"--address={self.address}", f"--num-cpus={cpus}"]))
                self._wait_for(n)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for proc in reversed(self.nodes):
            stop(proc)
        # anything of this cluster that outlived its node (this cluster's temp dir only)
        subprocess.run(["pkill", "-9", "-f", str(self.tmp)], check=False)

    def _start(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "ray"), "start", "--block", "--disable-usage-stats",
                                 "--node-ip-address=127.0.0.1", *_agent_ports(), *args],
                                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def alive_nodes(self) -> int:
        code = ("import ray; ray.init(address=%r, log_to_driver=False); "
                "print(sum(n['Alive'] for n in ray.nodes()))" % self.address)
        r = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                           timeout=120)
        return int(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else 0

    def _wait_for(self, n: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        while self.alive_nodes() < n:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.nodes):
                raise RuntimeError(f"local Ray cluster: node {n} did not come up within "
                                   f"{self.start_timeout:g} s (temp dir {self.tmp})")
            time.sleep(1)


def stop(proc: subprocess.Popen) -> None:
    """Stop one node: its ``ray start --block`` process group, SIGTERM then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
