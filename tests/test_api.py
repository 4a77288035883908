"""The Python API on the `xgan` package: its surface, what it refuses, its result objects, and the README's example."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import xgan
from xgan.api import Comparison, StudyResult
from xgan.errors import UserError
from xgan.runs import write_json

README = Path(__file__).resolve().parent.parent / "README.md"
FUNCTIONS = ["build_training_set", "classify", "compare", "evaluate", "load_dataset", "measure_quality", "predict", "run_study",
             "sample", "train_gan"]
CONFIGS = ["BalanceConfig", "ClassifyConfig", "GanConfig", "QualityConfig", "StudyConfig"]


def readme_example() -> str:
    """The Python code block of the README's "From Python" section."""
    section = README.read_text().split("## From Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1
    return blocks[0]


def test_import_xgan_and_read_every_config_without_tensorflow():
    code = ("import sys, xgan\n"
            f"for name in {CONFIGS + FUNCTIONS + ['Comparison', 'GanRun', 'StudyResult']}:\n"
            "    getattr(xgan, name)\n"
            "xgan.GanConfig(epochs=1); xgan.StudyConfig()\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_the_surface_is_documented_and_complete():
    assert set(FUNCTIONS + CONFIGS) <= set(xgan.__all__) <= set(dir(xgan))
    for name in FUNCTIONS:
        function = getattr(xgan, name)
        assert callable(function) and function.__doc__ and function.__doc__.strip().splitlines()[0].endswith(".")
        assert f"{name}(" in xgan.__doc__, name
    assert xgan.GanConfig is __import__("xgan.gan.config", fromlist=["GanConfig"]).GanConfig


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'xgan' has no attribute 'train'"):
        xgan.train


def test_the_readme_example_uses_the_public_surface_only():
    tree = ast.parse(readme_example())
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "xgan"}
    assert used and used <= set(xgan.__all__)


def test_compare_refuses_a_config_without_compare():
    with pytest.raises(UserError, match=r"`compare`\. Expected True in the ClassifyConfig of compare .* Received: compare=False$"):
        xgan.compare(xgan.ClassifyConfig())


def test_train_gan_refuses_a_negative_kid_interval():
    with pytest.raises(UserError, match=r"`kid_every`\. Expected a non-negative integer\. Received: kid_every=-1"):
        xgan.train_gan(xgan.GanConfig(epochs=1), kid_every=-1)


def test_build_training_set_writes_the_manifest_and_returns_its_rows(folder_dataset, tmp_path):
    out = tmp_path / "balanced.csv"
    result = xgan.build_training_set(xgan.BalanceConfig(data=folder_dataset, method="oversample", ratio="auto", out=out))
    assert result.written and result.out == out and out.is_file()
    counts = {}
    for row in result.rows:
        counts[row.label] = counts.get(row.label, 0) + 1
    assert counts == result.target and counts["covid"] == counts["normal"]


def test_load_dataset_is_the_datasets_loader(folder_dataset):
    dataset = xgan.load_dataset(folder_dataset, size=32)
    assert dataset.class_counts() == {"covid": 12, "normal": 28}
    assert dataset.images.shape == (40, 32, 32)


def _report() -> dict:
    interval = {"difference": -0.02, "low": -0.05, "high": 0.01}
    summary = {"balanced_accuracy": {"mean": 0.9, "std": 0.01}, "roc_auc": {"mean": 0.95, "std": 0.0}}
    return {"primary_metric": "balanced_accuracy", "baseline": "baseline",
            "arms": {"baseline": {"summary": summary}, "gan": {"summary": {**summary, "balanced_accuracy": {"mean": 0.88, "std": 0.02}}}},
            "comparisons": {"gan": {"differences": {"balanced_accuracy": interval, "roc_auc": interval},
                                    "verdicts": {"balanced_accuracy": "within noise", "roc_auc": "within noise"},
                                    "primary_verdict": "within noise"}}}


def test_a_comparison_reads_scores_differences_and_verdicts_from_its_report(tmp_path):
    write_json(tmp_path / "report.json", _report())
    comparison = Comparison.from_folder(tmp_path)
    assert comparison.arms == ["baseline", "gan"]
    assert comparison.scores() == {"baseline": 0.9, "gan": 0.88}
    assert comparison.scores("roc_auc") == {"baseline": 0.95, "gan": 0.95}
    assert comparison.differences == {"gan": {"difference": -0.02, "low": -0.05, "high": 0.01}}
    assert comparison.verdicts == {"gan": "within noise"}
    assert "**Within noise.**" in comparison.verdict and comparison.report_file == tmp_path / "report.md"
    with pytest.raises(UserError, match=r"`metric`\. Expected one of balanced_accuracy, roc_auc\. Received: metric='f2'$"):
        comparison.scores("f2")


def test_a_study_result_reads_its_comparison_and_refuses_an_unfinished_study(tmp_path):
    classify_folder = tmp_path / "study" / "classify" / "00000-classify-compare"
    write_json(classify_folder / "report.json", _report())
    stages = {"classify": {"folder": str(classify_folder)}}
    write_json(tmp_path / "study" / "study.json", {"config": {}, "stages": stages})
    with pytest.raises(UserError, match=r"`folder`\. Expected a finished study \(resume this one with `xgan run --resume"):
        StudyResult.from_folder(tmp_path / "study")
    stages["report"] = {"file": str(tmp_path / "study" / "report.md")}
    write_json(tmp_path / "study" / "study.json", {"config": {}, "stages": stages})
    result = StudyResult.from_folder(tmp_path / "study")
    assert result.report_file == tmp_path / "study" / "report.md" and result.studies == {}
    assert result.comparison.verdicts == {"gan": "within noise"}


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = {}
    exec(compile(readme_example(), str(README), "exec"), names)
    gan, synthetic, comparison = names["gan"], names["synthetic"], names["comparison"]
    assert gan.folder == Path("runs/00000-gan-covid") and len(gan.history) == 3 and gan.losses_figure.is_file()
    assert synthetic.path == gan.folder / "synthetic" and len(synthetic.images) == 40
    assert comparison.folder == Path("runs/00001-classify-compare") and comparison.report_file.is_file()
    assert comparison.arms == ["baseline", "gan"] and set(comparison.verdicts) == {"gan"}
    assert comparison.verdicts["gan"] in ("better", "worse", "within noise")
    assert comparison.verdict.startswith("Primary metric: **balanced accuracy**")
    # The commands' other two functions, on the example's models.
    model = comparison.folder / "arms" / "baseline" / "seed0"
    evaluated = xgan.evaluate(model, "covid_ccby", "evaluated")
    assert evaluated.out == Path("evaluated") and (evaluated.out / "metrics.json").is_file()
    assert 0 <= evaluated.metrics["balanced_accuracy"] <= 1 and evaluated.num_excluded > 0
    images = sorted(synthetic.path.glob("*.png"))[:2]
    predictions = xgan.predict(model, images)
    assert [p.path for p in predictions] == images and {p.predicted_class for p in predictions} <= {"covid", "normal"}
