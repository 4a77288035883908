"""Drill: interrupt `xgan run` in every stage (SIGINT) and inside the GAN and classify stages (SIGKILL); `xgan run
--resume` always finishes the study, with the same results as a study that was never interrupted.

Each signal is sent on an event, never after a sleep: a stage's heading line in the output, then, where a
drill names one, a file the stage writes (the GAN run's training keys, a checkpoint). So a slow or a fast
machine interrupts the same stage, and the drill fails instead of passing when the study finished first."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import make_folder_dataset

pytestmark = pytest.mark.slow

STAGES = ("data", "gan", "sample", "quality", "classify", "report")
OPTIONS = ("--size", "32", "--gan-epochs", "6", "--classifier-epochs", "1", "--seeds", "1", "--ratio", "auto",
           "--num-synthetic", "30", "--workers", "1")  # stage by stage; the side-by-side drill below takes --workers 2
SIDE_BY_SIDE = (*OPTIONS[:-1], "2")


def _start(*args) -> subprocess.Popen:
    command = [sys.executable, "-c", "from xgan.cli import main; main()", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})


def _run(*args) -> tuple[int, str]:
    process = _start(*args)
    output, _ = process.communicate(timeout=900)
    return process.returncode, output


def _interrupt_at(process: subprocess.Popen, heading: str, sig: int, root=None, pattern: str | None = None) -> str:
    """Send `sig` once a line starting with `heading` was printed and, with `pattern`, a file matching it exists
    under `root`; return all output."""
    lines = []

    def read():
        for line in process.stdout:
            lines.append(line)
            if line.startswith(heading) and not fired.is_set():
                fired.set()

    fired = threading.Event()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert fired.wait(timeout=600), f"no line {heading!r}:\n" + "".join(lines)
    deadline = time.monotonic() + 600
    while pattern is not None and not list(root.glob(pattern)):
        assert process.poll() is None, f"the study ended before {pattern} appeared:\n" + "".join(lines)
        assert time.monotonic() < deadline, f"no {pattern} after 600 s"
        time.sleep(0.01)
    assert process.poll() is None, "the study ended before the signal:\n" + "".join(lines)
    process.send_signal(sig)
    process.wait(timeout=600)
    reader.join(timeout=10)
    return "".join(lines)


def _results(folder) -> dict:
    comparison = json.loads((folder / "report.json").read_text())["comparison"]
    return {arm: [run["metrics"] for run in value["runs"]] for arm, value in comparison["arms"].items()}


def _finished(folder) -> bool:
    return "report" in json.loads((folder / "study.json").read_text())["stages"]


def _finish(folder) -> list[str]:
    """Resume until the study is finished; returns what each resume printed."""
    outputs = []
    for _ in range(4):
        code, output = _run("run", "--resume", "--study", folder)
        outputs.append(output)
        if code == 0:
            return outputs
    raise AssertionError("the study did not finish after 4 resumes:\n" + "\n----\n".join(outputs))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("drill")
    data = make_folder_dataset(root / "xrays", {"covid": 14, "normal": 30}, size=32)
    code, output = _run("run", "--data", data, *OPTIONS, "--out", root / "reference")
    assert code == 0, output
    return data, _results(next((root / "reference").glob("*-study-*")))


@pytest.mark.parametrize("stage", STAGES)
def test_sigint_in_each_stage_then_resume_gives_the_same_results(tmp_path, reference, stage):
    data, expected = reference
    number = STAGES.index(stage) + 1
    process = _start("run", "--data", data, *OPTIONS, "--out", tmp_path)
    output = _interrupt_at(process, f"[{number}/{len(STAGES)}]", signal.SIGINT)
    folder = next(tmp_path.glob("*-study-*"))
    # Sent as the stage began: only the report stage (milliseconds) may have finished before the signal landed.
    if stage != "report":
        assert process.returncode != 0 and not _finished(folder), output
    if not _finished(folder):
        # Every message names the one way on; following it finishes the study.
        assert f"xgan run --resume --study {folder}" in output, output
        assert "xgan train --resume" not in output
        _finish(folder)
    assert _results(folder) == expected


@pytest.mark.parametrize("stage, pattern", [
    ("gan", "*-study-*/gan/*-gan-*/training_keys.json"),  # the GAN has read its images and starts training
    ("gan", "*-study-*/gan/*-gan-*/checkpoints/state.npz"),  # the GAN's last checkpoint is on disk, the stage not yet recorded
    ("classify", None),
])
def test_sigkill_inside_a_stage_then_resume_gives_the_same_results(tmp_path, reference, stage, pattern):
    data, expected = reference
    process = _start("run", "--data", data, *OPTIONS, "--out", tmp_path)
    _interrupt_at(process, f"[{STAGES.index(stage) + 1}/{len(STAGES)}]", signal.SIGKILL, tmp_path, pattern)
    folder = next(tmp_path.glob("*-study-*"))
    assert process.returncode == -signal.SIGKILL and not _finished(folder)
    _finish(folder)
    assert _results(folder) == expected


def test_a_gan_finished_by_xgan_train_resume_counts_as_done(tmp_path, reference):
    """Ctrl-C in the GAN stage, then the GAN finished outside the study: `xgan run --resume` goes on."""
    data, expected = reference
    process = _start("run", "--data", data, *OPTIONS, "--out", tmp_path)
    _interrupt_at(process, "[2/6]", signal.SIGINT, tmp_path, "*-study-*/gan/*-gan-*/training_keys.json")
    folder = next(tmp_path.glob("*-study-*"))
    gan_run = next((folder / "gan").glob("*-gan-*"), None)
    if gan_run is not None and (gan_run / "checkpoints" / "state.npz").is_file():
        code, output = _run("train", "--resume", gan_run)
        assert code in (0, 2), output  # 2: it had already finished
    if not _finished(folder):
        _finish(folder)
    assert _results(folder) == expected


@pytest.fixture(scope="module")
def side_by_side_reference(tmp_path_factory, reference):
    """The same study side by side, never interrupted (its GAN trains on one thread: its numbers may differ from the
    stage-by-stage reference's at rounding level)."""
    data, _ = reference
    root = tmp_path_factory.mktemp("drill-side-by-side")
    code, output = _run("run", "--data", data, *SIDE_BY_SIDE, "--out", root)
    assert code == 0, output
    return data, _results(next(root.glob("*-study-*")))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_signal_while_stages_run_side_by_side_then_resume_gives_the_same_results(tmp_path, side_by_side_reference, sig):
    """--workers 2: the signal lands once the GAN (in one worker) has read its images, while classifier models train in
    the other. SIGINT: the command stops both workers and names the resume; SIGKILL: the workers stop with their parent.
    Resumed, the study gives what a study side by side never interrupted gives."""
    data, expected = side_by_side_reference
    process = _start("run", "--data", data, *SIDE_BY_SIDE, "--out", tmp_path)
    output = _interrupt_at(process, "[2-5/6] side by side", sig, tmp_path, "*-study-*/gan/*-gan-*/training_keys.json")
    folder = next(tmp_path.glob("*-study-*"))
    assert process.returncode != 0 and not _finished(folder), output
    if sig == signal.SIGINT:
        assert f"interrupted; resume with `xgan run --resume --study {folder}`" in output, output
    time.sleep(10)  # the workers' own exit (a SIGKILLed parent's workers get SIGTERM from the kernel; the GAN ends its epoch)
    assert not list(folder.rglob(".*.tmp")), "a worker left a temporary file"
    outputs = _finish(folder)
    assert any("side by side" in text for text in outputs)
    assert _results(folder) == expected
