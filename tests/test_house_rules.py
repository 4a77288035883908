"""House rules checked on the source: one home for run-folder file names, no pyplot, one argument-check helper."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for p in ROOT.rglob("*.py")
                 if not {"tests", "benchmarks", "tools", "build", ".git"} & set(p.relative_to(ROOT).parts))


def sources_containing(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return sorted(str(p.relative_to(ROOT)) for p in SOURCES if regex.search(p.read_text()))


def test_the_walk_sees_the_package():
    names = {str(p.relative_to(ROOT)) for p in SOURCES}
    assert {"runs.py", "cli.py", "gan/train.py", "balance/synthetic.py", "quality/inputs.py"} <= names


@pytest.mark.parametrize("pattern", [
    re.escape("training_keys.json"),  # the GAN run's training keys
    r'"checkpoint_step",\s*"seed",\s*"index"',  # the synthetic manifest's column list
    r"def read_synthetic_folder\b",
])
def test_run_folder_names_readers_and_columns_live_in_runs_py_only(pattern):
    assert sources_containing(pattern) == ["runs.py"]


def test_figures_never_go_through_pyplot_or_switch_the_backend():
    assert sources_containing(r"matplotlib\.pyplot|matplotlib\.use\(|import pyplot") == []


def test_one_argument_check_helper():
    assert sources_containing(r"def _invalid\b") == []
    assert sources_containing(r"def invalid_argument\b") == ["errors.py"]
