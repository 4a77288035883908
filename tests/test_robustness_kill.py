"""Drill: kill `xgan train` with SIGKILL at random moments; the checkpoint always loads and resume is right."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

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


@pytest.mark.parametrize("drill", ["before the first checkpoint", "mid-training 1", "mid-training 2"])
def test_sigkill_at_a_random_moment_then_resume(tmp_path, drill):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 20, "normal": 30}, size=32)
    out = tmp_path / "runs"
    process = _xgan("train", "--data", data, "--size", 32, "--epochs", EPOCHS, "--width", 8, "--checkpoint-every", 1,
                    "--preview-every", 2, "--out", out)
    if drill.startswith("before"):
        _wait_for("*/training_keys.json", out, process)
    else:
        # After the first checkpoint, a random moment: inside an epoch, a preview or a checkpoint write.
        _wait_for(f"*/{STATE_FILE}", out, process)
        time.sleep(random.Random(drill).uniform(0.0, 1.5))
    process.send_signal(signal.SIGKILL)
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
