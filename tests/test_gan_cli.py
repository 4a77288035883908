"""`xgan train` and `xgan sample` through click: one-line errors with exit code 2, and a tiny real run."""

import pytest
from click.testing import CliRunner

from conftest import make_folder_dataset
from xgan.cli import cli


@pytest.fixture
def xrays(tmp_path):
    return make_folder_dataset(tmp_path / "xrays", {"covid": 12, "normal": 20})


@pytest.mark.parametrize("options, match", [
    (["--class", "cat"], "Expected one of covid, normal. Received: class_name='cat'"),
    (["--size", "48"], "Invalid value for '--size': '48' is not one of '32', '64', '128'."),
    (["--augment", "color"], "Received: augment='color' (unknown: color)"),
    (["--epochs", "0"], "Invalid value for '--epochs': 0 is not in the range x>=1."),
])
def test_train_errors_are_one_line_with_exit_code_2(xrays, tmp_path, options, match):
    result = CliRunner().invoke(cli, ["train", "--data", str(xrays), "--out", str(tmp_path / "runs"), *options])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and result.output.strip().count("\n") == 0
    assert match in result.output


@pytest.mark.parametrize("option, value", [("--size", "32"), ("--precision", "mixed")])
def test_resume_refuses_options_the_run_fixes(tmp_path, option, value):
    result = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path), option, value])
    assert result.exit_code == 2 and f"drop {option}" in result.output


def test_train_then_sample_then_refuse_to_overwrite(xrays, tmp_path):
    runner = CliRunner()
    runs = tmp_path / "runs"
    result = runner.invoke(cli, ["train", "--data", str(xrays), "--size", "32", "--width", "4", "--batch-size", "4",
                                 "--epochs", "1", "--out", str(runs)])
    assert result.exit_code == 0, result.output
    run_dir = runs / "00000-gan-covid"
    assert f"GAN run: {run_dir}" in result.output
    result = runner.invoke(cli, ["sample", "--run", str(run_dir), "--n", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert len(list((run_dir / "synthetic").glob("gen_s1_*.png"))) == 3
    result = runner.invoke(cli, ["sample", "--run", str(run_dir), "--n", "3"])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert str(run_dir / "synthetic") in result.output and "--overwrite" in result.output
