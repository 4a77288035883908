"""The one dataset loader: every input kind, every bad-input case."""

import csv
import logging

import cv2
import numpy as np
import pytest

from xgan.datasets.dataset import bundled_dataset_path, load_dataset, resolve_source
from xgan.errors import UserError
from xgan.datasets.images import decode_gray, to_gray_uint8

from conftest import make_folder_dataset


def test_folder_dataset_counts_minority_and_size(folder_dataset):
    dataset = load_dataset(folder_dataset, size=16)
    assert dataset.kind == "folder"
    assert dataset.class_names == ["covid", "normal"]
    assert dataset.class_counts() == {"covid": 12, "normal": 28}
    assert dataset.minority_class == "covid"
    assert dataset.imbalance_ratio == pytest.approx(28 / 12)
    assert dataset.images.shape == (40, 16, 16) and dataset.images.dtype == np.uint8
    assert dataset.original_shapes[0] == (32, 32)
    assert dataset.records[0].key == "covid/covid_000.png"


def test_without_size_no_pixels_are_kept(folder_dataset):
    assert load_dataset(folder_dataset).images is None


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tiff"])
def test_every_file_format_loads(tmp_path, suffix):
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(2):
            cv2.imwrite(str(tmp_path / label / f"{i}{suffix}"), rng.integers(0, 255, (20, 24), dtype=np.uint8))
    dataset = load_dataset(tmp_path, size=8)
    assert dataset.class_counts() == {"a": 2, "b": 2}
    assert dataset.original_shapes[0] == (20, 24)


@pytest.mark.parametrize("image, expected", [
    (np.full((4, 4), 7, np.uint8), 7),
    (np.full((4, 4, 1), 9, np.uint8), 9),
    (np.dstack([np.full((4, 4), 100, np.uint8)] * 3), 100),
    (np.dstack([np.full((4, 4), 50, np.uint8)] * 3 + [np.full((4, 4), 255, np.uint8)]), 50),
])
def test_channels_become_one_gray_channel(image, expected):
    gray = to_gray_uint8(image)
    assert gray.shape == (4, 4) and gray.dtype == np.uint8
    assert int(gray[0, 0]) == expected


def test_sixteen_bit_png_is_scaled_by_its_maximum(tmp_path):
    image = np.zeros((8, 8), np.uint16)
    image[0, 0], image[0, 1] = 4000, 2000
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), image)
    gray = decode_gray(path.read_bytes())
    assert gray.dtype == np.uint8
    assert (gray[0, 0], gray[0, 1], gray[1, 1]) == (255, 128, 0)


def test_rgba_and_sixteen_bit_files_load_in_a_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cv2.imwrite(str(tmp_path / "a" / "rgba.png"), np.full((10, 10, 4), 200, np.uint8))
    cv2.imwrite(str(tmp_path / "b" / "deep.tif"), np.full((10, 10), 60000, np.uint16))
    dataset = load_dataset(tmp_path, size=10)
    assert dataset.images.dtype == np.uint8
    assert sorted(int(v) for v in dataset.images[:, 0, 0]) == [200, 255]


def test_manifest_reads_patients_and_labels(patient_dataset):
    dataset = load_dataset(patient_dataset)
    assert dataset.kind == "manifest"
    assert dataset.class_counts() == {"covid": 20, "normal": 40}
    patients = {r.patient_id for r in dataset.records}
    assert len(patients) == 28
    assert load_dataset(patient_dataset / "manifest.csv").class_counts() == dataset.class_counts()


def test_manifest_labels_override_folder_names(tmp_path):
    make_folder_dataset(tmp_path, {"covid": 2, "normal": 2})
    with open(tmp_path / "relabel.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label"])
        writer.writerows([["covid/covid_000.png", "x"], ["normal/normal_000.png", "y"]])
    dataset = load_dataset(tmp_path / "relabel.csv")
    assert [(r.key, r.label) for r in dataset.records] == [("covid/covid_000.png", "x"), ("normal/normal_000.png", "y")]


