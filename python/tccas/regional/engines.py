"""Engines that evaluate the batches of a :class:`~tccas.regional.model.RegionalModel` in
parallel, behind one small protocol.

An engine is started once with the batch specifications; it partitions the batches into
contiguous groups of about equal cost (tile count), one group per worker, and each worker
builds its cells' models (reading its cells' forcing) once and keeps them. Every evaluation
then sends only (operation, x, v) to the workers and gets back per-batch partial sums; the
RegionalModel adds them in batch order. Engines are process based because the Fortran
adjoint keeps its tape per process (and the core is not thread-safe): each worker holds its
own cells' tape only.

* ``processes`` (default): persistent local worker processes (multiprocessing, ``spawn``);
  every core by default.
* ``serial``: everything in the calling process (debugging, reference results).
* ``dask``: Dask distributed (optional extra ``tccas[regional-dask]``): a local cluster of
  one-thread worker processes, a running scheduler (``address``), or a dask-jobqueue
  cluster (``cluster = "slurm"`` or ``"pbs"`` with ``cluster_options``). Each worker's
  group is built by a task pinned to that worker; the built models stay there as the
  task's result and every evaluation is a task pinned to the same worker.
* ``mpi``: MPI through mpi4py (optional extra ``tccas[regional-mpi]``). Under
  ``mpirun -n N`` (or ``srun``), rank 0 drives and ranks 1..N-1 serve
  (:func:`mpi_worker_loop`, which ``python -m tccas.regional.engines`` and the CLI call on
  those ranks); run as one process it spawns ``workers`` worker processes
  (MPI dynamic process management). Point-to-point messages keep each group on its rank;
  ``mpi4py.futures`` pools were not used because they cannot pin a task to a worker, so
  workers could not keep their cells between evaluations.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from typing import Protocol, Sequence

import numpy as np

from ..errors import ConfigError, ModelError, TccasError

__all__ = ["ENGINES", "Engine", "SerialEngine", "ProcessEngine", "DaskEngine", "MPIEngine",
           "make_engine", "partition", "mpi_worker_loop", "mpi_world", "peak_rss_mb"]

log = logging.getLogger("tccas")

ENGINES = ("processes", "serial", "dask", "mpi")

# the Fortran core keeps module state: one call at a time per process
_CORE_LOCK = threading.Lock()


class Engine(Protocol):
    """What a RegionalModel needs from an engine."""

    workers: int

    def start(self, batches: Sequence, adjoint_memory_mb: float) -> None:
        """Hand the batch specifications to the workers, which build and keep them."""

    def evaluate(self, op: str, x: np.ndarray, v: np.ndarray | None,
                 adjoint_memory_mb: float) -> list[dict]:
        """Per-batch partial results of ``op`` ('forward', 'tangent', 'adjoint')."""

    def close(self) -> None:
        """Stop the workers and free what they hold."""


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def partition(batches: Sequence, n: int) -> list[list]:
    """Split batches (in order) into at most ``n`` contiguous groups of about equal cost."""
    n = max(1, min(n, len(batches)))
    cost = np.array([b.cost for b in batches], dtype=float)
    cum = np.cumsum(cost)
    total = cum[-1] if cum.size else 0.0
    groups: list[list] = [[] for _ in range(n)]
    for i, b in enumerate(batches):
        g = min(int((cum[i] - cost[i] / 2) / total * n), n - 1) if total > 0 else i % n
        groups[g].append(b)
    return [g for g in groups if g]


def _build(specs, adjoint_memory_mb):
    from .model import build_batches
    with _CORE_LOCK:
        return build_batches(specs, adjoint_memory_mb)


def _evaluate(batches: dict, op, x, v, adjoint_memory_mb) -> list[dict]:
    """Evaluate a worker's batches; each result also carries the worker's process id, its
    peak memory and the batch's CPU and wall time (s) in this process, so that the driver
    can report CPU time per tile-year and the parallel efficiency (busy time vs wall)."""
    out = []
    with _CORE_LOCK:
        for i in sorted(batches):
            c0, t0 = time.process_time(), time.perf_counter()
            r = batches[i].evaluate(op, x, v, adjoint_memory_mb)
            r["cpu_s"] = time.process_time() - c0
            r["busy_s"] = time.perf_counter() - t0
            out.append(r)
    rss = peak_rss_mb()
    for r in out:
        r["peak_rss_mb"] = rss
        r["pid"] = os.getpid()
    return out


class SerialEngine:
    """All batches in the calling process."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = 1
        self._batches: dict | None = None

    def start(self, batches, adjoint_memory_mb):
        self._batches = _build(batches, adjoint_memory_mb)

    def evaluate(self, op, x, v, adjoint_memory_mb):
        return _evaluate(self._batches, op, x, v, adjoint_memory_mb)

    def close(self):
        self._batches = None


