"""xgan classify --workers: models side by side in worker processes, the same folders and the same numbers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from xgan.classifier.classify import ClassifyConfig
from xgan.cli import cli
from xgan.errors import UserError

TINY = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tiny"


@pytest.mark.parametrize("workers", [0, -2, True])
def test_a_bad_worker_count_is_refused(workers):
    with pytest.raises(UserError, match="Invalid value received for argument `workers`. Expected a positive integer"):
        ClassifyConfig(workers=workers)


def test_workers_with_a_multi_device_strategy_are_refused():
    with pytest.raises(UserError, match="--workers 2 trains models side by side .* pass --workers 1 with it"):
        ClassifyConfig(workers=2, strategy="mirrored")
    assert ClassifyConfig(strategy="mirrored").workers is None  # the default (one per core) is one with a multi-device strategy
    from xgan.study.config import StudyConfig

    assert ClassifyConfig().workers is None and StudyConfig().workers is None


def test_the_cli_refuses_zero_workers():
    result = CliRunner().invoke(cli, ["classify", "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output


def _classify(out: Path, *options: str, env: dict | None = None) -> tuple[Path, bool]:
    """Run `xgan classify` on the tiny set in a fresh process (its own TensorFlow and threads); the run folder, and
    whether the command's own process imported TensorFlow."""
    command = [sys.executable, "-c", FRESH_SCRIPT, str(2**62), "classify", "--data", str(TINY), "--size", "32", "--epochs", "2",
               "--out", str(out), *options]
    result = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=900)
    (run,) = out.iterdir()
    return run, "TENSORFLOW_IN_COMMAND True" in result.stdout


@pytest.mark.slow
def test_a_models_numbers_do_not_depend_on_what_trains_beside_it(tmp_path):
    """Seed 0 of the baseline trained beside its seed 1 (an ensemble) and beside a class_weights model (a comparison),
    in workers of one thread, and one after another in one process limited to one thread, as a worker is: the same
    predictions to the byte, and the same comparison report (the shift suite scored in the workers, or here). The same
    model in a process of two threads (--workers 1 on two cores) may differ at rounding level (see README)."""
    import json

    ensemble, _ = _classify(tmp_path / "ensemble", "--seeds", "2", "--workers", "2")
    compared, tensorflow_here = _classify(tmp_path / "compared", "--compare", "--arms", "baseline,class_weights", "--seeds", "1", "--workers", "2")
    alone, _ = _classify(tmp_path / "alone", "--compare", "--arms", "baseline,class_weights", "--seeds", "1", "--workers", "1",
                         env={"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"})
    assert not tensorflow_here  # the shift suite and Grad-CAM of every model computed in its worker
    for arm in ("baseline", "class_weights"):
        expected = (alone / "arms" / arm / "seed0" / "predictions.csv").read_bytes()
        assert (compared / "arms" / arm / "seed0" / "predictions.csv").read_bytes() == expected
    assert (ensemble / "seed0" / "predictions.csv").read_bytes() == (alone / "arms" / "baseline" / "seed0" / "predictions.csv").read_bytes()
    reports = [json.loads((folder / "report.json").read_text()) for folder in (compared, alone)]
    for key in ("arms", "comparisons", "shift_suite", "gradcam"):
        assert _without_seconds(reports[0][key]) == _without_seconds(reports[1][key]), key
    assert reports[0]["gradcam"]["films"] and (compared / "gradcam.png").read_bytes() == (alone / "gradcam.png").read_bytes()
    files = {"model.keras", "config.json", "history.json", "metrics.json", "predictions.csv", "validation_predictions.csv", "seen_images.json"}
    for folder in (ensemble / "seed0", ensemble / "seed1", compared / "arms" / "class_weights" / "seed0"):
        assert files <= {path.name for path in folder.iterdir()}


def _without_seconds(value):
    """A report's part without its timings and folders."""
    if isinstance(value, dict):
        return {key: _without_seconds(item) for key, item in value.items() if key not in ("seconds", "run_dir")}
    if isinstance(value, list):
        return [_without_seconds(item) for item in value]
    return value


FRESH_SCRIPT = ("import sys; import xgan.classifier.classify as classify; classify.FRESH_PROCESS_PIXELS = int(sys.argv[1]); "
                "from xgan.cli import cli; cli.main(sys.argv[2:], standalone_mode=False); "
                "print('TENSORFLOW_IN_COMMAND', 'tensorflow' in sys.modules)")


def test_models_in_processes_of_their_own_give_the_same_report_and_the_command_never_starts_tensorflow(tmp_path):
    """Past FRESH_PROCESS_PIXELS each model trains, and is explained and scored on the external set, in a process that ends
    with it (so TensorFlow's memory goes back): the same numbers and figure as every model in one process of as many
    threads, and the command's own process never imports TensorFlow."""
    import json

    from conftest import make_folder_dataset

    data = make_folder_dataset(tmp_path / "xrays", {"covid": 12, "normal": 28}, size=16)
    site = make_folder_dataset(tmp_path / "site_b", {"covid": 6, "normal": 9}, size=24, seed=5)
    folders, reports = {}, {}
    for name, pixels in (("fresh", 0), ("shared", 2**62)):
        out = tmp_path / name
        result = subprocess.run([sys.executable, "-c", FRESH_SCRIPT, str(pixels), "-v", "classify", "--data", str(data), "--compare",
                                 "--arms", "baseline,class_weights", "--seeds", "1", "--external", str(site), "--size", "16",
                                 "--epochs", "1", "--batch-size", "16", "--out", str(out)],
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-2000:]
        assert ("a process of its own" in result.stderr) == (name == "fresh")
        assert f"TENSORFLOW_IN_COMMAND {name == 'shared'}" in result.stdout
        (folders[name],) = out.iterdir()
        reports[name] = json.loads((folders[name] / "report.json").read_text())
    for key in ("arms", "comparisons", "shift_suite", "external", "gradcam"):
        assert _without_seconds(reports["fresh"][key]) == _without_seconds(reports["shared"][key]), key
    assert reports["fresh"]["external"]["site_b"]["num_images"] == 15 and reports["fresh"]["gradcam"]["films"]
    assert (folders["fresh"] / "gradcam.png").read_bytes() == (folders["shared"] / "gradcam.png").read_bytes()
