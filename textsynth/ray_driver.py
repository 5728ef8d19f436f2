"""The driver side of a Ray job, shared by `synth` and `curate` (and the trainer's embedded Ray).

``init_ray`` connects to a cluster (``--address`` or ``RAY_ADDRESS``) or starts an embedded
local Ray sized to this machine (:func:`start_local_ray`: every port it opens listens on
127.0.0.1 only). ``map_unordered`` runs one task per item with retries and
yields results as they finish; a task still running ``task_timeout`` seconds after it was
submitted is cancelled and reported as failed, so a hung input (a pathological file, a
stuck library call) can't hang the job. It keeps a bounded window of tasks in flight: waiting on every
pending task at once makes each ``ray.wait`` O(pending) (5.9 ms per task at 32k tasks,
BENCHMARKS.md), while a window of a few tasks per CPU keeps every worker busy.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def quiet_token_auth_warning() -> None:
    """Token auth stays on for an embedded cluster (Ray's default for a new local cluster,
    token generated on first use), without Ray's warning about it on every run. (Setting
    RAY_AUTH_MODE=token instead skips the token generation and locks the driver out.)"""
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)


def start_local_ray(**options) -> None:
    """``ray.init(address="local", **options)`` with every server of the new cluster (GCS,
    raylet, workers, agents, Prometheus metrics) on 127.0.0.1, not on all interfaces.

    Ray binds them to loopback only when the node address is 127.0.0.1, and turns a requested
    127.0.0.1 into the machine's outward address unless clusters are off (as on macOS and
    Windows: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0). So they are off while this node starts;
    its processes get 127.0.0.1 as their address on the command line."""
    import ray
    from ray._private import ray_constants

    quiet_token_auth_warning()
    clusters = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(address="local", **options)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = clusters
    node_ip = ray.util.get_node_ip_address()
    if node_ip != "127.0.0.1":  # a Ray that no longer takes the hint: say so, do not hide it
        logging.getLogger(__name__).warning(
            "the embedded Ray runs on %s, not 127.0.0.1: its ports are reachable from the network", node_ip)


def init_ray(address: str | None, num_cpus: int | None = None):
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS")
    if address and address != "local":
        ray.init(address=address, log_to_driver=False)
    else:  # an embedded single-machine cluster sized to this machine
        start_local_ray(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    return ray


def error_line(e: BaseException) -> str:
    """``Type: last line of the message``: Ray wraps task errors in long tracebacks."""
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[-1] if msg else ''}"


def this_node() -> str:
    """The Ray node id of the process running a task ("local" outside Ray)."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"


def by_node(made: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    """``(node, index)`` pairs as {node: sorted indices}: which node made which shard or
    partition, for a job's stats.json."""
    out: dict[str, list[int]] = {}
    for node, index in made:
        out.setdefault(node, []).append(index)
    return {n: sorted(v) for n, v in sorted(out.items())}


def _alive_nodes(ray) -> dict[str, str]:
    return {n["NodeID"]: n.get("NodeManagerAddress", "?") for n in ray.nodes() if n.get("Alive")}


def _tasks_on(ray, node: str, pending: dict) -> list:
    """The pending items whose task had an attempt on ``node`` (Ray's state API; empty when
    the cluster has none, as an embedded Ray without its dashboard)."""
    try:
        from ray.util.state import list_tasks

        ids = {t.task_id for t in list_tasks(address=ray.get_runtime_context().gcs_address,
                                            filters=[("node_id", "=", node)], limit=10_000,
                                            raise_on_missing_output=False)}
    except Exception as e:  # noqa: BLE001 - no state API: the loss is still reported, without items
        logging.getLogger("textsynth.ray").info("Ray's task list is not available (%s)", error_line(e))
        return []
    return [item for ref, (item, _) in pending.items() if ref.task_id().hex() in ids]


def _on_one_cpu(fn: Callable) -> Callable:
    """``fn`` for a task that holds one CPU. Ray caps the OpenMP and BLAS pools of its workers
    at their CPUs, but OpenCV sizes its own pool to the host's cores: its threads would compete
    with the neighbouring tasks (and the driver) for cores they hold. One thread it is."""
    @functools.wraps(fn)   # the task keeps fn's name in Ray's task list and dashboard
    def on_one_cpu(*args):
        import cv2

        cv2.setNumThreads(1)
        return fn(*args)
    return on_one_cpu


NODE_CHECK_SECONDS = 2.0   # how often the driver looks for lost nodes while it waits


def map_unordered(fn: Callable, items: Iterable, *args: Any, address: str | None = None,
                  max_retries: int = 2, window: int | None = None,
                  task_timeout: float | None = None, num_cpus: int | None = None,
                  events: list | None = None) -> Iterator[tuple[Any, Any, str | None]]:
    """Run ``fn(*args, item)`` as Ray tasks; yield ``(item, result, None)`` or
    ``(item, None, error)`` per item in completion order, after Ray's retries.

    ``task_timeout`` counts from submission (retries and the short wait in the window
    included): a task past it is cancelled and yielded as an error. A node that leaves the
    cluster mid-job is logged with the items it was running (Ray retries them elsewhere, up
    to ``max_retries``) and appended to ``events`` as ``{"lost_node", "address", "retried"}``."""
    ray = init_ray(address, num_cpus)
    log = logging.getLogger("textsynth.ray")
    alive = _alive_nodes(ray)
    events = [] if events is None else events
    task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(_on_one_cpu(fn))
    arg_refs = [ray.put(a) for a in args]  # shipped to the object store once, not per task
    window = window or max(8, 4 * int(ray.cluster_resources().get("CPU", 1)))
    todo = iter(items)
    pending: dict = {}  # ref -> (item, submission time)

    def top_up():
        for item in todo:
            pending[task.remote(*arg_refs, item)] = (item, time.monotonic())
            if len(pending) >= window:
                return

    checked = time.monotonic()

    def check_nodes(now_or_never: bool = False):
        nonlocal alive, checked
        if time.monotonic() - checked < NODE_CHECK_SECONDS and not now_or_never:
            return
        checked = time.monotonic()
        now = _alive_nodes(ray)
        for node in sorted(set(alive) - set(now)):
            retried = _tasks_on(ray, node, pending)
            events.append({"lost_node": node, "address": alive[node], "retried": retried})
            log.warning("node %s (%s) left the cluster; its running tasks are retried on the "
                        "other nodes: %s", node, alive[node],
                        ", ".join(str(getattr(x, "name", x)) for x in retried) or "none found in Ray's task list")
        alive = now

    top_up()
    while pending:
        wait = None if task_timeout is None else \
            max(0.0, min(t for _, t in pending.values()) + task_timeout - time.monotonic())
        wait = NODE_CHECK_SECONDS if wait is None else min(wait, NODE_CHECK_SECONDS)
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=wait)
        check_nodes()
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)  # batch finished ones
        for ref in ready:
            item, _ = pending.pop(ref)
            try:
                yield item, ray.get(ref), None
            except Exception as e:  # the task failed after its retries
                yield item, None, error_line(e)
        if task_timeout is not None:
            now = time.monotonic()
            for ref in [r for r, (_, t) in pending.items() if now - t >= task_timeout]:
                ray.cancel(ref, force=True)  # kills the worker process running it
                item, _ = pending.pop(ref)
                yield item, None, f"TimeoutError: still running {task_timeout:g} s after submission; cancelled"
        top_up()
    check_nodes(now_or_never=True)   # a loss the cluster noticed only as the last tasks ended
