"""Splits: deterministic, stratified, patient-disjoint, written once and reused."""

import json
from collections import Counter

import numpy as np
import pytest

from xgan.datasets.dataset import load_dataset
from xgan.errors import UserError
from conftest import make_folder_dataset
from xgan.datasets.splits import EXCLUDED, cut_training_class, exclude_duplicates, make_splits, resolve_splits


def test_make_splits_is_deterministic_and_seed_dependent():
    labels = ["a"] * 30 + ["b"] * 70
    groups = [f"g{i}" for i in range(100)]
    first = make_splits(labels, groups, seed=3)
    assert (first == make_splits(labels, groups, seed=3)).all()
    assert (first != make_splits(labels, groups, seed=4)).any()


def test_make_splits_is_stratified_close_to_the_fractions():
    labels = ["a"] * 40 + ["b"] * 160
    split = make_splits(labels, list(range(200)), (0.7, 0.15, 0.15), seed=0)
    counts = Counter(zip(split, labels))
    assert (counts["train", "a"], counts["val", "a"], counts["test", "a"]) == (28, 6, 6)
    assert (counts["train", "b"], counts["val", "b"], counts["test", "b"]) == (112, 24, 24)


def test_make_splits_never_splits_a_group():
    rng = np.random.default_rng(0)
    groups = [f"p{i}" for i in rng.integers(0, 30, 150)]
    labels = ["a" if g < "p1" else "b" for g in groups]
    split = make_splits(labels, groups, seed=1)
    by_group = {}
    for group, name in zip(groups, split):
        by_group.setdefault(group, set()).add(name)
    assert all(len(names) == 1 for names in by_group.values())
    assert set(split) == {"train", "val", "test"}


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (0.7, 0.3), (1.2, -0.1, -0.1)])
def test_make_splits_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="Invalid value received for argument `fractions`"):
        make_splits(["a", "b"], ["1", "2"], fractions)


def test_resolve_splits_groups_by_patient_and_is_written_once(patient_dataset):
    dataset = load_dataset(patient_dataset)
    splits = resolve_splits(dataset)
    assert splits.path == patient_dataset / "splits.json"
    assert splits.grouped_by == "patient_id"
    patient_of = {r.key: r.patient_id for r in dataset.records}
    patients = {name: {patient_of[k] for k in splits.keys(name)} for name in ("train", "val", "test")}
    assert not patients["train"] & patients["test"]
    assert not patients["train"] & patients["val"]
    assert not patients["val"] & patients["test"]
    written = splits.path.read_text()
    again = resolve_splits(load_dataset(patient_dataset))
    assert again.assignments == splits.assignments
    assert splits.path.read_text() == written


def test_same_seed_gives_same_splits_in_another_copy(tmp_path):
    from conftest import make_folder_dataset

    first = make_folder_dataset(tmp_path / "one", {"covid": 10, "normal": 30})
    second = make_folder_dataset(tmp_path / "two", {"covid": 10, "normal": 30})
    a = resolve_splits(load_dataset(first), seed=5)
    b = resolve_splits(load_dataset(second), seed=5)
    assert a.assignments == b.assignments


def test_existing_splits_with_other_seed_is_refused(folder_dataset):
    dataset = load_dataset(folder_dataset)
    resolve_splits(dataset, seed=1)
    with pytest.raises(UserError, match=r"was made with split seed 1, not 2"):
        resolve_splits(dataset, seed=2)


def test_data_added_after_the_split_is_refused(folder_dataset):
    resolve_splits(load_dataset(folder_dataset))
    extra = folder_dataset / "covid" / "covid_900.png"
    extra.write_bytes((folder_dataset / "covid" / "covid_001.png").read_bytes())
    with pytest.raises(UserError, match=r"1 image\(s\) of .* are not in it .*covid/covid_900.png"):
        resolve_splits(load_dataset(folder_dataset))


def test_unreadable_splits_file_is_refused(folder_dataset):
    (folder_dataset / "splits.json").write_text("{not json")
    with pytest.raises(UserError, match=r"splits.json: not a readable splits file"):
        resolve_splits(load_dataset(folder_dataset))


def test_explicit_splits_file_location(folder_dataset, tmp_path):
    target = tmp_path / "elsewhere" / "my_splits.json"
    splits = resolve_splits(load_dataset(folder_dataset), splits_file=target)
    assert splits.path == target and target.exists()
    assert not (folder_dataset / "splits.json").exists()
    assert json.loads(target.read_text())["counts"]["train"]["covid"] > 0


def test_npz_without_test_uses_val_as_test_and_carves_val_from_train(npz_dataset):
    dataset = load_dataset(npz_dataset)
    splits = resolve_splits(dataset)
    assert splits.path.name == "pneumoniamnist_small.splits.json"
    assert splits.keys("test") == sorted(r.key for r in dataset.records if r.split == "val")
    assert all(k.startswith("train/") for k in splits.keys("val") + splits.keys("train"))
    # val takes 0.15 / 0.85 of train, per class: 20 * 0.176 = 3.5 and 40 * 0.176 = 7.1.
    assert dataset.class_counts(set(splits.keys("val"))) == {"normal": 4, "pneumonia": 7}


def test_exact_duplicates_across_splits_are_excluded_from_training():
    assignments = {"a": "train", "b": "test", "c": "val", "d": "train", "e": "val"}
    hashes = {"a": "h1", "b": "h1", "c": "h2", "d": "h2", "e": "h3"}
    assert exclude_duplicates(assignments, hashes) == {
        "a": "excluded", "b": "test", "c": "val", "d": "excluded", "e": "val"}


