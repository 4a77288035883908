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


def test_the_indexes_are_numpy_arrays_that_name_every_file(folder_dataset, cache_dir):
    dataset = load_dataset(folder_dataset, 16)
    folder = _cache_folder(cache_dir)
    files = image_cache.FileTable.load(folder / image_cache.FILES_INDEX)
    assert files.keys.tolist() == [r.key for r in dataset.records]
    assert files.hashes.tolist() == dataset.content_hashes and list(map(tuple, files.shapes.tolist())) == dataset.original_shapes
    signature = (folder_dataset / "covid" / "covid_000.png").stat()
    assert files.signatures[0].tolist() == (signature.st_size, signature.st_mtime_ns, signature.st_ino)
    pixels = image_cache.PixelIndex.load(folder, 16)
    assert pixels.keys.tolist() == files.keys.tolist()
    assert sorted(p.name for p in folder.iterdir()) == [".decode-16.lock", ".lock", "files.npz", pixels.file, "pixels-16.npz"]


def _write_format_1(folder, size):
    """Indexes as xgan wrote them before format 3: JSON (format 1) beside the numpy ones without a decoder (format 2)."""
    (folder / "files.json").write_text(json.dumps({"version": 1, "source": "somewhere", "entries": {}}))
    (folder / f"pixels-{size}.json").write_text(json.dumps({"version": 1, "file": "x.npy", "keys": [], "signatures": []}))
    for index in (folder / image_cache.FILES_INDEX, folder / f"pixels-{size}.npz"):
        with np.load(index) as archive:
            arrays = {name: archive[name] for name in archive.files if name != "decoder"}
        with open(index, "wb") as handle:
            np.savez(handle, **{**arrays, "version": np.array(2)})


def test_an_older_format_is_decoded_again_once_and_its_files_go(folder_dataset, cache_dir, decoded):
    first = load_dataset(folder_dataset, 16)
    folder = _cache_folder(cache_dir)
    _write_format_1(folder, 16)
    decoded.clear()
    second = load_dataset(folder_dataset, 16)
    assert len(decoded) == 40  # an index that does not name its decoders cannot vouch for its pixels
    np.testing.assert_array_equal(second.images, first.images)
    assert second.content_hashes == first.content_hashes and second.original_shapes == first.original_shapes
    assert not (folder / "files.json").exists() and not (folder / "pixels-16.json").exists()
    decoded.clear()
    assert load_dataset(folder_dataset, 16).content_hashes == first.content_hashes and decoded == []


def test_other_decoders_decode_every_file_again_and_retry_what_did_not_decode(folder_dataset, cache_dir, decoded, monkeypatch):
    (folder_dataset / "normal" / "broken.png").write_bytes(b"not a png")
    first = load_dataset(folder_dataset, 16)
    assert [key for key, _ in first.skipped] == ["normal/broken.png"]
    decoded.clear()
    load_dataset(folder_dataset, 16)
    assert decoded == []
    monkeypatch.setattr(image_cache, "decoder_version", lambda: "xgan-images 1; opencv 99.0")
    second = load_dataset(folder_dataset, 16)
    assert len(decoded) == 41 and decoded.count("broken.png") == 1
    np.testing.assert_array_equal(second.images, first.images)
    folder = _cache_folder(cache_dir)
    assert len(list(folder.glob("pixels-16-*.npy"))) == 1  # the old decoders' array went with its index
    with np.load(folder / image_cache.FILES_INDEX) as archive:
        assert str(archive["decoder"]) == "xgan-images 1; opencv 99.0"


def test_the_decoder_version_names_the_pipeline_and_the_decoders():
    from xgan.datasets import images

    version = images.decoder_version()
    assert version.startswith(f"xgan-images {images.PIPELINE_VERSION}; opencv {cv2.__version__}; pydicom ")
    assert all(f"; {package} " in version for package in images.DICOM_DECODER_PACKAGES)


def test_a_file_that_could_not_be_read_is_not_remembered_as_undecodable(folder_dataset, cache_dir, decoded, monkeypatch):
    original = image_cache.read_image
    locked = folder_dataset / "covid" / "covid_004.png"

    def denied(path):
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return original(path)

    monkeypatch.setattr(image_cache, "read_image", denied)
    first = load_dataset(folder_dataset, 16)
    assert first.skipped == [("covid/covid_004.png", "could not be read (Permission denied)")]
    assert len(first.records) == 39
    monkeypatch.setattr(image_cache, "read_image", original)  # the fixture's: counts what is decoded
    decoded.clear()
    second = load_dataset(folder_dataset, 16)
    assert decoded == ["covid_004.png"] and second.skipped == [] and len(second.records) == 40
    with np.load(_cache_folder(cache_dir) / image_cache.FILES_INDEX) as archive:
        assert archive["error_rows"].tolist() == []


