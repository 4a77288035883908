"""Drill: kill `xgan train` with SIGKILL at random moments; the checkpoint always loads and resume is right.

The moments are drawn in epochs, not seconds: the drill waits for a randomly chosen epoch's checkpoint,
then for a random fraction of an epoch as measured in that run, so a slow or a fast machine kills at
the same place in training (a sleep in seconds lands before the first checkpoint on one machine and
after the last on another). Subprocess drills: marked slow, run by CI's separate step.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

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
    while not list(out.glob(pattern)) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def _checkpoint_epoch(state) -> int:
    try:
        return int(read_arrays(state)[1]["epoch"])
    except UserError:  # not written yet
        return 0


def _kill_inside_a_random_epoch(process, state, rng: random.Random) -> None:
    """SIGKILL `process` a random fraction of an epoch after a random epoch's checkpoint (first half of the run)."""
    target = rng.randint(2, EPOCHS // 2)
    first_seen = {}
    deadline = time.monotonic() + 300
    epoch = 0
    while process.poll() is None and time.monotonic() < deadline and epoch < target:
        epoch = _checkpoint_epoch(state)
        first_seen.setdefault(epoch, time.monotonic())
        time.sleep(0.005)
    assert process.poll() is None and epoch >= target, f"training stopped or stalled before epoch {target}"
    observed = sorted(e for e in first_seen if e >= 1)
    epoch_seconds = ((first_seen[observed[-1]] - first_seen[observed[0]]) / (observed[-1] - observed[0])
                     if len(observed) > 1 else 0.05)
    # Inside the next epoch: a training step, a preview or a checkpoint being written.
    time.sleep(rng.uniform(0.0, 1.0) * epoch_seconds)
    process.send_signal(signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("drill", ["before the first checkpoint", "mid-training 1", "mid-training 2"])
def test_sigkill_at_a_random_moment_then_resume(tmp_path, drill):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 20, "normal": 30}, size=32)
    out = tmp_path / "runs"
    process = _xgan("train", "--data", data, "--size", 32, "--epochs", EPOCHS, "--width", 8, "--checkpoint-every", 1,
                    "--preview-every", 2, "--out", out)
    if drill.startswith("before"):
        _wait_for("*/training_keys.json", out, process)
        process.send_signal(signal.SIGKILL)
    else:
        _wait_for(f"*/{STATE_FILE}", out, process)
        _kill_inside_a_random_epoch(process, next(out.glob(f"*/{STATE_FILE}")), random.Random(drill))
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
    saved_epoch = int(meta["epoch"])
    assert 1 <= saved_epoch <= EPOCHS
    assert not drill.startswith("mid") or saved_epoch < EPOCHS, "training ended before the kill: make it longer"
    if saved_epoch < EPOCHS:
        resumed = _xgan("train", "--resume", run_dir)
        _, stderr = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, stderr
    history = json.loads((run_dir / "history.json").read_text())
    assert [entry["epoch"] for entry in history] == list(range(1, EPOCHS + 1))
    _, meta = read_arrays(state)
    assert int(meta["epoch"]) == EPOCHS
