"""The CLI skeleton: --help, --version, info, and one-line errors with exit code 2."""

from click.testing import CliRunner

from xgan import __version__
from xgan.cli import cli

from conftest import make_folder_dataset


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_help_and_version():
    assert run("--help").exit_code == 0
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_info_prints_counts_minority_and_splits(patient_dataset):
    result = run("info", patient_dataset)
    assert result.exit_code == 0, result.output
    assert "covid       20" in result.output
    assert "minority  covid (imbalance 2.00:1)" in result.output
    assert "grouped by patient_id" in result.output
    for split in ("train", "val", "test"):
        assert f"  {split}" in result.output


def test_info_on_npz(npz_dataset):
    result = run("info", npz_dataset)
    assert result.exit_code == 0, result.output
    assert "minority  normal" in result.output


def test_info_on_bundled_data_does_not_rewrite_its_splits():
    from xgan.datasets.dataset import bundled_dataset_path

    splits = bundled_dataset_path() / "splits.json"
    before = splits.read_bytes()
    result = run("info")
    assert result.exit_code == 0, result.output
    assert splits.read_bytes() == before
    assert "covid       46" in result.output and "normal     590" in result.output


def test_user_error_is_one_line_with_exit_code_2(tmp_path):
    make_folder_dataset(tmp_path, {"only": 2})
    result = run("info", tmp_path)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"Error: {tmp_path}: found one class (only); expected at least two classes"]


def test_missing_path_is_a_usage_error():
    result = run("info", "does/not/exist")
    assert result.exit_code == 2
    assert "does/not/exist" in result.output and "Traceback" not in result.output


def test_info_cuts_the_minority_and_saves_the_cut_for_the_other_commands(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=16)
    result = run("info", data, "--minority-train", 4, "--seed", 3, "--splits", tmp_path / "cut.json")
    assert result.exit_code == 0, result.output
    assert "cut       4 of 10 training images of covid kept (seed 3); the rest excluded; val and test untouched" in result.output
    assert (tmp_path / "cut.json").is_file()
    again = run("info", data, "--splits", tmp_path / "cut.json")
    assert again.exit_code == 0 and "cut       4 of 10" in again.output


def test_info_accepts_a_bundled_name_and_refuses_an_unknown_one():
    assert "pneumonia" in run("info", "pneumoniamnist").output
    result = run("info", "no_such_data")
    assert result.exit_code == 2 and "not a bundled dataset (covid_ccby, pneumoniamnist)" in result.output
