"""External test sets (`--external`) and site thresholds (`xgan calibrate`): the same numbers as `xgan evaluate`."""

import json
import math
import shutil

import pytest
from click.testing import CliRunner

from xgan.classifier.external import parse_external, parse_externals
from xgan.cli import cli
from xgan.errors import UserError

from conftest import make_folder_dataset

TINY = ["--size", "16", "--epochs", "1", "--batch-size", "16"]


def test_an_external_set_is_named_by_its_folder_its_file_or_name_equals_path(tmp_path):
    folder = make_folder_dataset(tmp_path / "site_b", {"covid": 2, "normal": 2}, size=16, patients_per_class={"covid": 1, "normal": 1})
    assert parse_external(str(folder)).name == "site_b"
    assert parse_external(str(folder / "manifest.csv")).name == "site_b"  # a manifest is named by its folder
    npz = tmp_path / "hospital.npz"
    npz.write_bytes(b"")
    assert parse_external(str(npz)).name == "hospital"
    spec = parse_external(f"cohen={folder}")
    assert (spec.name, spec.path, str(spec)) == ("cohen", folder, f"cohen={folder}")
    assert parse_external(str(spec)) == spec  # as study.json keeps it


@pytest.mark.parametrize("value, match", [
    ("missing_folder", r"^--external missing_folder: no such file or folder; expected a class-per-folder directory"),
    ("bad name={folder}", r"the name 'bad name' is not a short word"),
])
def test_bad_external_values_are_one_line(tmp_path, value, match):
    folder = make_folder_dataset(tmp_path / "site", {"covid": 2, "normal": 2}, size=16)
    with pytest.raises(UserError, match=match):
        parse_external(value.format(folder=folder))


def test_two_external_sets_of_one_name_are_refused(tmp_path):
    first = make_folder_dataset(tmp_path / "a" / "site", {"covid": 2, "normal": 2}, size=16)
    second = make_folder_dataset(tmp_path / "b" / "site", {"covid": 2, "normal": 2}, size=16)
    with pytest.raises(UserError, match=r"^--external: two sets named 'site'; name them apart with NAME=PATH$"):
        parse_externals([first, second])
    assert [s.name for s in parse_externals([first, f"other={second}"])] == ["site", "other"]


@pytest.fixture(scope="module")
def external_run(tmp_path_factory):
    """A comparison of two arms over two seeds on 16 px images, with one external set (and the internal dataset as a second)."""
    root = tmp_path_factory.mktemp("external")
    data = make_folder_dataset(root / "xrays", {"covid": 12, "normal": 28}, size=16)
    site = make_folder_dataset(root / "site_b", {"covid": 6, "normal": 9}, size=24, seed=5)
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--compare", "--seeds", "2", "--arms", "class_weights",
                                      "--external", str(site), "--external", f"same={data}", "--out", str(root / "samples"), *TINY])
    assert result.exit_code == 0, result.output
    return {"root": root, "data": data, "site": site, "run_dir": next((root / "samples").iterdir()), "output": result.output}


def test_the_external_section_equals_xgan_evaluate_of_the_same_models(external_run, tmp_path):
    run_dir, site = external_run["run_dir"], external_run["site"]
    report = json.loads((run_dir / "report.json").read_text())
    external = report["external"]["site_b"]
    assert (external["num_images"], external["num_positive"], external["num_excluded_seen"]) == (15, 6, 0)
    for arm in ("baseline", "class_weights"):
        for k, seed in enumerate((0, 1)):
            out = tmp_path / f"{arm}{seed}"
            result = CliRunner().invoke(cli, ["evaluate", "--model", str(run_dir / "arms" / arm / f"seed{seed}"), "--data", str(site),
                                              "--out", str(out)])
            assert result.exit_code == 0, result.output
            evaluated = json.loads((out / "metrics.json").read_text())
            ours = external["arms"][arm]["runs"][k]
            assert ours["seed"] == seed
            for metric, value in ours["metrics"].items():
                assert value == evaluated[metric] or (math.isnan(value) and math.isnan(evaluated[metric])), (arm, seed, metric)
            assert ours["threshold"] == evaluated["decision_threshold"]["threshold"]
    comparison = external["comparisons"]["class_weights"]
    assert comparison["primary_verdict"] in ("better", "worse", "within noise", "undefined")
    internal_mean = report["arms"]["baseline"]["summary"]["balanced_accuracy"]["mean"]
    external_mean = external["arms"]["baseline"]["summary"]["balanced_accuracy"]["mean"]
    assert external["drop_from_internal"]["baseline"]["balanced_accuracy"] == pytest.approx(internal_mean - external_mean)
    markdown = (run_dir / "report.md").read_text()
    assert "## External test set `site_b`" in markdown and f"`{site}`" in markdown and "15 images (6 covid, 9 normal)" in markdown
    assert "| class_weights | baseline |" in markdown
    assert "external set site_b: 15 images (6 covid, 9 normal)" in external_run["output"]
    assert "## Where each model looks (Grad-CAM)" in markdown and "![Grad-CAM](gradcam.png)" in markdown
    gradcam = report["gradcam"]
    assert set(gradcam["arms"]) == {"baseline", "class_weights"} and (run_dir / "gradcam.png").stat().st_size > 1000
    assert all(0 <= data["border_share"]["mean"] <= 1 for data in gradcam["arms"].values())
    assert {film["label"] for film in gradcam["films"]} <= {"covid", "normal"} and gradcam["films"]
    options = json.loads((run_dir / "options.json").read_text())
    assert options["external"] == [f"site_b={site}", f"same={external_run['data']}"]