def test_npz_loads_its_splits_and_known_class_names(npz_dataset):
    dataset = load_dataset(npz_dataset, size=28)
    assert dataset.kind == "npz"
    assert dataset.class_names == ["normal", "pneumonia"]
    assert dataset.class_counts() == {"normal": 28, "pneumonia": 52}
    assert {r.split for r in dataset.records} == {"train", "val"}
    assert dataset.records[0].key == "train/0"
    assert dataset.images.shape == (80, 28, 28)


def test_npz_with_only_test_keys_and_unknown_names(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, test_images=np.zeros((4, 5, 5, 1), np.uint8), test_labels=np.array([0, 1, 1, 2]))
    dataset = load_dataset(path, size=5)
    assert dataset.class_names == ["0", "1", "2"]
    assert {r.split for r in dataset.records} == {"test"}


def test_npz_class_names_key_is_used(tmp_path):
    path = tmp_path / "named.npz"
    np.savez(path, train_images=np.zeros((2, 5, 5), np.uint8), train_labels=np.array([0, 1]),
             class_names=np.array(["healthy", "sick"]))
    assert load_dataset(path).class_names == ["healthy", "sick"]


def test_npz_label_names_as_medmnist_json(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, train_images=np.zeros((2, 5, 5), np.uint8), train_labels=np.array([[0], [1]]),
             label_names=np.array('{"0": "normal", "1": "pneumonia"}'))
    assert load_dataset(path).class_names == ["normal", "pneumonia"]


def test_npz_label_names_that_miss_a_label_are_an_error(tmp_path):
    path = tmp_path / "short.npz"
    np.savez(path, train_images=np.zeros((3, 5, 5), np.uint8), train_labels=np.array([0, 1, 2]), label_names=np.array(["a", "b"]))
    with pytest.raises(UserError, match=r"short.npz: its class names do not name label 2"):
        load_dataset(path)


def test_a_renamed_pneumoniamnist_file_keeps_its_class_names(tmp_path):
    renamed = tmp_path / "my_xrays.npz"
    renamed.write_bytes(bundled_dataset_path("pneumoniamnist").read_bytes())
    dataset = load_dataset(renamed)
    assert dataset.class_names == ["normal", "pneumonia"]
    assert dataset.class_counts() == {"normal": 1349, "pneumonia": 3883}


def test_bundled_datasets_by_name():
    assert resolve_source("pneumoniamnist") == bundled_dataset_path("pneumoniamnist")
    assert resolve_source("covid_ccby").name == "covid_ccby"
    with pytest.raises(UserError, match=r"nothing_here: no such file or folder; .* or a bundled dataset \(covid_ccby, pneumoniamnist\)"):
        resolve_source("nothing_here")


def test_bundled_default_dataset_loads():
    dataset = load_dataset(None)
    assert dataset.class_counts() == {"covid": 46, "normal": 590}
    assert dataset.minority_class == "covid"


# Bad input: skipped with a warning and a count, or a one-line error naming the path.

@pytest.mark.parametrize("name, content", [
    ("zero.png", b""),
    ("truncated.png", None),
    ("garbage.jpg", b"this is not a jpeg at all"),
    ("notes.txt", b"hello"),
])
def test_bad_files_are_skipped_with_warning_and_count(folder_dataset, caplog, name, content):
    if content is None:
        content = (folder_dataset / "covid" / "covid_000.png").read_bytes()[:60]
    (folder_dataset / "covid" / name).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="xgan"):
        dataset = load_dataset(folder_dataset)
    assert dataset.class_counts() == {"covid": 12, "normal": 28}
    assert [key for key, _ in dataset.skipped] == [f"covid/{name}"]
    assert f"covid/{name}" in caplog.text and "skipped 1 file(s)" in caplog.text


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(UserError, match=r"nope: no such file or folder"):
        load_dataset(tmp_path / "nope")


def test_empty_class_folder_is_an_error(folder_dataset):
    (folder_dataset / "empty").mkdir()
    with pytest.raises(UserError, match=r"empty: empty class folder"):
        load_dataset(folder_dataset)


