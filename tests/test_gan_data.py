"""The GAN's real images: one class of the training split, read by key, from folders and .npz files."""

import collections
import csv
import json

import cv2
import numpy as np
import pytest

from xgan.errors import UserError
from xgan.gan.data import choose_class, load_training_data


def _labels_on_disk(source):
    """{key: label} read from the files themselves: the class folders, manifest.csv, or the .npz's label arrays."""
    if source.suffix == ".npz":
        with np.load(source) as archive:
            return {f"{split}/{index}": int(label) for split in ("train", "val", "test") if f"{split}_labels" in archive
                    for index, label in enumerate(archive[f"{split}_labels"].reshape(-1))}
    if (source / "manifest.csv").exists():
        with open(source / "manifest.csv", newline="") as handle:
            return {row["file"]: row["label"] for row in csv.DictReader(handle)}
    return {f"{path.parent.name}/{path.name}": path.parent.name for path in source.glob("*/*.png")}


def _pixels_on_disk(source, keys, size):
    """The images of `keys` decoded and shrunk with OpenCV directly."""
    if source.suffix == ".npz":
        with np.load(source) as archive:
            images = [archive[f"{key.split('/')[0]}_images"][int(key.split("/")[1])] for key in keys]
    else:
        images = [cv2.imread(str(source / key), cv2.IMREAD_GRAYSCALE) for key in keys]
    return np.stack([cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) for image in images])


@pytest.mark.parametrize("fixture", ["folder_dataset", "patient_dataset", "npz_dataset"])
def test_training_images_are_the_training_split_of_the_smallest_class(request, fixture):
    source = request.getfixturevalue(fixture)
    data = load_training_data(source, None, 16)
    # Expected from the files on disk: the splits file written beside the data, the labels, the pixels.
    splits_file = source.with_name(f"{source.stem}.splits.json") if source.suffix == ".npz" else source / "splits.json"
    assignments = json.loads(splits_file.read_text())["assignments"]
    labels = _labels_on_disk(source)
    assert set(assignments) == set(labels)
    train = [key for key, split in assignments.items() if split == "train"]
    counts = collections.Counter(labels[key] for key in train)
    smallest = min(counts, key=counts.get)
    expected = sorted(key for key in train if labels[key] == smallest)
    assert data.keys == expected and len(expected) == counts[smallest] > 0
    assert data.class_name == (smallest if isinstance(smallest, str) else {0: "normal", 1: "pneumonia"}[smallest])
    np.testing.assert_array_equal(data.images, _pixels_on_disk(source, expected, 16))


def test_choose_class():
    counts = {"covid": 8, "normal": 40}
    assert choose_class(counts, None) == "covid"
    assert choose_class(counts, "normal") == "normal"
    with pytest.raises(UserError, match=r"Expected one of covid, normal. Received: class_name='Covid'"):
        choose_class(counts, "Covid")
    with pytest.raises(UserError, match="class 'covid' has no images in the training split"):
        choose_class({"covid": 0, "normal": 3}, "covid")