def _process_worker(conn) -> None:
    """Loop of a local worker process: build its batches once, then evaluate on request."""
    batches: dict = {}
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        try:
            if msg[0] == "stop":
                conn.send(("ok", None))
                return
            if msg[0] == "build":
                batches = _build(msg[1], msg[2])
                conn.send(("ok", peak_rss_mb()))
            elif msg[0] == "eval":
                conn.send(("ok", _evaluate(batches, *msg[1:])))
        except BaseException as exc:  # sent back and raised in the driver
            conn.send(("error", _portable(exc), traceback.format_exc()))


def _portable(exc: BaseException) -> BaseException:
    """An exception that pickles (tccas errors as they are, others as ModelError)."""
    if isinstance(exc, TccasError):
        return exc
    return ModelError(f"{type(exc).__name__}: {exc}")


def _raise(reply, who: str):
    if reply[0] == "error":
        exc = reply[1]
        log.debug("%s failed:\n%s", who, reply[2])
        raise exc
    return reply[1]


class ProcessEngine:
    """Persistent local worker processes (default engine).

    Parameters
    ----------
    workers : number of processes (default: every core, ``os.cpu_count()``).
    """

    def __init__(self, workers: int | None = None) -> None:
        n = (os.cpu_count() or 1) if workers is None else workers
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        self.workers = n
        self._procs: list = []
        self._conns: list = []

    def start(self, batches, adjoint_memory_mb):
        import multiprocessing as mp
        self.close()
        ctx = mp.get_context("spawn")
        groups = partition(batches, self.workers)
        for g in groups:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_process_worker, args=(child,), daemon=True)
            p.start()
            child.close()
            self._procs.append(p)
            self._conns.append(parent)
            try:
                parent.send(("build", g, adjoint_memory_mb))
            except OSError:                   # BrokenPipeError: the worker died at start
                p.join(timeout=5)
                code = p.exitcode
                self.close()
                raise ModelError(f"worker process (pid {p.pid}) ended at start (exit code "
                                 f"{code}); a script that uses local worker processes must "
                                 "start its work under `if __name__ == \"__main__\":` "
                                 "(they re-import the main module)") from None
        self._gather("build")

    def _gather(self, what: str) -> list:
        out, first_error = [], None
        for i, c in enumerate(self._conns):
            try:
                reply = c.recv()
            except (EOFError, OSError):
                reply = ("error", ModelError(f"worker process {i} (pid {self._procs[i].pid}) "
                                             f"died during '{what}' (exit code "
                                             f"{self._procs[i].exitcode})"), "")
            try:
                out.append(_raise(reply, f"worker {i}"))
            except TccasError as exc:
                first_error = first_error or exc
        if first_error is not None:
            self.close()
            raise first_error
        return out

    def evaluate(self, op, x, v, adjoint_memory_mb):
        for c in self._conns:
            c.send(("eval", op, x, v, adjoint_memory_mb))
        return [r for part in self._gather(op) for r in part]

    def close(self):
        for c in self._conns:
            try:
                c.send(("stop",))
                c.recv()
            except (EOFError, OSError, BrokenPipeError):
                pass
            c.close()
        for p in self._procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        self._procs, self._conns = [], []


def _dask_evaluate(batches, op, x, v, adjoint_memory_mb):
    return _evaluate(batches, op, x, v, adjoint_memory_mb)


