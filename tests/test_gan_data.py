"""The GAN's real images: one class of the training split, read by key, from folders and .npz files."""

import numpy as np
import pytest

from xgan.datasets.dataset import load_dataset
from xgan.errors import UserError
from xgan.gan.data import choose_class, load_training_data
from xgan.datasets.splits import resolve_splits


@pytest.mark.parametrize("fixture", ["folder_dataset", "patient_dataset", "npz_dataset"])
def test_training_images_are_the_training_split_of_the_smallest_class(request, fixture):
    source = request.getfixturevalue(fixture)
    data = load_training_data(source, None, 16)
    dataset = load_dataset(source, 16)
    train = set(resolve_splits(dataset).keys("train"))
    counts = dataset.class_counts(train)
    assert data.class_name == min(counts, key=counts.get)
    expected = sorted(r.key for r in dataset.records if r.key in train and r.label == data.class_name)
    assert data.keys == expected
    np.testing.assert_array_equal(data.images, dataset.images[dataset.select(expected)])


def test_choose_class():
    counts = {"covid": 8, "normal": 40}
    assert choose_class(counts, None) == "covid"
    assert choose_class(counts, "normal") == "normal"
    with pytest.raises(UserError, match=r"Expected one of covid, normal. Received: class_name='Covid'"):
        choose_class(counts, "Covid")
    with pytest.raises(UserError, match="class 'covid' has no images in the training split"):
        choose_class({"covid": 0, "normal": 3}, "covid")
