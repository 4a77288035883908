"""Independent jobs (one classifier model of an arm and seed, one stage of a study) in worker processes.

A small CNN at 32 px keeps about 1.1 of 2 cores busy, however many threads TensorFlow is given: its
operations are too small to split well. Independent models trained side by side, each in a process
of its own with its own threads, fill the machine instead. `WorkerPool` runs such jobs:

- `workers` processes, each limited to `threads` intra- and inter-op threads (TensorFlow's, and
  OpenMP's and the BLAS libraries' through the environment) set before TensorFlow starts in it, so that
  workers x threads = the cores (`plan_workers`);
- jobs run in the order given, each as soon as a worker is free and the jobs named in its `after` are
  done; results come back in the parent, which calls `on_result` for each (a progress bar, a record);
- a job that raises stops every worker and the exception (a `UserError` as it was, anything else with
  the worker's traceback as a note) is raised in the parent; a worker that dies is an error naming its job;
- Ctrl-C reaches the parent alone (workers ignore SIGINT): it stops every worker (SIGTERM, which a worker
  turns into an exception, so atomic writes remove their temporary files) and raises KeyboardInterrupt.

A worker's result depends on its thread count, not on what runs beside it: TensorFlow's CPU kernels
split their sums by thread count, so the same model trained with 1 and with 2 threads differs at
rounding level (and training amplifies it); with the same threads it is the same, whatever the other
workers do (tests/test_workers.py, tests/test_classify_workers.py).

Worker processes start with `fork` while TensorFlow is not loaded in the parent (fast, and the parent's
data is shared as it is), else with `spawn` (a fork of a process running TensorFlow's threads is unsafe).

With `jobs_per_worker`, a worker exits after that many jobs and a fresh one takes its place: TensorFlow and
Keras keep some memory from every model a process builds, even after `clear_session` (about 25-40 MB a
model, benchmarks/memory_per_model.py; tensorflow#43702), so a process that trains one model and ends gives
it all back, and a comparison's peak stays that of one model whatever the number of arms.
"""

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait

from ..errors import invalid_argument
from ..progress import QUIET_VARIABLE

log = logging.getLogger("xgan")

_IN_WORKER = False  # True in a worker process: it runs its jobs one after another and starts no workers of its own

WORKERS_VARIABLE = "XGAN_WORKERS"  # when set, a positive integer: the workers of a command given no --workers (else one per core)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
STOP_SECONDS = 20.0  # how long a stopped worker may take to unwind before it is killed


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(cores: int) -> int:
    """The workers of a command given no --workers: $XGAN_WORKERS when set, else `cores` (one per core).

    Raises:
        UserError: $XGAN_WORKERS is not a positive integer.
    """
    value = os.environ.get(WORKERS_VARIABLE, "").strip()
    if not value:
        return cores
    if not value.isdigit() or int(value) < 1:
        from ..errors import UserError

        raise UserError(f"${WORKERS_VARIABLE}={value!r}: expected a positive integer (the default of --workers), or unset it")
    return int(value)