class DaskEngine:
    """Dask distributed: a local cluster, a running scheduler or a dask-jobqueue cluster.

    Parameters
    ----------
    workers : workers of a local cluster, or jobs to scale a jobqueue cluster to.
    address : scheduler address (``tcp://host:8786``) of a running cluster.
    cluster : ``"local"`` (default without address), ``"slurm"`` or ``"pbs"``
        (dask-jobqueue ``SLURMCluster``/``PBSCluster`` with ``cluster_options``, e.g.
        cores, memory, walltime, queue, account).
    wait_s : how long to wait for the first jobqueue worker to join (s; jobs may queue).
    """

    def __init__(self, workers: int | None = None, address: str | None = None,
                 cluster: str | None = None, cluster_options: dict | None = None,
                 wait_s: float = 3600.0) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError("engine 'dask' needs Dask distributed, which is not installed: "
                              "pip install 'tccas[regional-dask]'") from None
        self.workers = workers or os.cpu_count() or 1
        self.address = address
        self.cluster_kind = cluster or ("local" if address is None else None)
        self.cluster_options = dict(cluster_options or {})
        if self.cluster_kind not in (None, "local", "slurm", "pbs"):
            raise ConfigError(f"engine 'dask': cluster must be 'local', 'slurm' or 'pbs', got "
                              f"{cluster!r}")
        self.wait_s = float(wait_s)
        self._client = None
        self._cluster = None
        self._held: list = []

    def _connect(self):
        from distributed import Client, LocalCluster
        if self.address is not None:
            return Client(self.address)
        if self.cluster_kind == "local":
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                         processes=True, dashboard_address=None)
        else:
            try:
                import dask_jobqueue
            except ImportError:
                raise ConfigError(f"engine 'dask' with cluster '{self.cluster_kind}' needs "
                                  "dask-jobqueue: pip install 'tccas[regional-dask]'") from None
            cls = (dask_jobqueue.SLURMCluster if self.cluster_kind == "slurm"
                   else dask_jobqueue.PBSCluster)
            try:
                self._cluster = cls(**self.cluster_options)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"engine 'dask': cluster_options for {cls.__name__}: "
                                  f"{exc}") from None
            self._cluster.scale(jobs=self.workers)
        client = Client(self._cluster)
        if self.cluster_kind != "local":
            try:
                client.wait_for_workers(1, timeout=self.wait_s)
            except TimeoutError:
                client.close()
                raise ModelError(f"engine 'dask': no {self.cluster_kind} worker joined within "
                                 f"{self.wait_s:.0f} s; check the job queue and the job "
                                 f"script:\n{self._cluster.job_script()}") from None
        return client

    def start(self, batches, adjoint_memory_mb):
        self.close()
        try:
            self._start(batches, adjoint_memory_mb)
        except BaseException:
            self.close()
            raise

    def _start(self, batches, adjoint_memory_mb):
        self._client = self._connect()
        addrs = sorted(self._client.scheduler_info()["workers"])
        if not addrs:
            raise ModelError("engine 'dask': the cluster has no workers")
        groups = partition(batches, len(addrs))
        self._held = []
        for addr, g in zip(addrs, groups):
            fut = self._client.submit(_build, g, adjoint_memory_mb, workers=[addr],
                                      allow_other_workers=False, pure=False)
            self._held.append((addr, fut))
        # wait without gathering: the built cells stay on their workers
        from distributed import wait
        futs = [f for _, f in self._held]
        wait(futs)
        for f in futs:
            if f.status == "error":
                f.result()                    # raises the worker's error here

    def evaluate(self, op, x, v, adjoint_memory_mb):
        futs = [self._client.submit(_dask_evaluate, fut, op, x, v, adjoint_memory_mb,
                                    workers=[addr], allow_other_workers=False, pure=False)
                for addr, fut in self._held]
        return [r for part in self._client.gather(futs) for r in part]

    def close(self):
        self._held = []
        for thing in (self._client, self._cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception as exc:  # a cluster that never started cannot close cleanly
                    log.debug("closing %s: %s", type(thing).__name__, exc)
        self._client = self._cluster = None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ConfigError("engine 'mpi' needs mpi4py (and an MPI library), which is not "
                          "installed: pip install 'tccas[regional-mpi]'") from None
    return MPI


class MPIEngine:
    """MPI through mpi4py: the ranks of an ``mpirun``/``srun`` job, or spawned workers.

    Parameters
    ----------
    workers : worker processes to spawn when the job has a single rank (default: every
        core); ignored under ``mpirun -n N``, where ranks 1..N-1 are the workers.
    """

    def __init__(self, workers: int | None = None) -> None:
        self._MPI = _mpi()
        self.workers = workers or os.cpu_count() or 1
        self._comm = None
        self._ranks: list[int] = []
        self._spawned = False

    def start(self, batches, adjoint_memory_mb):
        MPI = self._MPI
        self.close()
        world = MPI.COMM_WORLD
        if world.Get_size() > 1:
            if world.Get_rank() != 0:
                raise ModelError("engine 'mpi': only rank 0 drives; other ranks run "
                                 "tccas.regional.engines.mpi_worker_loop()")
            self._comm, self._ranks = world, list(range(1, world.Get_size()))
        else:
            self._comm = MPI.COMM_SELF.Spawn(sys.executable,
                                             args=["-m", "tccas.regional.engines"],
                                             maxprocs=self.workers)
            self._spawned = True
            self._ranks = list(range(self.workers))
        groups = partition(batches, len(self._ranks))
        self._ranks = self._ranks[:len(groups)]
        for r, g in zip(self._ranks, groups):
            self._comm.send(("build", g, adjoint_memory_mb), dest=r)
        self._gather()

    def _gather(self) -> list:
        replies = [self._comm.recv(source=r) for r in self._ranks]
        for i, rep in enumerate(replies):
            if rep[0] == "error":
                _raise(rep, f"MPI worker {self._ranks[i]}")
        return [rep[1] for rep in replies]

    def evaluate(self, op, x, v, adjoint_memory_mb):
        for r in self._ranks:
            self._comm.send(("eval", op, x, v, adjoint_memory_mb), dest=r)
        return [r for part in self._gather() for r in part]

    def close(self):
        if self._comm is None:
            return
        # idle ranks (more ranks than groups) wait too; under mpirun they are stopped by
        # shutdown_mpi_workers at the end of the job
        for r in self._ranks:
            self._comm.send(("stop",), dest=r)
        self._gather()
        if self._spawned:
            self._comm.Disconnect()
        self._comm, self._ranks, self._spawned = None, [], False

    @staticmethod
    def shutdown_workers() -> None:
        """Under ``mpirun``: tell every worker rank to leave :func:`mpi_worker_loop`."""
        MPI = _mpi()
        world = MPI.COMM_WORLD
        if world.Get_rank() == 0:
            for r in range(1, world.Get_size()):
                world.send(("exit",), dest=r)


def mpi_world() -> tuple[int, int] | None:
    """(rank, size) of an MPI job of more than one process, else None."""
    MPI = _mpi()
    size = MPI.COMM_WORLD.Get_size()
    return (MPI.COMM_WORLD.Get_rank(), size) if size > 1 else None


def mpi_worker_loop(comm=None) -> None:
    """Serve a driver over MPI until told to exit: the loop of worker ranks (``mpirun``) or
    of spawned workers. Messages: ('build', specs, mb), ('eval', op, x, v, mb), ('stop',)
    (frees the batches and, for spawned workers, returns), ('exit',)."""
    MPI = _mpi()
    parent = MPI.Comm.Get_parent()
    spawned = parent != MPI.COMM_NULL
    comm = comm or (parent if spawned else MPI.COMM_WORLD)
    batches: dict = {}
    while True:
        msg = comm.recv(source=0)
        if msg[0] == "exit":
            break
        try:
            if msg[0] == "stop":
                batches = {}
                comm.send(("ok", None), dest=0)
                if spawned:
                    break
            elif msg[0] == "build":
                batches = _build(msg[1], msg[2])
                comm.send(("ok", peak_rss_mb()), dest=0)
            elif msg[0] == "eval":
                comm.send(("ok", _evaluate(batches, *msg[1:])), dest=0)
        except BaseException as exc:
            comm.send(("error", _portable(exc), traceback.format_exc()), dest=0)
    if spawned:
        comm.Disconnect()


def make_engine(name: str = "processes", workers: int | None = None, **options) -> Engine:
    """An engine by name: ``processes``, ``serial``, ``dask`` (options: address, cluster,
    cluster_options) or ``mpi``; ConfigError for an unknown name or a missing package."""
    if name not in ENGINES:
        raise ConfigError(f"unknown engine '{name}' (known: {', '.join(ENGINES)})")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    if name != "dask" and options:
        raise ConfigError(f"engine '{name}' takes no options {sorted(options)}")
    unknown = set(options) - {"address", "cluster", "cluster_options", "wait_s"}
    if unknown:
        raise ConfigError(f"engine 'dask': unknown options {sorted(unknown)} (known: address, "
                          "cluster, cluster_options, wait_s)")
    cls = {"processes": ProcessEngine, "serial": SerialEngine, "dask": DaskEngine,
           "mpi": MPIEngine}[name]
    return cls(workers, **options)


if __name__ == "__main__":   # a spawned MPI worker or a worker rank of an mpirun job
    mpi_worker_loop()
