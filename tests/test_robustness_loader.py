"""Property-based drills: the loader never crashes on random bytes or odd image shapes."""

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xgan.datasets.dataset import load_dataset
from xgan.datasets.images import decode_gray, resize_square, to_gray_uint8

from conftest import make_folder_dataset

PNG_HEADER = b"\x89PNG\r\n\x1a\n"


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=512), st.binary(max_size=256).map(lambda b: PNG_HEADER + b)))
def test_random_bytes_decode_or_raise_value_error(data):
    try:
        image = decode_gray(data)
    except ValueError:
        return
    assert image.dtype == np.uint8 and image.ndim == 2


@settings(max_examples=100, deadline=None)
@given(arrays(dtype=st.sampled_from([np.uint8, np.uint16, np.float32]),
              shape=st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([0, 1, 3, 4]))
              .map(lambda s: s[:2] if s[2] == 0 else s),
              elements={"allow_nan": False, "allow_infinity": False, "min_value": 0, "max_value": 255}),
       st.integers(1, 33))
def test_odd_shapes_and_depths_become_square_gray(image, size):
    gray = to_gray_uint8(image)
    assert gray.shape == image.shape[:2] and gray.dtype == np.uint8
    assert resize_square(gray, size).shape == (size, size)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.sampled_from([".png", ".jpg", ".bmp", ".tiff"]))
def test_extreme_aspect_ratios_round_trip_through_files(height, width, suffix):
    ok, encoded = cv2.imencode(suffix, np.full((height, width), 77, np.uint8))
    assert ok
    image = decode_gray(encoded.tobytes())
    assert image.shape == (height, width)
    assert resize_square(image, 16).shape == (16, 16)


def expected_readable(blobs: list[bytes]) -> set[str]:
    """The keys of the random files that decode on their own: the oracle the loader must agree with."""
    readable = set()
    for index, blob in enumerate(blobs):
        try:
            decode_gray(blob)
        except ValueError:
            continue
        readable.add(f"covid/random_{index}.png")
    return readable


def check_loaded_exactly_the_readable_files(root, blobs):
    for index, blob in enumerate(blobs):
        (root / "covid" / f"random_{index}.png").write_bytes(blob)
    dataset = load_dataset(root, size=8)
    readable = expected_readable(blobs)
    random_keys = {f"covid/random_{index}.png" for index in range(len(blobs))}
    assert {r.key for r in dataset.records if r.key in random_keys} == readable
    assert {key for key, _ in dataset.skipped} == random_keys - readable
    assert all(reason for _, reason in dataset.skipped)
    assert dataset.class_counts() == {"covid": 2 + len(readable), "normal": 3}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_folder_with_random_files_keeps_exactly_the_readable_ones(tmp_path_factory, blobs):
    root = make_folder_dataset(tmp_path_factory.mktemp("data"), {"covid": 2, "normal": 3}, size=8)
    check_loaded_exactly_the_readable_files(root, blobs)


def test_a_valid_image_among_broken_files_is_kept_and_the_broken_ones_skipped(tmp_path):
    ok, png = cv2.imencode(".png", np.full((12, 9), 200, np.uint8))
    assert ok
    blobs = [png.tobytes(), png.tobytes()[: len(png) // 2], b"", b"not an image at all"]
    assert expected_readable(blobs) == {"covid/random_0.png"}
    root = make_folder_dataset(tmp_path / "data", {"covid": 2, "normal": 3}, size=8)
    check_loaded_exactly_the_readable_files(root, blobs)