def test_npz_duplicates_between_train_and_val_are_excluded(tmp_path):
    images = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4)
    path = tmp_path / "dup.npz"
    np.savez(path, train_images=images, train_labels=np.array([0, 1] * 5),
             test_images=images[:2], test_labels=np.array([0, 1]))
    splits = resolve_splits(load_dataset(path))
    assert sorted(k for k, s in splits.assignments.items() if s == "excluded") == ["train/0", "train/1"]


def test_patients_with_images_of_both_classes_stay_whole_and_the_classes_stay_stratified():
    # 60 patients: 20 only "a", 20 only "b", 20 with images of both (e.g. a follow-up scan after recovery).
    rng = np.random.default_rng(5)
    labels, groups = [], []
    for patient in range(60):
        kinds = ["a"] if patient < 20 else ["b"] if patient < 40 else ["a", "b"]
        for label in kinds:
            for _ in range(int(rng.integers(1, 4))):
                labels.append(label)
                groups.append(f"p{patient}")
    split = make_splits(labels, groups, (0.6, 0.2, 0.2), seed=2)
    splits_of = {}
    for group, name in zip(groups, split):
        splits_of.setdefault(group, set()).add(name)
    assert all(len(names) == 1 for names in splits_of.values())
    mixed_splits = {splits_of[f"p{patient}"].pop() for patient in range(40, 60)}
    assert len(mixed_splits) > 1  # mixed patients are spread too, not parked in one split
    counts = Counter(zip(split, labels))
    for label in ("a", "b"):
        total = labels.count(label)
        shares = [counts[name, label] / total for name in ("train", "val", "test")]
        assert shares == pytest.approx([0.6, 0.2, 0.2], abs=0.08), (label, shares)


def test_resolve_splits_keeps_a_mixed_label_patient_in_one_split(tmp_path):
    from conftest import make_folder_dataset

    root = make_folder_dataset(tmp_path / "xrays", {"covid": 20, "normal": 40}, patients_per_class={"covid": 8, "normal": 20})
    manifest = root / "manifest.csv"
    # Patients 0-7 of each class are the same people: every one of them has covid and normal images.
    manifest.write_text(manifest.read_text().replace("covid-p", "patient").replace("normal-p", "patient"))
    dataset = load_dataset(root)
    splits = resolve_splits(dataset)
    assert splits.grouped_by == "patient_id"
    split_of = splits.assignments
    by_patient = {}
    for record in dataset.records:
        by_patient.setdefault(record.patient_id, set()).add(split_of[record.key])
    assert {patient: len(names) for patient, names in by_patient.items()} == {patient: 1 for patient in by_patient}
    labels_of = {}
    for record in dataset.records:
        labels_of.setdefault(record.patient_id, set()).add(record.label)
    assert sum(len(labels) == 2 for labels in labels_of.values()) == 8


def _cut_inputs():
    keys = [f"k{i:02d}" for i in range(40)]
    labels = {k: ("minor" if i < 16 else "major") for i, k in enumerate(keys)}
    groups = {k: f"p{i // 2}" for i, k in enumerate(keys)}  # two images per patient
    assignments = {k: ("train" if i % 4 else "test") for i, k in enumerate(keys)}
    assignments["k01"] = "val"
    return assignments, labels, groups


def test_cut_keeps_n_training_images_of_one_class_and_touches_nothing_else():
    assignments, labels, groups = _cut_inputs()
    cut = cut_training_class(assignments, labels, groups, "minor", 4, seed=0)
    kept = [k for k, s in cut.items() if s == "train" and labels[k] == "minor"]
    assert len(kept) == 4
    for key, split in assignments.items():
        if split != "train" or labels[key] != "minor":
            assert cut[key] == split  # val, test and the other class untouched
        else:
            assert cut[key] in ("train", EXCLUDED)
    # whole patients only: a kept patient's other training image is kept too
    for key in kept:
        partners = [k for k in assignments if groups[k] == groups[key] and assignments[k] == "train"]
        assert all(cut[k] == "train" for k in partners)
    assert cut_training_class(assignments, labels, groups, "minor", 4, seed=0) == cut  # seeded
    assert any(cut_training_class(assignments, labels, groups, "minor", 4, seed=s) != cut for s in range(1, 6))


def test_cut_refuses_more_than_the_class_has():
    assignments, labels, groups = _cut_inputs()
    with pytest.raises(UserError, match=r"Expected at most the 11 training images of class 'minor'. Received: minority_train=12"):
        cut_training_class(assignments, labels, groups, "minor", 12)


def test_cut_splits_are_saved_once_and_checked_on_reload(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=16)
    dataset = load_dataset(data)
    cut = resolve_splits(dataset, tmp_path / "cut.json", minority_train=3, cut_seed=5)
    base = resolve_splits(dataset)
    assert cut.cut["class"] == "covid" and cut.cut["kept"] == 3 and cut.cut["seed"] == 5
    assert dataset.class_counts(set(cut.keys("train")))["covid"] == 3
    for split in ("val", "test"):
        assert cut.keys(split) == base.keys(split)
    assert resolve_splits(dataset, tmp_path / "cut.json", minority_train=3, cut_seed=5).assignments == cut.assignments
    with pytest.raises(UserError, match=r"cut.json: records the cut .* not .*'num_train': 4"):
        resolve_splits(dataset, tmp_path / "cut.json", minority_train=4, cut_seed=5)
    # the file is an ordinary splits file for every other command
    assert resolve_splits(dataset, tmp_path / "cut.json").assignments == cut.assignments
