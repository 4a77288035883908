"""The training manifest file, class weights and the printed summary."""

from pathlib import Path

import pytest

from xgan.balance import TrainingRow, class_weights, read_training_manifest, summarize, write_training_manifest
from xgan.errors import UserError

HEADER = "path,key,label,origin,run,seed\n"


def rows_for(tmp_path: Path) -> list[TrainingRow]:
    data, run = tmp_path / "data", tmp_path / "runs" / "00000-gan-covid"
    (run / "synthetic").mkdir(parents=True)
    (run / "synthetic" / "covid_00003.png").write_bytes(b"png")
    return [
        TrainingRow(data / "covid" / "a.png", "covid/a.png", "covid", "real"),
        TrainingRow(None, "train/17", "normal", "real"),
        TrainingRow(data / "covid" / "a.png", "covid/a.png", "covid", "oversampled"),
        TrainingRow(run / "synthetic" / "covid_00003.png", None, "covid", "synthetic", run, 7),
    ]


def test_manifest_round_trip_with_relative_paths(tmp_path):
    rows = rows_for(tmp_path)
    path = tmp_path / "out" / "train.csv"
    write_training_manifest(path, rows)
    assert path.read_text() == (
        HEADER
        + "../data/covid/a.png,covid/a.png,covid,real,,\n"
        + ",train/17,normal,real,,\n"
        + "../data/covid/a.png,covid/a.png,covid,oversampled,,\n"
        + "../runs/00000-gan-covid/synthetic/covid_00003.png,,covid,synthetic,../runs/00000-gan-covid,7\n"
    )
    assert read_training_manifest(path) == rows
    first = path.read_bytes()
    write_training_manifest(path, rows)
    assert path.read_bytes() == first
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("text, message", [
    ("path,key,label,origin\n", r"missing column\(s\) run, seed; expected a CSV with columns path,key,label,origin,run,seed"),
    (HEADER, "the training manifest has no rows"),
    (HEADER + ",k,covid,copied,,\n", r"line 2: origin 'copied'; expected one of real, oversampled, synthetic"),
    (HEADER + ",k,,real,,\n", "line 2: empty label"),
    (HEADER + ",,covid,real,,\n", "line 2: no key in a row of origin 'real'"),
    (HEADER + ",,covid,oversampled,,\n", "line 2: no key in a row of origin 'oversampled'"),
    (HEADER + ",,covid,synthetic,run,3\n", "line 2: no path in a row of origin 'synthetic'"),
    (HEADER + ",k,covid,real,,\nx.png,,covid,synthetic,run,seven\n", "line 3: seed 'seven'; expected an integer"),
    (HEADER + "gone.png,,covid,synthetic,run,3\n", r"line 2: synthetic image 'gone.png' does not exist \(paths are relative to the manifest\)"),
])
def test_read_training_manifest_refusals(tmp_path, text, message):
    path = tmp_path / "train.csv"
    path.write_text(text)
    (tmp_path / "x.png").write_bytes(b"png")
    with pytest.raises(UserError, match=message):
        read_training_manifest(path)


def test_read_training_manifest_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"no such training manifest; write one with `xgan balance`"):
        read_training_manifest(tmp_path / "nothing.csv")


@pytest.mark.parametrize("kwargs, message", [
    (dict(path=None, key="k", label="covid", origin="copied"), "Expected one of real, oversampled, synthetic. Received: origin='copied'"),
    (dict(path=None, key=None, label="covid", origin="synthetic"), "Expected the image file of a synthetic row"),
    (dict(path=None, key=None, label="covid", origin="real"), "Expected the dataset key of a real row"),
    (dict(path=None, key="k", label="", origin="real"), "Expected a class name"),
])
def test_training_row_checks_its_fields(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingRow(**kwargs)


def test_class_weights_are_sklearn_balanced():
    weights = class_weights({"covid": 32, "normal": 413})
    assert list(weights) == ["covid", "normal"]
    assert weights["covid"] == pytest.approx(445 / (2 * 32))
    assert weights["normal"] == pytest.approx(445 / (2 * 413))
    assert class_weights({"a": 5, "b": 5, "c": 5}) == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0})


@pytest.mark.parametrize("counts, message", [
    ({"covid": 0, "normal": 10}, "class covid has no training images; class weights need at least one image per class"),
    ({"covid": 10}, r"class weights need at least two classes; found 1 \(covid\)"),
    ({"covid": -3, "normal": 10}, r"Expected a non-negative integer count per class. Received: covid=-3"),
])
def test_class_weights_refusals(counts, message):
    with pytest.raises(UserError, match=message):
        class_weights(counts)


def test_summarize_counts_per_class_and_origin(tmp_path):
    text = summarize(rows_for(tmp_path))
    lines = text.splitlines()
    assert lines[0].split() == ["class", "before", "+oversampled", "+synthetic", "after"]
    assert lines[1].split() == ["covid", "1", "1", "1", "3"]
    assert lines[2].split() == ["normal", "1", "0", "0", "1"]
    assert lines[3].split() == ["total", "2", "1", "1", "4"]
    assert lines[4] == "minority/majority  before 1.000 (1:1), after 0.333 (1:3)"


def test_paths_outside_the_manifest_tree_stay_absolute(tmp_path):
    row = TrainingRow(Path("/elsewhere/covid/a.png"), "covid/a.png", "covid", "real")
    path = tmp_path / "train.csv"
    write_training_manifest(path, [row])
    assert path.read_text() == HEADER + "/elsewhere/covid/a.png,covid/a.png,covid,real,,\n"
    assert read_training_manifest(path) == [row]