def plan_workers(workers: int | None, num_jobs: int | None = None, cores: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker) for `workers` asked (None: `default_workers`, one per core unless $XGAN_WORKERS says)
    on `cores` (None: this process's).

    Never more workers than jobs; threads = cores // workers, at least 1, so workers x threads <= cores
    (more workers than cores are allowed, one thread each). In a worker process: (1, 1), whatever is asked: a job
    (a sweep's study, say) runs its own models one after another on the worker's threads, not in workers of its own.

    Raises:
        UserError: `workers` is not a positive integer.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise invalid_argument("workers", "a positive integer (option --workers)", workers)
    if _IN_WORKER:
        return 1, 1
    cores = cores or available_cores()
    workers = workers or default_workers(cores)
    if num_jobs is not None:
        workers = max(1, min(workers, num_jobs))
    return workers, max(1, cores // workers)


def limit_threads(threads: int) -> None:
    """Limit this process to `threads` compute threads: TensorFlow's pools (read from TF_NUM_INTRAOP_THREADS and
    TF_NUM_INTEROP_THREADS when it starts), OpenMP and BLAS.

    Called first thing in a worker (whose environment the parent already set, for whatever its start imports).
    Once TensorFlow has started its thread pools they cannot change: a process that already runs it keeps them.
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            log.warning("TensorFlow already runs in this process: its thread pools keep their size")


@contextlib.contextmanager
def thread_environment(threads: int):
    """The thread variables of `limit_threads` set in this process's environment inside the block (what a started
    process inherits), the previous values after."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Job:
    """One independent piece of work: `function(*args)` in a worker, after the jobs named in `after`.

    `function` must be importable by name (a module-level function) and `args` picklable when workers
    are spawned; its return value comes back to the parent pickled.
    """

    key: object
    function: Callable
    args: tuple = ()
    after: tuple = ()
    description: str = ""


@dataclass
class _Worker:
    process: multiprocessing.Process
    connection: object
    job: Job | None = None
    stopping: bool = False
    jobs_done: int = 0


class WorkerStopped(BaseException):
    """Raised in a worker by SIGTERM: the parent stops it (Ctrl-C, or another job failed)."""


def _stop_handler(signum, frame):
    raise WorkerStopped()


def _worker_main(connection, threads: int, initializer, initargs, log_level: int, quiet_tensorflow: bool,
                 jobs_per_worker: int | None = None) -> None:
    global _IN_WORKER
    _IN_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _stop_handler)
    _stop_with_parent()
    limit_threads(threads)
    os.environ[QUIET_VARIABLE] = "1"  # the parent draws the one progress bar
    logging.getLogger("xgan").setLevel(log_level)
    if quiet_tensorflow:
        from .tensorflow_setup import quiet_tensorflow_startup

        quiet_tensorflow_startup()
    try:
        if initializer is not None:
            initializer(*initargs)
        done = 0
        while jobs_per_worker is None or done < jobs_per_worker:
            message = connection.recv()
            if message is None:
                return
            key, function, args = message
            try:
                result = ("ok", function(*args))
            except WorkerStopped:
                raise
            except Exception as error:  # noqa: BLE001 - every failure goes back to the parent
                result = ("error", _picklable(error), traceback.format_exc())
            connection.send((key, *result))
            done += 1
    except (WorkerStopped, EOFError, BrokenPipeError):
        return


def _stop_with_parent() -> None:
    """Have the kernel send this worker SIGTERM when its parent dies (a SIGKILL leaves the parent no time to stop it):
    an orphaned worker would go on writing into a study that a resumed run is writing too. Linux only; elsewhere a
    worker stops at its next message to the parent."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the call
        os.kill(os.getpid(), signal.SIGTERM)


def _picklable(error: BaseException) -> BaseException:
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(error).__name__}: {error}")


class WorkerPool:
    """`workers` processes of `threads` threads each that run `Job`s (see the module's docstring).

    Use as a context manager; `run` may be called several times while it is open. `jobs_per_worker`: each worker
    exits after that many jobs and a fresh one replaces it when jobs remain (None: workers live as long as the pool).
    """

    def __init__(self, workers: int, threads: int, initializer: Callable | None = None, initargs: tuple = (),
                 jobs_per_worker: int | None = None):
        if workers < 1 or threads < 1:
            raise invalid_argument("workers", "at least 1 worker and thread", received=f"workers={workers}, threads={threads}", error=ValueError)
        if jobs_per_worker is not None and jobs_per_worker < 1:
            raise invalid_argument("jobs_per_worker", "a positive integer or None", jobs_per_worker, error=ValueError)
        self.workers_wanted, self.threads = workers, threads
        self.initializer, self.initargs = initializer, initargs
        self.jobs_per_worker = jobs_per_worker
        self.workers: list[_Worker] = []
        self._method: str | None = None  # chosen when the pool opens, kept for the workers that replace finished ones
        self.started = 0  # worker processes started, replacements included

    @property
    def start_method(self) -> str:
        if self._method is not None:
            return self._method
        return "spawn" if "tensorflow" in sys.modules else "fork"

    def __enter__(self) -> "WorkerPool":
        self._method = self.start_method
        for _ in range(self.workers_wanted):
            self.workers.append(self._start_worker())
        return self

    def _start_worker(self) -> _Worker:
        context = multiprocessing.get_context(self._method)
        quiet = any(type(finder).__name__ == "QuietImportFinder" for finder in sys.meta_path)
        with thread_environment(self.threads):
            parent_end, child_end = context.Pipe()
            process = context.Process(target=_worker_main, args=(child_end, self.threads, self.initializer, self.initargs,
                                                                   logging.getLogger("xgan").getEffectiveLevel(), quiet,
                                                                   self.jobs_per_worker), daemon=True)
            process.start()
        child_end.close()
        self.started += 1
        return _Worker(process, parent_end)

    def _retire(self, worker: _Worker, replace: bool) -> None:
        """A worker that ran its `jobs_per_worker` jobs and exits: reaped, and a fresh one put in its place if `replace`
        (jobs wait), else left out until the next `run`."""
        worker.process.join(STOP_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.connection.close()
        if replace:
            self.workers[self.workers.index(worker)] = self._start_worker()
        else:
            self.workers.remove(worker)

    def __exit__(self, kind, value, trace) -> None:
        self.close(graceful=kind is None)

    def close(self, graceful: bool = True) -> None:
        """Stop every worker: ask them to finish (graceful) or stop them at once (SIGTERM), then kill what is left."""
        for worker in self.workers:
            if not worker.process.is_alive():
                continue
            if graceful and worker.job is None:
                try:
                    worker.connection.send(None)
                except (BrokenPipeError, OSError):
                    pass
            else:
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self.workers = []

    def run(self, jobs: Sequence[Job], on_result: Callable[[Job, object], None] | None = None) -> dict:
        """Run `jobs` and return {key: result}; `on_result(job, result)` is called in the parent as each finishes.

        Raises:
            the first failing job's exception; KeyboardInterrupt on Ctrl-C (every worker stopped first).
        """
        keys = [job.key for job in jobs]
        if len(set(keys)) != len(keys):
            raise invalid_argument("jobs", "distinct keys", received="a repeated key", error=ValueError)
        waiting, results = list(jobs), {}
        while len(self.workers) < min(self.workers_wanted, len(jobs)):  # workers retired by the last run
            self.workers.append(self._start_worker())
        unknown = [k for job in jobs for k in job.after if k not in keys]
        if unknown:
            raise invalid_argument("jobs", "`after` to name jobs of this run", received=f"{unknown[0]!r}", error=ValueError)
        try:
            while waiting or any(worker.job is not None for worker in self.workers):
                for worker in self.workers:
                    if worker.job is None and waiting:
                        ready = next((job for job in waiting if all(k in results for k in job.after)), None)
                        if ready is None:
                            break
                        waiting.remove(ready)
                        worker.job = ready
                        worker.connection.send((ready.key, ready.function, ready.args))
                busy = [worker for worker in self.workers if worker.job is not None]
                if not busy:
                    raise RuntimeError("jobs wait on each other: their `after` keys form a circle")
                ready_objects = wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
                for worker in busy:
                    if worker.connection in ready_objects or worker.connection.poll():
                        try:
                            key, status, *payload = worker.connection.recv()
                        except (EOFError, OSError):
                            raise _died(worker) from None
                        job, worker.job = worker.job, None
                        worker.jobs_done += 1
                        if status == "error":
                            error, trace = payload
                            if not _is_user_error(error):
                                error.add_note(f"in a worker process, running {job.description or job.key!r}:\n{trace}")
                            raise error
                        results[key] = payload[0]
                        if self.jobs_per_worker is not None and worker.jobs_done >= self.jobs_per_worker:
                            idle = sum(1 for other in self.workers if other.job is None and other is not worker)
                            self._retire(worker, replace=len(waiting) > idle)  # a fresh worker for each job no idle one will take
                        if on_result is not None:
                            on_result(job, payload[0])
                    elif worker.process.sentinel in ready_objects:
                        raise _died(worker)
        except BaseException:
            self.close(graceful=False)
            raise
        return results


def _died(worker: _Worker) -> RuntimeError:
    worker.process.join(5)  # reaped, so its exit code is known
    return RuntimeError(f"a worker process stopped while running {worker.job.description or worker.job.key!r} "
                        f"(exit code {worker.process.exitcode})")


def _is_user_error(error: BaseException) -> bool:
    from ..errors import UserError

    return isinstance(error, UserError)


def run_jobs(jobs: Sequence[Job], workers: int, threads: int, on_result: Callable[[Job, object], None] | None = None,
             initializer: Callable | None = None, initargs: tuple = ()) -> dict:
    """Run `jobs` in a `WorkerPool` of `workers` processes of `threads` threads; {key: result}."""
    with WorkerPool(workers, threads, initializer, initargs) as pool:
        return pool.run(jobs, on_result)
