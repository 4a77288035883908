"""The decoded-image cache behind load_dataset: decode once, re-decode only what changed."""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from xgan.datasets import cache as image_cache
from xgan.cli import cli
from xgan.datasets.dataset import load_dataset


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("XGAN_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def decoded(monkeypatch):
    """The files the cache decodes, in order."""
    opened = []
    original = image_cache.read_image
    monkeypatch.setattr(image_cache, "read_image", lambda path: opened.append(path.name) or original(path))
    return opened


def test_second_load_decodes_nothing_and_maps_the_same_pixels(folder_dataset, cache_dir, decoded):
    first = load_dataset(folder_dataset, 16)
    assert len(decoded) == 40  # shape, hash and 16 px pixels from one decode
    decoded.clear()
    second = load_dataset(folder_dataset, 16)
    assert decoded == []
    assert isinstance(second.images, np.memmap) and not second.images.flags.writeable
    np.testing.assert_array_equal(first.images, second.images)
    assert second.content_hashes == first.content_hashes and second.original_shapes == first.original_shapes
    assert [r.key for r in second.records] == [r.key for r in first.records]


def test_cached_pixels_equal_uncached_ones(folder_dataset, cache_dir, monkeypatch):
    cached = load_dataset(folder_dataset, 24)
    monkeypatch.setenv("XGAN_CACHE_DIR", "off")
    plain = load_dataset(folder_dataset, 24)
    np.testing.assert_array_equal(cached.images, plain.images)
    assert cached.content_hashes == plain.content_hashes
    assert not isinstance(plain.images, np.memmap)


def test_a_changed_file_and_an_added_file_are_the_only_ones_decoded_again(folder_dataset, cache_dir, decoded):
    load_dataset(folder_dataset, 16)
    changed = folder_dataset / "covid" / "covid_003.png"
    cv2.imwrite(str(changed), np.full((32, 32), 7, np.uint8))
    cv2.imwrite(str(folder_dataset / "normal" / "normal_new.png"), np.full((20, 30), 200, np.uint8))
    decoded.clear()
    dataset = load_dataset(folder_dataset, 16)
    assert sorted(decoded) == ["covid_003.png", "normal_new.png"]
    keys = [r.key for r in dataset.records]
    assert len(keys) == 41
    np.testing.assert_array_equal(dataset.images[keys.index("covid/covid_003.png")], 7)
    np.testing.assert_array_equal(dataset.images[keys.index("normal/normal_new.png")], 200)
    assert dataset.original_shapes[keys.index("normal/normal_new.png")] == (20, 30)


def test_an_unreadable_file_is_skipped_with_a_warning_every_time_but_decoded_once(folder_dataset, cache_dir, decoded, caplog):
    (folder_dataset / "normal" / "broken.png").write_bytes(b"not a png")
    for _ in range(2):
        caplog.clear()
        dataset = load_dataset(folder_dataset, 16)
        assert ("normal/broken.png", "not a readable image (corrupt, truncated or unsupported format)") in dataset.skipped
        assert "broken.png" in caplog.text
        assert len(dataset.records) == 40
    assert decoded.count("broken.png") == 1


def test_metadata_then_a_size_then_a_new_broken_file(folder_dataset, cache_dir, decoded):
    assert load_dataset(folder_dataset).images is None
    assert len(decoded) == 40
    assert load_dataset(folder_dataset, 8).images.shape == (40, 8, 8)  # pixels need one more decode
    assert len(decoded) == 80
    (folder_dataset / "covid" / "late.png").write_bytes(b"\x89PNG truncated")
    dataset = load_dataset(folder_dataset, 8)
    assert dataset.images.shape == (40, 8, 8) and [k for k, _ in dataset.skipped] == ["covid/late.png"]
    decoded.clear()
    again = load_dataset(folder_dataset, 8)
    assert decoded == [] and again.images.shape == (40, 8, 8)


def test_removed_file_gives_a_consistent_array(folder_dataset, cache_dir, decoded):
    first = load_dataset(folder_dataset, 16)
    (folder_dataset / "covid" / "covid_000.png").unlink()
    decoded.clear()
    second = load_dataset(folder_dataset, 16)
    assert decoded == []
    np.testing.assert_array_equal(second.images, first.images[1:])


def test_sizes_are_cached_side_by_side_and_cli_lists_and_clears_them(folder_dataset, cache_dir):
    load_dataset(folder_dataset, 16)
    load_dataset(folder_dataset, 8)
    summary = image_cache.cache_summary()
    assert [entry["sizes"] for entry in summary["datasets"]] == [[8, 16]]
    assert summary["datasets"][0]["source"] == str(folder_dataset.resolve())
    info = CliRunner().invoke(cli, ["cache", "info"])
    assert info.exit_code == 0 and "8 px, 16 px" in info.output
    cleared = CliRunner().invoke(cli, ["cache", "clear"])
    assert cleared.exit_code == 0 and "1 dataset(s)" in cleared.output
    assert image_cache.cache_summary()["datasets"] == []


@pytest.mark.parametrize("value", ["off", "OFF", "0", ""])
def test_the_cache_can_be_switched_off(folder_dataset, monkeypatch, value):
    monkeypatch.setenv("XGAN_CACHE_DIR", value)
    assert image_cache.cache_root() is None
    assert load_dataset(folder_dataset, 8).images.shape == (40, 8, 8)


def _cache_folder(cache_dir):
    (folder,) = [p for p in cache_dir.iterdir() if p.is_dir()]
    return folder


def _write_format_1(folder, size):
    """Turn the cache folder's indexes into format 1, as xgan wrote them before: JSON, then no .npz."""
    files = image_cache.FileTable.load(folder / image_cache.FILES_INDEX)
    entries = {}
    for key, signature, shape, hash_, error in zip(files.keys.tolist(), files.signatures.tolist(), files.shapes.tolist(),
                                                   files.hashes.tolist(), files.errors.tolist()):
        entries[key] = {"signature": list(signature), "error": error} if error else {"signature": list(signature), "shape": shape, "hash": hash_}
    (folder / "files.json").write_text(json.dumps({"version": 1, "source": "somewhere", "entries": entries}))
    pixels = image_cache.PixelIndex.load(folder, size)
    (folder / f"pixels-{size}.json").write_text(json.dumps({"version": 1, "file": pixels.file, "keys": pixels.keys.tolist(),
                                                            "signatures": [list(s) for s in pixels.signatures.tolist()]}))
    (folder / image_cache.FILES_INDEX).unlink()
    (folder / f"pixels-{size}.npz").unlink()


def test_the_indexes_are_numpy_arrays_that_name_every_file(folder_dataset, cache_dir):
    dataset = load_dataset(folder_dataset, 16)
    folder = _cache_folder(cache_dir)
    files = image_cache.FileTable.load(folder / image_cache.FILES_INDEX)
    assert files.keys.tolist() == [r.key for r in dataset.records]
    assert files.hashes.tolist() == dataset.content_hashes and list(map(tuple, files.shapes.tolist())) == dataset.original_shapes
    signature = (folder_dataset / "covid" / "covid_000.png").stat()
    assert files.signatures[0].tolist() == (signature.st_size, signature.st_mtime_ns, signature.st_ino)
    pixels = image_cache.PixelIndex.load(folder, 16)
    assert pixels.keys.tolist() == files.keys.tolist() and not pixels.legacy
    assert sorted(p.name for p in folder.iterdir()) == ["files.npz", pixels.file, "pixels-16.npz"]


def test_a_format_1_cache_is_converted_once_without_decoding(folder_dataset, cache_dir, decoded):
    first = load_dataset(folder_dataset, 16)
    folder = _cache_folder(cache_dir)
    _write_format_1(folder, 16)
    decoded.clear()
    second = load_dataset(folder_dataset, 16)
    assert decoded == []
    np.testing.assert_array_equal(second.images, first.images)
    assert second.content_hashes == first.content_hashes and second.original_shapes == first.original_shapes
    assert not (folder / "files.json").exists() and not (folder / "pixels-16.json").exists()
    assert image_cache.PixelIndex.load(folder, 16).legacy is False
    assert load_dataset(folder_dataset, 16).content_hashes == first.content_hashes and decoded == []


def test_a_format_1_cache_still_notices_a_changed_file(folder_dataset, cache_dir, decoded):
    load_dataset(folder_dataset, 16)
    _write_format_1(_cache_folder(cache_dir), 16)
    cv2.imwrite(str(folder_dataset / "normal" / "normal_005.png"), np.full((32, 32), 9, np.uint8))
    decoded.clear()
    dataset = load_dataset(folder_dataset, 16)
    assert decoded == ["normal_005.png"]
    np.testing.assert_array_equal(dataset.images[[r.key for r in dataset.records].index("normal/normal_005.png")], 9)


@pytest.mark.parametrize("damage", ["other version", "garbage", "truncated"])
def test_an_index_of_another_version_or_damaged_is_rebuilt_not_read(folder_dataset, cache_dir, decoded, damage):
    first = load_dataset(folder_dataset, 16)
    index = _cache_folder(cache_dir) / image_cache.FILES_INDEX
    if damage == "other version":
        with np.load(index) as archive:
            arrays = {name: archive[name] for name in archive.files}
        with open(index, "wb") as handle:
            np.savez(handle, **{**arrays, "version": np.array(image_cache.FORMAT_VERSION + 1)})
    elif damage == "garbage":
        index.write_bytes(b"not an npz")
    else:
        index.write_bytes(index.read_bytes()[:100])
    decoded.clear()
    second = load_dataset(folder_dataset, 16)
    assert len(decoded) == 40  # the files' shapes and hashes come from a fresh decode, not from the damaged index
    assert second.content_hashes == first.content_hashes
    assert image_cache.FileTable.load(index) is not None


def test_a_renamed_file_is_a_new_key_and_the_old_key_goes(folder_dataset, cache_dir, decoded):
    first = load_dataset(folder_dataset, 16)
    old = folder_dataset / "normal" / "normal_010.png"
    old.rename(folder_dataset / "normal" / "renamed.png")  # same inode, size and mtime: only the key tells
    decoded.clear()
    second = load_dataset(folder_dataset, 16)
    assert decoded == ["renamed.png"]
    keys = [r.key for r in second.records]
    assert "normal/normal_010.png" not in keys
    np.testing.assert_array_equal(second.images[keys.index("normal/renamed.png")],
                                  first.images[[r.key for r in first.records].index("normal/normal_010.png")])


def test_a_manifest_dataset_notices_a_changed_file_and_keeps_its_patients(patient_dataset, cache_dir, decoded):
    load_dataset(patient_dataset, 16)
    cv2.imwrite(str(patient_dataset / "covid" / "covid_002.png"), np.full((32, 32), 5, np.uint8))
    decoded.clear()
    dataset = load_dataset(patient_dataset, 16)
    assert decoded == ["covid_002.png"]
    assert {r.patient_id for r in dataset.records if r.label == "covid"} == {f"covid-p{i}" for i in range(8)}