def test_debris_of_a_dead_process_goes_at_the_next_start_and_a_live_writers_stays(folder_dataset, cache_dir):
    load_dataset(folder_dataset, 16)
    folder = _cache_folder(cache_dir)
    (folder / ".pixels-16-deadbeef0000.npy.999.tmp").write_bytes(b"half an array")
    (folder / ".files.npz.abc123.tmp").write_bytes(b"half an index")
    (folder / "pixels-16-0123456789ab.npy").write_bytes(b"an array no index names")
    (folder / ".pixels-8-feedfeed0000.npy.998.tmp").write_bytes(b"another size, being written")
    with image_cache.folder_lock(folder / ".decode-8.lock", exclusive=True):  # as a live writer of size 8 holds it
        load_dataset(folder_dataset, 16)
        names = sorted(p.name for p in folder.iterdir())
    pixels = image_cache.PixelIndex.load(folder, 16).file
    assert names == [".decode-16.lock", ".decode-8.lock", ".lock", ".pixels-8-feedfeed0000.npy.998.tmp", "files.npz",
                     pixels, "pixels-16.npz"]
    load_dataset(folder_dataset, 16)
    assert not (folder / ".pixels-8-feedfeed0000.npy.998.tmp").exists()


def test_an_array_a_reader_holds_stays_readable_after_a_writer_replaces_it(folder_dataset, cache_dir):
    first = load_dataset(folder_dataset, 16)
    before = np.array(first.images)
    cv2.imwrite(str(folder_dataset / "covid" / "covid_001.png"), np.full((32, 32), 3, np.uint8))
    second = load_dataset(folder_dataset, 16)
    assert len(list(_cache_folder(cache_dir).glob("pixels-16-*.npy"))) == 1
    np.testing.assert_array_equal(first.images, before)  # unlinked, still mapped
    assert not np.array_equal(second.images, before)


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


# A child process that loads the dataset at 16 px with a cold or warm cache. Each decode can be slowed down and the
# child can stop for good after some files (then it waits to be killed); it prints what it decoded and a pixel digest.
_CHILD = """
import hashlib, os, sys, time
from pathlib import Path
from xgan.datasets import cache
from xgan.datasets.dataset import load_dataset

folder, go, stop_after, delay = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
original, decoded = cache.read_image, []

def read(path):
    decoded.append(path.name)
    if len(decoded) == stop_after:
        (go.parent / f"decoding-{os.getpid()}").touch()
        time.sleep(600)
    time.sleep(delay)
    return original(path)

cache.read_image = read
while not go.exists():
    time.sleep(0.01)
dataset = load_dataset(folder, 16)
print(len(decoded), hashlib.sha256(dataset.images.tobytes()).hexdigest(), len(dataset.records))
"""


def _start_child(folder, go, stop_after=0, delay=0.0):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", _CHILD, str(folder), str(go), str(stop_after), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, process, timeout=60.0):
    """Poll until `predicate()` holds (an event, not a fixed sleep); fail when the process ended first or time runs out."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_kill_during_a_cold_decode_leaves_nothing_after_the_next_start(folder_dataset, cache_dir, tmp_path, decoded):
    import signal

    go = tmp_path / "go"
    go.touch()
    child = _start_child(folder_dataset, go, stop_after=10)
    try:
        _wait_for(lambda: list(tmp_path.glob("decoding-*")), child)
        folder = _cache_folder(cache_dir)
        assert [p.name for p in folder.glob(".pixels-16-*.npy.*.tmp")]  # killed with half an array written
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    dataset = load_dataset(folder_dataset, 16)
    assert len(decoded) == 40 and len(dataset.records) == 40
    pixels = image_cache.PixelIndex.load(folder, 16).file
    assert sorted(p.name for p in folder.iterdir()) == [".decode-16.lock", ".lock", "files.npz", pixels, "pixels-16.npz"]


@pytest.mark.slow
@pytest.mark.parametrize("num_processes", [2, 4])
def test_processes_filling_one_cache_at_once_all_finish_with_the_same_pixels(folder_dataset, cache_dir, tmp_path, num_processes):
    go = tmp_path / "go"
    children = [_start_child(folder_dataset, go, delay=0.02) for _ in range(num_processes)]
    go.touch()  # all start loading together, after their imports
    answers = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        answers.append(out.split())
    assert sum(int(decoded) for decoded, _, _ in answers) == 40  # one decoded, the others waited and mapped its array
    assert len({digest for _, digest, _ in answers}) == 1 and {count for _, _, count in answers} == {"40"}
    folder = _cache_folder(cache_dir)
    assert len(list(folder.glob("pixels-16-*.npy"))) == 1 and not list(folder.glob(".*.tmp"))
    np.testing.assert_array_equal(load_dataset(folder_dataset, 16).images, np.load(folder / image_cache.PixelIndex.load(folder, 16).file))
