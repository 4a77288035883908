"""Drill: kill `xgan train` with SIGKILL at moments chosen by events; the checkpoint always loads and resume is exact.

The moments are events the drill waits for, never sleeps: the run's training_keys.json (before the first
checkpoint) and the checkpoint of a given epoch (killed at once: inside the next epoch), so a slow or a fast
machine kills at the same place in training, and a signal cannot land after the run ended and pass without
resuming anything. The resumed run's final state is compared, array by array, with an uninterrupted run's.
Subprocess drills: marked slow, run by CI's separate step.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from xgan.errors import UserError
from xgan.gan.run_state import STATE_FILE, read_arrays

from conftest import make_folder_dataset

EPOCHS = 40


def _xgan(*args):
    command = [sys.executable, "-c", "from xgan.cli import main; main()", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})


def _wait_for(pattern, out, process):
    deadline = time.monotonic() + 120
    while not list(out.glob(pattern)):
        assert process.poll() is None, f"the run ended before {pattern} appeared"
        assert time.monotonic() < deadline, f"no {pattern} after 120 s"
        time.sleep(0.01)


def _checkpoint_epoch(state) -> int:
    try:
        return int(read_arrays(state)[1]["epoch"])
    except UserError:  # not written yet
        return 0


def _kill_after_checkpoint(process, state, epoch: int) -> None:
    """SIGKILL `process` as soon as the checkpoint of `epoch` is on disk: inside the next epoch."""
    deadline = time.monotonic() + 300
    while _checkpoint_epoch(state) < epoch:
        assert process.poll() is None, f"training stopped before epoch {epoch}"
        assert time.monotonic() < deadline, f"no checkpoint of epoch {epoch} after 300 s"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)


def _train(data, out):
    return _xgan("train", "--data", data, "--size", 32, "--epochs", EPOCHS, "--width", 8, "--checkpoint-every", 1,
                 "--preview-every", 2, "--out", out)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The data and the final state arrays of a run that was never interrupted."""
    root = tmp_path_factory.mktemp("kill")
    data = make_folder_dataset(root / "xrays", {"covid": 20, "normal": 30}, size=32)
    process = _train(data, root / "runs")
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    arrays, meta = read_arrays(next((root / "runs").glob("*-gan-*")) / STATE_FILE)
    assert int(meta["epoch"]) == EPOCHS
    return data, arrays


@pytest.mark.slow
@pytest.mark.parametrize("drill", ["before the first checkpoint", "after epoch 3", "after epoch 17"])
def test_sigkill_then_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, uninterrupted, drill):
    data, expected = uninterrupted
    out = tmp_path / "runs"
    process = _train(data, out)
    if drill.startswith("before"):
        _wait_for("*/training_keys.json", out, process)
        process.send_signal(signal.SIGKILL)
    else:
        _wait_for(f"*/{STATE_FILE}", out, process)
        _kill_after_checkpoint(process, next(out.glob(f"*/{STATE_FILE}")), int(drill.split()[-1]))
    process.wait()
    run_dir = next(out.glob("*-gan-*"))
    state = run_dir / STATE_FILE
    if not state.exists():
        # Killed before the first checkpoint: resume says so in one line, and a new run is the way on.
        refused = _xgan("train", "--resume", run_dir)
        _, stderr = refused.communicate(timeout=120)
        assert refused.returncode == 2 and "has no checkpoint" in stderr
        return
    _, meta = read_arrays(state)  # always loadable: written atomically
    assert 1 <= int(meta["epoch"]) < EPOCHS  # killed while training: there is something to resume
    resumed = _xgan("train", "--resume", run_dir)
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    history = json.loads((run_dir / "history.json").read_text())
    assert [entry["epoch"] for entry in history] == list(range(1, EPOCHS + 1))
    arrays, meta = read_arrays(state)
    assert int(meta["epoch"]) == EPOCHS
    assert sorted(arrays) == sorted(expected)
    for key, value in expected.items():  # both networks, the EMA generator, both optimizers, the random state
        np.testing.assert_array_equal(arrays[key], value, err_msg=key)