def test_class_with_only_unreadable_files_is_an_error(folder_dataset):
    (folder_dataset / "broken").mkdir()
    (folder_dataset / "broken" / "x.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(UserError, match=r"class 'broken' has no readable images"):
        load_dataset(folder_dataset)


def test_single_class_is_an_error(tmp_path):
    make_folder_dataset(tmp_path, {"covid": 3})
    with pytest.raises(UserError, match=r"found one class \(covid\); expected at least two"):
        load_dataset(tmp_path)


def test_folder_without_class_folders_is_an_error(tmp_path):
    (tmp_path / "loose.png").write_bytes(b"")
    with pytest.raises(UserError, match="no class sub-folders"):
        load_dataset(tmp_path)


@pytest.mark.parametrize("rows, message", [
    ([["covid/covid_000.png", ""]], r"line 2: empty 'file' or 'label'"),
    ([["covid/covid_000.png", "covid"], ["covid/missing.png", "covid"]], r"line 3: file 'covid/missing.png' does not exist"),
    ([["covid/covid_000.png", "covid"], ["covid/covid_000.png", "covid"]], r"line 3: file 'covid/covid_000.png' is listed twice"),
])
def test_bad_manifest_rows_are_errors(tmp_path, rows, message):
    make_folder_dataset(tmp_path, {"covid": 2, "normal": 2})
    with open(tmp_path / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label"])
        writer.writerows(rows)
    with pytest.raises(UserError, match=message):
        load_dataset(tmp_path)


def test_manifest_without_required_columns_is_an_error(tmp_path):
    make_folder_dataset(tmp_path, {"covid": 2, "normal": 2})
    (tmp_path / "manifest.csv").write_text("path,class\na.png,covid\n")
    with pytest.raises(UserError, match=r"manifest.csv: expected a CSV with columns file,label"):
        load_dataset(tmp_path)


def test_npz_without_images_is_an_error(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(UserError, match=r"bad.npz: expected MedMNIST keys train_images/train_labels"):
        load_dataset(path)


def test_npz_with_mismatched_labels_is_an_error(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, train_images=np.zeros((3, 4, 4), np.uint8), train_labels=np.zeros((2, 1)))
    with pytest.raises(UserError, match=r"train_labels has shape \(2,\); expected one label per image \(3,\)"):
        load_dataset(path)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_npz_with_non_finite_pixels_names_the_file_the_key_and_the_image(tmp_path, value):
    path = tmp_path / "bad.npz"
    images = np.random.default_rng(0).random((5, 4, 4))
    images[3, 1, 2] = value
    np.savez(path, train_images=np.zeros((2, 4, 4)), train_labels=np.zeros(2), val_images=images, val_labels=np.zeros(5))
    with pytest.raises(UserError, match=r"^\S*bad.npz: key val_images, image 3: image holds NaN or infinite values; expected finite"):
        load_dataset(path, 8)


def test_npz_with_non_finite_pixels_exits_2_with_one_line(tmp_path):
    from click.testing import CliRunner

    from xgan.cli import cli

    path = tmp_path / "bad.npz"
    images = np.zeros((6, 4, 4), np.float32)
    images[0, 0, 0] = np.nan
    np.savez(path, train_images=images, train_labels=np.arange(6) % 2)
    result = CliRunner().invoke(cli, ["info", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.strip()] == [
        f"Error: {path}: key train_images, image 0: image holds NaN or infinite values; expected finite gray or colour pixel values"]


def test_corrupt_npz_is_an_error(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match=r"bad.npz: cannot read the .npz"):
        load_dataset(path)


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    import os

    from xgan.runs import write_text

    write_text(tmp_path / "out.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_nested_files_come_in_path_component_order_with_one_record_per_file(tmp_path):
    image = np.full((8, 8), 100, np.uint8)
    names = ["a/z/1.png", "a b.png", "a.png", "a/2.png", "a-c/0.png", ".hidden.png", ".dir/3.png"]
    for label in ("normal", "sick"):
        for name in names:
            (tmp_path / label / name).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / label / name), image)
    dataset = load_dataset(tmp_path, 8)
    expected = sorted((n for n in names if not n.startswith(".h")), key=lambda n: n.split("/"))
    assert [r.key for r in dataset.records] == [f"{label}/{n}" for label in ("normal", "sick") for n in expected]
    assert all(r.path == tmp_path / r.key and r.path.is_file() for r in dataset.records)