def test_the_images_the_models_trained_or_stopped_on_are_left_out_with_a_count(external_run):
    report = json.loads((external_run["run_dir"] / "report.json").read_text())
    same = report["external"]["same"]
    assert same["num_images"] == report["test_set"]["num_images"]  # the internal dataset less training and validation: its test split
    assert same["num_excluded_seen"] == 40 - same["num_images"]
    baseline = report["arms"]["baseline"]["runs"][0]["metrics"]
    assert same["arms"]["baseline"]["runs"][0]["metrics"]["roc_auc"] == pytest.approx(baseline["roc_auc"])


def test_an_external_class_the_models_do_not_know_is_refused_before_training(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 12, "normal": 28}, size=16)
    other = make_folder_dataset(tmp_path / "other", {"covid": 2, "pneumonia": 2}, size=16)
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--compare", "--seeds", "1", "--external", str(other),
                                      "--out", str(tmp_path / "samples"), *TINY])
    assert result.exit_code == 2
    assert result.output.strip() == (f"Error: --external other={other}: class 'pneumonia' is not one the model knows (covid, normal); "
                                     "name the class folders (or labels) as in the training data")
    assert not (tmp_path / "samples").exists()


def test_external_needs_a_comparison_or_seeds(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 12, "normal": 28}, size=16)
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--external", str(data), *TINY])
    assert result.exit_code == 2 and "--external scores a comparison (--compare) or a seed ensemble (--seeds N)" in result.output


def test_calibrate_stores_a_site_record_beside_the_validation_one(external_run, tmp_path):
    model = external_run["run_dir"] / "arms" / "baseline" / "seed0"
    config_before = (model / "config.json").read_text()
    slice_ = make_folder_dataset(tmp_path / "slice", {"covid": 5, "normal": 7}, size=24, seed=9)
    result = CliRunner().invoke(cli, ["calibrate", "--model", str(model), "--data", str(slice_), "--name", "site_b"])
    assert result.exit_code == 0, result.output
    assert "threshold record 'site_b':" in result.output and "on 12 image(s)" in result.output
    assert (model / "config.json").read_text() == config_before  # the original record is never touched
    record = json.loads((model / "thresholds" / "site_b.json").read_text())
    assert record["fitted_on"].endswith("(xgan calibrate)") and record["num_images"] == 12 and record["num_positive"] == 5
    again = CliRunner().invoke(cli, ["calibrate", "--model", str(model), "--data", str(slice_), "--name", "site_b"])
    assert again.exit_code == 2 and "a threshold record 'site_b' exists; choose another --name or pass --overwrite" in again.output
    reserved = CliRunner().invoke(cli, ["calibrate", "--model", str(model), "--data", str(slice_), "--name", "validation"])
    assert reserved.exit_code == 2 and "reserved" in reserved.output

    site = external_run["site"]
    plain = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(site), "--out", str(tmp_path / "plain")])
    assert plain.exit_code == 0 and "record 'validation'" in plain.output
    # The slice itself: left out when its own record is used, so the record is never scored on what it was fitted on.
    combined = tmp_path / "combined"
    shutil.copytree(slice_, combined)
    extra = make_folder_dataset(tmp_path / "extra", {"covid": 2, "normal": 2}, size=24, seed=11)
    for image in extra.glob("*/*.png"):
        shutil.copyfile(image, combined / image.parent.name / f"extra_{image.name}")
    used = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(combined), "--threshold-record", "site_b",
                                    "--out", str(tmp_path / "used")])
    assert used.exit_code == 0, used.output
    metrics = json.loads((tmp_path / "used" / "metrics.json").read_text())
    assert metrics["threshold_record"] == "site_b" and metrics["decision_threshold"]["threshold"] == record["threshold"]
    assert metrics["num_images"] == 4 and metrics["num_excluded_seen"] == 12
    assert f"threshold {record['threshold']:.3f} (record 'site_b'" in used.output
    predicted = CliRunner().invoke(cli, ["predict", "--model", str(model), "--threshold-record", "site_b", str(site / "covid" / "covid_000.png")])
    assert predicted.exit_code == 0 and f"(threshold {record['threshold']:.3f}, record site_b)" in predicted.output
    missing = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(site), "--threshold-record", "nowhere"])
    assert missing.exit_code == 2 and "has no such record (records: validation, site_b)" in missing.output


@pytest.mark.slow  # two more models (about 25 s on 2 busy CPU cores)
def test_a_seed_ensemble_scores_its_external_sets_too(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 12, "normal": 28}, size=16)
    site = make_folder_dataset(tmp_path / "site", {"covid": 4, "normal": 6}, size=16, seed=3)
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--seeds", "2", "--external", str(site),
                                      "--out", str(tmp_path / "samples"), *TINY])
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "samples").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    record = report["external"]["site"]
    assert [r["seed"] for r in record["runs"]] == [0, 1] and record["ensemble"]["num_models"] == 2
    assert "## External test set `site`" in (run_dir / "report.md").read_text()
