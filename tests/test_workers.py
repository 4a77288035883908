"""The worker pool: workers x threads sized to the cores, jobs in order after their dependencies, failures and Ctrl-C."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from xgan.errors import UserError
from xgan.runtime.workers import THREAD_VARIABLES, Job, WorkerPool, plan_workers, run_jobs


def square(value):
    return value * value


def thread_settings():
    return {name: os.environ.get(name) for name in THREAD_VARIABLES}


def write_then_read(folder, name, after_name):
    """Write `name` after checking that the job it runs after has written `after_name`."""
    folder = Path(folder)
    seen = after_name is None or (folder / after_name).is_file()
    (folder / name).write_text("done")
    return seen


def fail(kind):
    if kind == "user":
        raise UserError("--data: expected a folder")
    raise ValueError("a bug")


def die():
    os._exit(3)


@pytest.mark.parametrize("workers, jobs, cores, expected", [
    (None, None, 2, (2, 1)), (1, None, 2, (1, 2)), (2, None, 2, (2, 1)), (None, None, 16, (16, 1)), (4, None, 16, (4, 4)),
    (3, None, 2, (3, 1)), (None, 1, 2, (1, 2)), (8, 3, 16, (3, 5)),
])
def test_plan_workers_fills_the_cores(workers, jobs, cores, expected, monkeypatch):
    monkeypatch.delenv("XGAN_WORKERS", raising=False)  # the suite sets it to 1
    assert plan_workers(workers, jobs, cores) == expected


def test_xgan_workers_is_the_default_of_a_command_given_no_workers(monkeypatch):
    monkeypatch.setenv("XGAN_WORKERS", "3")
    assert plan_workers(None, None, 2) == (3, 1) and plan_workers(2, None, 2) == (2, 1)  # --workers wins
    for value in ("0", "two", "-1"):
        monkeypatch.setenv("XGAN_WORKERS", value)
        with pytest.raises(UserError, match=rf"^\$XGAN_WORKERS='{value}': expected a positive integer \(the default of --workers\)"):
            plan_workers(None, None, 2)


def test_a_bad_xgan_workers_fails_before_a_run_folder_is_made(monkeypatch, tmp_path, folder_dataset):
    from click.testing import CliRunner

    from xgan.cli import cli

    monkeypatch.setenv("XGAN_WORKERS", "abc")
    tiny = folder_dataset  # the tests' own images: a clone without ../shared runs this test too
    for command in (["classify", "--data", str(tiny), "--compare", "--seeds", "2"], ["run", "--data", str(tiny)]):
        result = CliRunner().invoke(cli, [*command, "--size", "32", "--out", str(tmp_path / command[0])])
        assert result.exit_code == 2 and "$XGAN_WORKERS='abc': expected a positive integer" in result.output, result.output
        assert not (tmp_path / command[0]).exists() or not any((tmp_path / command[0]).iterdir())


@pytest.mark.parametrize("workers", [0, -1, True, 1.5])
def test_plan_workers_refuses_a_bad_count(workers):
    with pytest.raises(UserError, match="Invalid value received for argument `workers`. Expected a positive integer"):
        plan_workers(workers, None, 2)


def plan_in_worker():
    return plan_workers(2, None, 2)


def test_a_worker_starts_no_workers_of_its_own():
    """A job that would plan workers (a sweep's study) runs its own work one after another in its worker."""
    assert run_jobs([Job(0, plan_in_worker)], workers=1, threads=2)[0] == (1, 1)
    assert plan_in_worker() == (2, 1)


def test_results_come_back_by_key_and_each_is_reported():
    reported = []
    results = run_jobs([Job(n, square, (n,)) for n in range(6)], workers=2, threads=1,
                       on_result=lambda job, result: reported.append((job.key, result)))
    assert results == {n: n * n for n in range(6)}
    assert sorted(reported) == [(n, n * n) for n in range(6)]


def test_workers_get_their_thread_settings_and_the_parent_keeps_its_own():
    before = thread_settings()
    results = run_jobs([Job(0, thread_settings)], workers=1, threads=3)
    assert results[0] == {name: "3" for name in THREAD_VARIABLES}
    assert thread_settings() == before


def test_a_job_waits_for_the_jobs_it_runs_after(tmp_path):
    jobs = [Job("late", write_then_read, (str(tmp_path), "late", "early"), after=("early",)),
            Job("early", write_then_read, (str(tmp_path), "early", None)),
            Job("free", write_then_read, (str(tmp_path), "free", None))]
    assert run_jobs(jobs, workers=2, threads=1) == {"late": True, "early": True, "free": True}


def process_id(_):
    return os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_with_one_job_per_worker_every_job_runs_in_a_fresh_process(workers):
    """What TensorFlow keeps from a model stays with the process that built it: one job per process gives it all back."""
    with WorkerPool(workers, 1, jobs_per_worker=1) as pool:
        first = pool.run([Job(n, process_id, (n,)) for n in range(5)])
        assert len(set(first.values())) == 5 and os.getpid() not in first.values()
        assert pool.started == 5 and len(pool.workers) <= workers  # no process started for a job that never came
        again = pool.run([Job(n, process_id, (n,)) for n in range(3)])  # a later run gets fresh workers too
    assert len(set(again.values())) == 3 and not set(again.values()) & set(first.values())


def test_without_a_job_limit_a_worker_runs_job_after_job():
    with WorkerPool(1, 1) as pool:
        results = pool.run([Job(n, process_id, (n,)) for n in range(3)])
    assert len(set(results.values())) == 1 and pool.started == 1


def test_a_job_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="jobs_per_worker"):
        WorkerPool(1, 1, jobs_per_worker=0)


