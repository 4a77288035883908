"""`xgan run`: options, the report's pure parts, and a tiny study interrupted and resumed."""

import json

import pytest
from click.testing import CliRunner

from xgan.cli import cli
from xgan.errors import UserError
from xgan.study import StudyConfig, rebase_links, run_study
from xgan.study_report import detectable_difference, power_lines, verdict_lines

from conftest import make_folder_dataset


def test_presets_fill_the_epochs():
    quick, paper = StudyConfig(), StudyConfig(preset="paper")
    assert (quick.gan_epochs, quick.classifier_epochs) == (700, 12)
    assert (paper.gan_epochs, paper.classifier_epochs) == (1000, 50)
    assert StudyConfig(gan_epochs=7).gan_epochs == 7


@pytest.mark.parametrize("options, message", [
    ({"preset": "slow"}, r"argument `preset`. Expected one of \['paper', 'quick'\]. Received: preset='slow'"),
    ({"seeds": 0}, r"argument `seeds`. Expected a positive integer. Received: seeds=0"),
    ({"ratio": "two"}, r"two"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(UserError, match=message):
        StudyConfig(**options)


def test_rebase_links_prefixes_relative_targets_only():
    markdown = "![roc](roc.png) [q](sub/q.md) [web](https://x.org/a.png) [top](#results)"
    assert rebase_links(markdown, "classify/00000-compare/") == (
        "![roc](classify/00000-compare/roc.png) [q](classify/00000-compare/sub/q.md) "
        "[web](https://x.org/a.png) [top](#results)")


def _interval(difference, half=0.05):
    return {"difference": difference, "low": difference - half, "high": difference + half}


def _report(verdicts, gan_mean=0.8, oversample_mean=0.7):
    metrics = ("balanced_accuracy", "roc_auc", "sensitivity", "specificity")
    summary = lambda mean: {m: {"mean": mean, "std": 0.01} for m in metrics}
    comparison = lambda difference, arm_verdicts: {"verdicts": dict(zip(metrics, arm_verdicts)),
                                                   "differences": {m: _interval(difference) for m in metrics}}
    return {"arms": {"baseline": {"summary": summary(0.7)}, "oversample": {"summary": summary(oversample_mean)},
                     "gan": {"summary": summary(gan_mean)}},
            "comparisons": {"oversample": comparison(0.0, ["within noise"] * 4), "gan": comparison(0.1, verdicts)},
            "test_set": {"num_images": 200, "num_positive": 100}, "positive_class": "normal"}


def test_verdict_declares_the_primary_metric_and_a_row_per_arm():
    lines = verdict_lines(_report(["within noise"] * 4))
    assert lines[0] == ("Primary metric: **balanced accuracy** on the real test split; ROC-AUC, sensitivity, specificity "
                        "are secondary (reported, not used for the verdict).")
    assert "| baseline | 0.700 ± 0.010 | | | |" in lines
    assert "| gan | 0.800 ± 0.010 | +0.100 [+0.050, +0.150] | within noise | +0.100 [+0.050, +0.150] within noise |" in lines
    assert any(line.startswith("| oversample | 0.700 ± 0.010 | +0.000 [-0.050, +0.050] | within noise") for line in lines)


def test_verdict_says_within_noise_when_the_primary_interval_includes_zero():
    lines = verdict_lines(_report(["within noise", "better", "within noise", "worse"]))
    assert any(line.startswith("**Within noise.**") and "balanced accuracy, the primary metric" in line for line in lines)
    assert "Secondary metrics whose interval excludes zero (not the verdict): ROC-AUC better, specificity worse." in lines
    assert any("balanced accuracy 0.800 vs 0.700" in line for line in lines)


def test_verdict_rests_on_the_declared_primary_metric():
    report = _report(["within noise", "better", "within noise", "within noise"])
    report["primary_metric"] = "roc_auc"
    lines = verdict_lines(report)
    assert lines[0].startswith("Primary metric: **ROC-AUC**")
    assert "**GAN images helped** on ROC-AUC, the primary metric (the 95% interval of the paired difference excludes zero)." in lines


def test_verdict_names_a_worse_gan_arm():
    lines = verdict_lines(_report(["worse", "within noise", "within noise", "within noise"]))
    assert "**GAN images hurt** balanced accuracy, the primary metric (the 95% interval of the paired difference excludes zero)." in lines


def test_verdict_without_a_gan_arm():
    lines = verdict_lines({"arms": {}, "comparisons": {}})
    assert lines[-1] == "The GAN arm did not run, so there is no verdict on GAN images."


def test_power_states_the_detectable_difference():
    report = _report(["within noise"] * 4)
    report["comparisons"]["oversample"]["differences"]["balanced_accuracy"] = _interval(0.0, half=0.02)
    report["comparisons"]["gan"]["differences"]["balanced_accuracy"] = _interval(0.1, half=0.08)
    report["comparisons"]["classic"] = {"differences": {"balanced_accuracy": _interval(0.0, half=0.05)}}
    assert detectable_difference(report) == pytest.approx(0.05)
    lines = power_lines(report)
    assert "- The test split holds 200 real images, 100 of them normal: one normal image moves sensitivity by 0.010." in lines
    assert any("about ±0.050 wide" in line for line in lines)


def test_run_refuses_bad_data_before_making_a_folder(tmp_path):
    make_folder_dataset(tmp_path / "one", {"covid": 3})
    result = CliRunner().invoke(cli, ["run", "--data", str(tmp_path / "one"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "expected at least two classes" in result.output
    assert not (tmp_path / "out").exists()


def test_resume_without_a_study_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["run", "--resume", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {tmp_path}: no study to resume; start one with `xgan run`"


def test_tiny_study_interrupted_then_resumed(tmp_path, monkeypatch):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    config = StudyConfig(data=str(data), size=32, num_synthetic=24, gan_epochs=2, classifier_epochs=1, seeds=1,
                         ratio="auto", out=str(tmp_path / "runs"))
    import xgan.study as study

    real_classify = study.STAGE_FUNCTIONS["classify"]

    def interrupted(state):
        raise KeyboardInterrupt

    monkeypatch.setitem(study.STAGE_FUNCTIONS, "classify", interrupted)
    with pytest.raises(UserError, match=r"interrupted; resume with `xgan run --resume .*00000-study-xrays`"):
        run_study(config)
    folder = tmp_path / "runs" / "00000-study-xrays"
    stages = json.loads((folder / "study.json").read_text())["stages"]
    assert list(stages) == ["data", "gan", "sample", "quality"]

    monkeypatch.setitem(study.STAGE_FUNCTIONS, "classify", real_classify)
    gan_history = (folder / "gan").glob("*/history.json")
    before = [p.read_text() for p in gan_history]
    result = CliRunner().invoke(cli, ["run", "--resume", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert [p.read_text() for p in (folder / "gan").glob("*/history.json")] == before  # the GAN was not retrained
    report = (folder / "report.md").read_text()
    for heading in ("## Data", "## GAN", "## Synthetic image quality", "## Verdict", "## Caveats", "## Classifier comparison"):
        assert heading in report
    stages = json.loads((folder / "study.json").read_text())["stages"]
    assert list(stages) == ["data", "gan", "sample", "quality", "classify", "report"]
    comparison = json.loads((folder / "report.json").read_text())["comparison"]
    assert set(comparison["arms"]) >= {"baseline", "oversample", "class_weights", "gan"}

    again = CliRunner().invoke(cli, ["run", "--study", str(folder)])
    assert again.exit_code == 2 and "this study is finished" in again.output
