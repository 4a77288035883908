"""`xgan run`: options, the report's pure parts, and a tiny study interrupted and resumed."""

import importlib
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from xgan.cli import cli
from xgan.errors import UserError
from xgan.study.report import rebase_links
from xgan.study.runner import MIN_SYNTHETIC, StudyConfig, plan_study, run_study
from xgan.study.report import interval_half_width, power_lines, verdict_lines

from conftest import make_folder_dataset


def replace_stage(monkeypatch, name: str, function) -> None:
    """Run `function` for the study stage `name`; every other stage as it is."""
    import dataclasses

    import xgan.study.runner as study

    monkeypatch.setattr(study, "STAGES", tuple(dataclasses.replace(stage, function=function) if stage.name == name else stage
                                               for stage in study.STAGES))


def test_presets_fill_the_epochs():
    quick, paper = StudyConfig(), StudyConfig(preset="paper")
    assert (quick.gan_epochs, quick.classifier_epochs) == (700, 12)
    assert (paper.gan_epochs, paper.classifier_epochs) == (1000, 50)
    assert StudyConfig(gan_epochs=7).gan_epochs == 7


@pytest.mark.parametrize("options, message", [
    ({"preset": "slow"}, r"argument `preset`. Expected one of \['paper', 'quick'\]. Received: preset='slow'"),
    ({"seeds": 0}, r"argument `seeds`. Expected a positive integer. Received: seeds=0"),
    ({"ratio": "two"}, r"two"),
    ({"strategy": "tpu"}, r"argument `strategy`. Expected one of default, mirrored, multi-worker \(option --strategy\). Received: strategy='tpu'"),
    ({"strategy": "multi-worker"}, r"^`xgan run` does not take --strategy multi-worker: a non-chief worker keeps no GAN to sample from.*"
                                   r"`xgan classify --strategy multi-worker --synthetic DIR`"),
    ({"precision": "float16"}, r"argument `precision`. Expected one of float32, mixed \(option --precision\). Received: precision='float16'"),
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
    assert "**GAN images helped** on ROC-AUC, the primary metric (the paired difference is beyond noise after Holm's adjustment)." in lines


def test_verdict_names_a_worse_gan_arm():
    lines = verdict_lines(_report(["worse", "within noise", "within noise", "within noise"]))
    assert "**GAN images hurt** balanced accuracy, the primary metric (the paired difference is beyond noise after Holm's adjustment)." in lines


def test_verdict_says_when_holm_turns_an_interval_into_noise():
    report = _report(["within noise"] * 4)
    report["comparisons"]["gan"].update(primary_verdict_unadjusted="better", holm={"family_size": 4})
    lines = verdict_lines(report)
    assert any(line.startswith("**Within noise.**") and line.endswith("(the 95% paired interval excludes zero, but not after Holm's "
                                                                      "adjustment for the report's 4 comparisons).") for line in lines)


def test_verdict_holds_the_best_gan_arm_against_the_best_other():
    report = _report(["within noise"] * 4)
    report["arms"]["gan_equal"] = report["arms"]["gan"]
    report["best_gan_vs_best_other"] = {"arm": "gan_equal", "reference": "oversample", "chosen_by": "validation ROC-AUC",
                                        "differences": {"balanced_accuracy": _interval(0.01), "roc_auc": _interval(-0.002)},
                                        "verdicts": {"balanced_accuracy": "within noise", "roc_auc": "within noise"}}
    lines = verdict_lines(report)
    assert ("**Best GAN arm against the best other arm**, each chosen by validation ROC-AUC (never on the test split): gan_equal "
            "against oversample: balanced accuracy +0.010 [-0.040, +0.060] (within noise); ROC-AUC -0.002 [-0.052, +0.048] "
            "(within noise).") in lines
    assert lines[-1] == "Target (the best GAN arm at least the best other arm on balanced accuracy and ROC-AUC): not reached."
    report["best_gan_vs_best_other"]["differences"]["roc_auc"] = _interval(0.0)
    assert verdict_lines(report)[-1].endswith("reached on the means, not shown beyond noise.")
    del report["arms"]["gan_equal"]  # one GAN arm: the gan verdict above says it all
    assert not any("Best GAN arm" in line for line in verdict_lines(report))


def test_verdict_without_a_gan_arm():
    lines = verdict_lines({"arms": {}, "comparisons": {}})
    assert lines[-1] == "The GAN arm did not run, so there is no verdict on GAN images."


def test_power_states_the_interval_half_width():
    report = _report(["within noise"] * 4)
    report["comparisons"]["oversample"]["differences"]["balanced_accuracy"] = _interval(0.0, half=0.02)
    report["comparisons"]["gan"]["differences"]["balanced_accuracy"] = _interval(0.1, half=0.08)
    report["comparisons"]["classic"] = {"differences": {"balanced_accuracy": _interval(0.0, half=0.05)}}
    assert interval_half_width(report) == pytest.approx(0.05)
    lines = power_lines(report)
    assert "- The test split holds 200 real images, 100 of them normal: one normal image moves sensitivity by 0.010." in lines
    assert any(line.startswith("- Interval half-width: the 95% paired intervals of balanced accuracy reach about ±0.050") for line in lines)
    assert not any("Minimum detectable effect" in line for line in lines)  # a report without `power` records states none
    report["comparisons"]["gan"]["power"] = {"minimum_detectable_effect": 0.0716, "minimum_detectable_effect_holm": 0.09}
    assert any("a true difference of about 0.072 in balanced accuracy is detected with 80% power" in line and "about 0.090" in line
               for line in power_lines(report))


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


def test_tiny_study_stops_on_a_failed_gan_then_resumes_after_any_interruption(tmp_path, monkeypatch):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    config = StudyConfig(data=str(data), size=32, num_synthetic=24, gan_epochs=2, classifier_epochs=1, seeds=1,
                         ratio="auto", out=str(tmp_path / "runs"), workers=1)  # stages replaced below run in this process
    import xgan.gan
    import xgan.study.runner as study

    monkeypatch.setattr(xgan.gan, "training_problems", lambda run: ["the generator has probably collapsed"], raising=False)
    with pytest.raises(UserError, match=r"failed: the generator has probably collapsed. The study stops before sampling from it.*"
                                        r"`xgan run --resume --accept-failed-gan --study .*00000-study-xrays`"):
        run_study(config)
    folder = tmp_path / "runs" / "00000-study-xrays"
    state = json.loads((folder / "study.json").read_text())
    assert list(state["stages"]) == ["data", "gan"]
    train = state["stages"]["data"]["train_counts"]
    assert state["stages"]["data"]["num_needed"] == train["normal"] - train["covid"] > 0  # ratio auto: up to the majority
    assert state["stages"]["data"]["num_synthetic"] == 24
    history = [p.read_text() for p in (folder / "gan").glob("*/history.json")]

    # A kill between the GAN's last checkpoint and the study marking the stage done: the finished GAN counts as done.
    del state["stages"]["gan"]
    (folder / "study.json").write_text(json.dumps(state))
    def interrupted(state, echo):
        raise KeyboardInterrupt

    real_stages = study.STAGES
    replace_stage(monkeypatch, "classify", interrupted)
    with pytest.raises(UserError, match=r"interrupted; resume with `xgan run --resume --study .*00000-study-xrays`"):
        run_study(resume=folder, accept_failed_gan=True)
    assert [p.read_text() for p in (folder / "gan").glob("*/history.json")] == history  # not retrained
    stages = json.loads((folder / "study.json").read_text())["stages"]
    assert list(stages) == ["data", "gan", "sample", "quality"]
    assert stages["gan"]["problems"] == ["the generator has probably collapsed"]

    monkeypatch.setattr(study, "STAGES", real_stages)
    result = CliRunner().invoke(cli, ["run", "--resume", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "[2/6] training the GAN on the minority training images: done earlier, kept" in result.output
    report = (folder / "report.md").read_text()
    for heading in ("## Data", "## GAN", "## Synthetic image quality", "## Verdict", "## Power", "## Caveats", "## Classifier comparison"):
        assert heading in report
    stages = json.loads((folder / "study.json").read_text())["stages"]
    assert list(stages) == ["data", "gan", "sample", "quality", "classify", "report"]
    saved = json.loads((folder / "report.json").read_text())
    assert set(saved["comparison"]["arms"]) >= {"baseline", "oversample", "class_weights", "gan"}
    assert saved["power"]["test_positives"] == saved["comparison"]["test_set"]["num_positive"] > 0

    again = CliRunner().invoke(cli, ["run", "--study", str(folder)])
    assert again.exit_code == 2 and "this study is finished" in again.output


def test_the_synthetic_count_comes_from_the_ratio_before_anything_trains(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    plan = plan_study(StudyConfig(data=str(data), ratio="0.5"))
    train = plan.train_counts
    assert plan.class_name == "covid" and plan.target["covid"] == math.floor(train["normal"] * 0.5 + 0.5)
    assert plan.num_needed == plan.target["covid"] - train["covid"] and plan.num_synthetic == MIN_SYNTHETIC
    cut = plan_study(StudyConfig(data=str(data), ratio="auto"), minority_train=4)
    assert cut.train_counts["covid"] == 4 and cut.num_needed == train["normal"] - 4
    assert plan_study(StudyConfig(data=str(data), ratio="auto", num_synthetic=500), 4).num_synthetic == 500


@pytest.mark.parametrize("options, message", [
    (["--ratio", "auto", "--num-synthetic", "3"], r"Expected at least the \d+ synthetic images that ratio auto needs"),
    (["--minority-train", "999"], r"Expected at most the \d+ training images of class 'covid'. Received: minority_train=999"),
    (["--ratio", "0.5", "--class", "normal"], r"the ratio '0.5' adds images to class\(es\) covid, but the study's GAN learns class 'normal'"),
    (["--strategy", "multi-worker"], r"does not take --strategy multi-worker.*run `xgan train --strategy multi-worker`"),
])
def test_run_refuses_impossible_options_before_making_a_folder(tmp_path, options, message):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    result = CliRunner().invoke(cli, ["run", "--data", str(data), "--out", str(tmp_path / "out"), *options])
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output), result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "60,x", "60,60", "-5"])
def test_run_refuses_a_bad_minority_list(tmp_path, value):
    result = CliRunner().invoke(cli, ["run", "--minority-train", value, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--minority-train" in result.output and "Traceback" not in result.output


def test_the_strategy_and_precision_reach_the_gan_and_the_classifier_and_survive_resume(tmp_path, monkeypatch):
    import xgan.gan

    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    config = StudyConfig(data=str(data), size=32, num_synthetic=24, gan_epochs=2, classifier_epochs=1, seeds=1, ratio="auto",
                         quality=False, out=str(tmp_path / "runs"), strategy="mirrored", precision="mixed")

    def interrupted(state, echo):
        raise KeyboardInterrupt

    replace_stage(monkeypatch, "gan", interrupted)
    with pytest.raises(UserError, match="interrupted; resume with"):
        run_study(config)
    folder = tmp_path / "runs" / "00000-study-xrays"
    saved = json.loads((folder / "study.json").read_text())["config"]
    assert (saved["strategy"], saved["precision"]) == ("mirrored", "mixed")
    monkeypatch.undo()

    seen = {}

    def train_gan(config, callbacks=()):
        seen["gan"] = config
        return Path(config.out) / "00000-gan-covid"

    def classify(config, resume=None):  # the study passes the classify run it resumes, if any
        seen["classify"] = config
        return SimpleNamespace(summary="", run_dir=config.out, seconds=0.0)

    monkeypatch.setattr(xgan.gan, "train_gan", train_gan)
    # xgan.classifier's `classify` attribute is the function: the module is reached through sys.modules
    monkeypatch.setattr(importlib.import_module("xgan.classifier.classify"), "classify", classify)
    replace_stage(monkeypatch, "sample", lambda state, echo: state.finish("sample", folder=str(folder / "synthetic")))
    replace_stage(monkeypatch, "report", lambda state, echo: state.finish("report"))
    refused = CliRunner().invoke(cli, ["run", "--resume", "--strategy", "default", "--out", str(tmp_path / "runs")])
    assert refused.exit_code == 2 and "drop --strategy" in refused.output
    refused = CliRunner().invoke(cli, ["run", "--resume", "--precision", "float32", "--out", str(tmp_path / "runs")])
    assert refused.exit_code == 2 and "drop --precision" in refused.output
    result = CliRunner().invoke(cli, ["run", "--resume", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert seen["gan"].strategy == seen["classify"].strategy == "mirrored"
    assert seen["gan"].precision == seen["classify"].precision == "mixed"


def test_a_study_json_from_before_the_strategy_and_precision_loads_as_one_float32_device(tmp_path):
    from xgan.study.runner import STUDY_FILE, StudyState

    StudyState(tmp_path, StudyConfig(data="covid_ccby", seeds=2), {"data": {}}).save()
    saved = json.loads((tmp_path / STUDY_FILE).read_text())
    del saved["config"]["strategy"], saved["config"]["precision"]
    (tmp_path / STUDY_FILE).write_text(json.dumps(saved))
    state = StudyState.load(tmp_path)
    assert (state.config.strategy, state.config.precision, state.config.seeds, state.stages) == ("default", "float32", 2, {"data": {}})


def test_a_strategy_whose_replicas_cannot_share_the_batches_is_refused_before_making_a_folder(tmp_path, monkeypatch):
    import xgan.runtime.distribute

    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    monkeypatch.setattr(xgan.runtime.distribute, "make_strategy", lambda name: SimpleNamespace(num_replicas_in_sync=3))
    with pytest.raises(UserError, match=r"^--strategy mirrored: the study's global batch sizes \(GAN 32, classifier 40\) must be "
                                        r"multiples of its 3 replicas"):
        run_study(StudyConfig(data=str(data), out=str(tmp_path / "runs"), strategy="mirrored"))
    assert not (tmp_path / "runs").exists()


def test_default_study_is_pneumoniamnist_with_the_minority_cut():
    config = StudyConfig()
    assert (config.data, config.minority_train, config.size) == ("pneumoniamnist", (120,), None)
    plan = plan_study(config, 120)
    assert plan.class_name == "normal" and plan.train_counts["normal"] == 120 and plan.size == 32
    assert plan.num_synthetic == plan.num_needed == plan.target["normal"] - 120
    test_normals = plan.dataset.class_counts(set(plan.base_splits.keys("test")))["normal"]
    assert test_normals >= 100
    assert StudyConfig(data="covid_ccby").minority_train is None
    assert StudyConfig(minority_train=[60, 120]).is_sweep


@pytest.mark.slow  # a conditional GAN, sampling of both classes and nine classifier arms
def test_conditional_study_samples_every_class_and_compares_every_gan_arm(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    result = CliRunner().invoke(cli, ["run", "--data", str(data), "--conditional", "--size", "32", "--gan-epochs", "2",
                                      "--classifier-epochs", "1", "--seeds", "1", "--ratio", "auto", "--no-quality",
                                      "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "00000-study-xrays"
    stages = json.loads((folder / "study.json").read_text())["stages"]
    run = json.loads((Path(stages["gan"]["run"]) / "config.json").read_text())
    assert run["conditional"] is True and run["class_names"] == ["covid", "normal"]
    train = stages["data"]["train_counts"]
    # auto at an equal share of 0.5: both classes end at 2 x the majority, half of each synthetic, drawn twice over for
    # gan_curated's choice; the minority also gets at least what the one-class study samples
    assert stages["sample"]["num_images_per_class"] == {"covid": max(2 * train["normal"], stages["data"]["num_synthetic"]),
                                                        "normal": 2 * train["normal"]}
    # the one-class GAN's step count: 2 epochs of the minority's images (one step each at batch 32)
    assert run["num_epochs"] * run["steps_per_epoch"] == 2 * max(1, train["covid"] // 32)
    assert {name: Path(folder).name for name, folder in stages["sample"]["folders"].items()} == {"covid": "covid", "normal": "normal"}
    saved = json.loads((folder / "report.json").read_text())
    assert list(saved["comparison"]["arms"]) == ["baseline", "classic", "oversample", "class_weights", "gan", "gan_capped",
                                                 "gan_equal", "gan_finetune", "gan_class_weights", "gan_curated"]
    report = (folder / "report.md").read_text()
    assert "**Best GAN arm against the best other arm**" in report and "synthetic covid images sampled into" in report
    assert set(saved["comparison"]["arms"]["gan_equal"]["synthetic_vs_real"]) == {"covid", "normal"}


@pytest.mark.parametrize("cause, interrupted", [(KeyboardInterrupt(), True), (OSError("libfoo.so"), False)])
def test_ctrl_c_during_a_lazy_import_is_an_interruption(tmp_path, monkeypatch, cause, interrupted):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    config = StudyConfig(data=str(data), size=32, num_synthetic=24, gan_epochs=2, classifier_epochs=1, seeds=1, ratio="auto",
                         quality=False, out=str(tmp_path / "runs"), workers=1)

    def import_fails(state, echo):  # what Ctrl-C while SciPy's C extension initialises raises
        raise ImportError("initialization failed") from cause

    replace_stage(monkeypatch, "gan", import_fails)
    if interrupted:
        with pytest.raises(UserError, match=r"interrupted; resume with `xgan run --resume --study .*00000-study-xrays`"):
            run_study(config)
    else:  # a real import failure stays one
        with pytest.raises(ImportError, match="initialization failed"):
            run_study(config)


def test_external_sets_are_kept_in_study_json_and_reach_the_classifier_on_resume(tmp_path, monkeypatch):
    import xgan.gan

    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    site = make_folder_dataset(tmp_path / "site_b", {"covid": 3, "normal": 3}, size=32, seed=4)
    unknown = make_folder_dataset(tmp_path / "other", {"covid": 3, "pneumonia": 3}, size=32, seed=4)
    with pytest.raises(UserError, match=r"^--external other=.*: class 'pneumonia' is not one the model knows \(covid, normal\)"):
        run_study(StudyConfig(data=str(data), external=(str(unknown),), out=str(tmp_path / "refused")))
    assert not (tmp_path / "refused").exists()
    config = StudyConfig(data=str(data), size=32, num_synthetic=24, gan_epochs=2, classifier_epochs=1, seeds=1, ratio="auto",
                         quality=False, out=str(tmp_path / "runs"), external=(str(site),), workers=1)

    def interrupted(state, echo):
        raise KeyboardInterrupt

    replace_stage(monkeypatch, "gan", interrupted)
    with pytest.raises(UserError, match="interrupted; resume with"):
        run_study(config)
    folder = tmp_path / "runs" / "00000-study-xrays"
    assert json.loads((folder / "study.json").read_text())["config"]["external"] == [f"site_b={site}"]
    monkeypatch.undo()
    seen = {}

    def classify(config, resume=None):  # the study passes the classify run it resumes, if any
        seen["classify"] = config
        return SimpleNamespace(summary="", run_dir=config.out, seconds=0.0)

    monkeypatch.setattr(xgan.gan, "train_gan", lambda config, callbacks=(): Path(config.out) / "00000-gan-covid")
    monkeypatch.setattr(importlib.import_module("xgan.classifier.classify"), "classify", classify)
    replace_stage(monkeypatch, "sample", lambda state, echo: state.finish("sample", folder=str(folder / "synthetic")))
    replace_stage(monkeypatch, "report", lambda state, echo: state.finish("report"))
    refused = CliRunner().invoke(cli, ["run", "--resume", "--external", str(site), "--out", str(tmp_path / "runs")])
    assert refused.exit_code == 2 and "drop --external" in refused.output
    result = CliRunner().invoke(cli, ["run", "--resume", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert [str(spec) for spec in seen["classify"].external] == [f"site_b={site}"]


def test_the_study_verdict_has_a_table_per_external_set():
    from xgan.study.report import external_verdict_lines

    interval = {"difference": -0.1, "low": -0.2, "high": -0.01}
    report = {"primary_metric": "balanced_accuracy", "comparisons": {"gan": {"primary_verdict": "within noise"}},
              "external": {"cohen": {"num_images": 214, "source": "samples/external",
                                     "arms": {"baseline": {"summary": {"balanced_accuracy": {"mean": 0.5, "std": 0.01}}},
                                              "gan": {"summary": {"balanced_accuracy": {"mean": 0.4, "std": 0.02}}}},
                                     "drop_from_internal": {"baseline": {"balanced_accuracy": 0.45}, "gan": {"balanced_accuracy": 0.55}},
                                     "comparisons": {"gan": {"differences": {"balanced_accuracy": interval}, "primary_verdict": "worse"}}}}}
    lines = external_verdict_lines(report)
    assert lines[0] == "### On the external test set `cohen` (214 images of `samples/external`)"
    assert "| baseline | 0.500 ± 0.010 | +0.450 |  |  |  |" in lines
    assert "| gan | 0.400 ± 0.020 | +0.550 | -0.100 [-0.200, -0.010] | worse | within noise |" in lines


@pytest.mark.slow  # a whole tiny study, interrupted before the classifiers and resumed (about a minute on 2 busy CPU cores)
def test_a_study_with_an_external_set_resumes_with_it_and_reports_it_as_evaluate_scores_it(tmp_path, monkeypatch):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    site = make_folder_dataset(tmp_path / "site_b", {"covid": 4, "normal": 6}, size=32, seed=8)

    def interrupted(state, echo):
        raise KeyboardInterrupt

    replace_stage(monkeypatch, "classify", interrupted)
    result = CliRunner().invoke(cli, ["run", "--data", str(data), "--size", "32", "--num-synthetic", "24", "--gan-epochs", "2",
                                      "--classifier-epochs", "1", "--seeds", "1", "--ratio", "auto", "--no-quality",
                                      "--external", str(site), "--workers", "1", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "interrupted; resume with" in result.output
    monkeypatch.undo()
    result = CliRunner().invoke(cli, ["run", "--resume", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "00000-study-xrays"
    report = (folder / "report.md").read_text()
    assert "### On the external test set `site_b` (10 images of" in report and "## External test set `site_b`" in report
    comparison = json.loads((folder / "report.json").read_text())["comparison"]
    gan = comparison["external"]["site_b"]["arms"]["gan"]["runs"][0]
    model = Path(json.loads((folder / "study.json").read_text())["stages"]["classify"]["folder"]) / "arms" / "gan" / "seed0"
    evaluated = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(site), "--out", str(tmp_path / "eval")])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert {m: gan["metrics"][m] for m in ("accuracy", "sensitivity", "specificity")} == {m: metrics[m] for m in ("accuracy", "sensitivity", "specificity")}


def test_every_stage_is_one_record_with_its_title_and_function():
    from xgan.study.stages import STAGES

    assert [stage.name for stage in STAGES] == ["data", "gan", "sample", "quality", "classify", "report"]
    assert all(stage.title and callable(stage.function) for stage in STAGES)
    gan = STAGES[1]
    assert gan.heading(StudyConfig()) == "training the GAN on the minority training images"
    assert gan.heading(StudyConfig(conditional=True)) == "training one class-conditional GAN on every class's training images"
    assert [stage.name for stage in STAGES if not stage.enabled(StudyConfig(quality=False))] == ["quality"]


@pytest.mark.slow
def test_stages_side_by_side_write_what_one_after_another_writes(tmp_path):
    """--workers 2: the GAN and its sampling in one worker while the arms that need no synthetic images train in the
    other, then quality and the GAN arm: the same folders, files and study.json stages as --workers 1, each stage
    with its seconds, and the same predictions for the arms that do not use the GAN's images."""
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    folders, outputs = {}, {}
    for workers in (1, 2):
        out = tmp_path / f"workers{workers}"
        result = CliRunner().invoke(cli, ["run", "--data", str(data), "--size", "32", "--num-synthetic", "24", "--gan-epochs", "2",
                                          "--classifier-epochs", "1", "--seeds", "2", "--ratio", "auto", "--workers", str(workers),
                                          "--out", str(out)])
        assert result.exit_code == 0, result.output
        (folders[workers],) = out.iterdir()
        outputs[workers] = result.output
    assert "[2-5/6] side by side in 2 worker processes of 1 thread(s)" in outputs[2]
    assert "side by side" not in outputs[1]

    def files(folder):
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "tensorboard" not in p.parts)

    assert files(folders[2]) == files(folders[1])
    stages = {workers: json.loads((folders[workers] / "study.json").read_text())["stages"] for workers in (1, 2)}
    assert list(stages[2]) == list(stages[1]) == ["data", "gan", "sample", "quality", "classify", "report"]
    assert all("seconds" in stage for stage in stages[2].values())
    # The arms without synthetic images: the same images, labels and probabilities up to rounding. A worker trains on one
    # thread, stage by stage on two: oneDNN splits some sums by thread, so a probability may move in its 6th decimal
    # (0.501903 against 0.501904 seen here). The GAN's images may differ at rounding level for the same reason.
    for path in files(folders[1]):
        if path.endswith("predictions.csv") and "/gan" not in path:
            side, alone = ([line.split(",") for line in (folder / path).read_text().splitlines()] for folder in (folders[2], folders[1]))
            assert [row[:2] for row in side] == [row[:2] for row in alone], path
            assert np.allclose(np.array([row[2:] for row in side[1:]], float), np.array([row[2:] for row in alone[1:]], float),
                               atol=1e-4), path


@pytest.mark.slow  # four tiny studies
def test_a_sweep_side_by_side_gives_what_its_studies_give_one_after_another_on_one_thread(tmp_path):
    """--workers 2: the sweep's studies run side by side, one per worker of one thread, each its stages one after
    another; the same sweep one study after another in a process of one thread gives the same table to the bit."""
    import os
    import subprocess
    import sys

    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    tables = {}
    for workers in (2, 1):
        out = tmp_path / f"workers{workers}"
        command = [sys.executable, "-m", "xgan.cli", "run", "--data", str(data), "--size", "32", "--minority-train", "4,6",
                   "--num-synthetic", "24", "--gan-epochs", "2", "--classifier-epochs", "1", "--seeds", "1", "--ratio", "auto",
                   "--no-quality", "--workers", str(workers), "--out", str(out)]
        one_thread = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"} if workers == 1 else {}
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "CUDA_VISIBLE_DEVICES": "", **one_thread})
        assert done.returncode == 0, done.stdout + done.stderr
        if workers == 2:
            assert "2 studies side by side in 2 worker processes of 1 thread(s)" in done.stdout + done.stderr
        (sweep,) = out.glob("*-sweep-*")
        assert sorted(path.name for path in (sweep / "studies").iterdir()) == [
            "00000-study-xrays-minority4", "00001-study-xrays-minority6"]
        tables[workers] = {key: value for key, value in json.loads((sweep / "sweep.json").read_text()).items() if key != "studies"}
    assert tables[2] == tables[1]