def test_an_unknown_dependency_is_refused():
    with WorkerPool(1, 1) as pool, pytest.raises(ValueError, match="Expected `after` to name jobs of this run. Received: 'nope'"):
        pool.run([Job(1, square, (1,), after=("nope",))])


def test_a_user_error_in_a_worker_is_raised_as_it_was():
    with pytest.raises(UserError, match="^--data: expected a folder$"):
        run_jobs([Job(0, square, (2,)), Job(1, fail, ("user",))], workers=2, threads=1)


def test_a_bug_in_a_worker_carries_the_workers_traceback():
    with pytest.raises(ValueError, match="a bug") as caught:
        run_jobs([Job("broken", fail, ("bug",), description="the broken job")], workers=1, threads=1)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "running 'the broken job'" in notes and "in fail" in notes


def test_a_worker_that_dies_is_an_error_naming_its_job():
    with pytest.raises(RuntimeError, match="a worker process stopped while running 'dying job' \\(exit code 3\\)"):
        run_jobs([Job(0, die, description="dying job")], workers=1, threads=1)


INTERRUPTED = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    # Python keeps SIGINT ignored when it starts with it ignored, as a shell's background job does (`pytest &` in a
    # script): the drill would then time out. A terminal's Ctrl-C reaches a foreground command, so restore it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, {tests!r})
    from xgan.runtime.workers import Job, run_jobs
    from test_workers import busy_writer
    folder = Path({folder!r})
    try:
        run_jobs([Job(n, busy_writer, (str(folder), n)) for n in range(4)], workers=2, threads=1)
    except KeyboardInterrupt:
        (folder / "parent_interrupted").write_text("yes")
        sys.exit(130)
""")


def busy_writer(folder, number):
    """Write a pid file, then keep rewriting a file atomically until stopped."""
    from xgan.runs import write_text

    folder = Path(folder)
    write_text(folder / f"worker{number}.pid", str(os.getpid()))  # atomic: the test polls for it, never half-written
    while True:
        write_text(folder / f"output{number}.txt", "x" * 100_000)


def test_ctrl_c_stops_every_worker_cleanly(tmp_path):
    """SIGINT to the whole process group (what Ctrl-C in a terminal sends): the parent stops both workers, which
    leave no temporary file of their atomic writes, and exits with KeyboardInterrupt handled."""
    tests = str(Path(__file__).parent)
    script = INTERRUPTED.format(tests=tests, folder=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, env={**os.environ})
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("worker*.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(p.read_text()) for p in tmp_path.glob("worker*.pid")]
    assert len(pids) == 2
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert (tmp_path / "parent_interrupted").is_file()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not list(tmp_path.glob(".*.tmp"))


ORPHANED = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from xgan.runtime.workers import Job, run_jobs
    from test_workers import busy_writer
    run_jobs([Job(n, busy_writer, ({folder!r}, n)) for n in range(2)], workers=2, threads=1)
""")


def test_workers_stop_when_their_parent_is_killed(tmp_path):
    """SIGKILL to the parent (no time to stop anything): the workers stop too, instead of writing on as orphans."""
    script = ORPHANED.format(tests=str(Path(__file__).parent), folder=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("worker*.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(p.read_text()) for p in tmp_path.glob("worker*.pid")]
    assert len(pids) == 2
    process.kill()
    process.wait()
    deadline = time.monotonic() + 30
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in pids if _alive(pid)]
    assert alive == []
    assert not list(tmp_path.glob(".*.tmp"))


def _alive(pid: int) -> bool:
    """Running (not a zombie waiting for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
