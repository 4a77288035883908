"""Sampling a trained run: determinism, the manifest, the refusal to overwrite, checkpoint choice."""

import csv

import numpy as np
import pytest

from conftest import make_folder_dataset
from xgan.errors import UserError
from xgan.gan import GanConfig, generate_images, list_checkpoints, load_generator, sample_to_folder, train_gan
from xgan.runs import SYNTHETIC_COLUMNS as MANIFEST_COLUMNS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    data = make_folder_dataset(tmp_path_factory.mktemp("data") / "xrays", {"covid": 12, "normal": 20})
    # A high learning rate, so that a few steps already give varied images.
    config = GanConfig(data=str(data), image_size=32, width=4, latent_dim=8, batch_size=4, epochs=6, learning_rate=0.05,
                       preview_every=6, checkpoint_every=6, snapshot_every=3, out=str(tmp_path_factory.mktemp("runs")))
    return train_gan(config)


def read_manifest(folder):
    with open(folder / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_folder_has_pngs_manifest_and_contact_sheet(run_dir, tmp_path):
    folder = sample_to_folder(run_dir, 5, tmp_path / "synthetic", seed=3)
    rows = read_manifest(folder)
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    assert [row["index"] for row in rows] == ["0", "1", "2", "3", "4"]
    assert {row["label"] for row in rows} == {"covid"} and {row["checkpoint"] for row in rows} == {"epoch_0006"}
    assert {row["seed"] for row in rows} == {"3"} and {row["run"] for row in rows} == {str(run_dir)}
    assert {row["dataset"] for row in rows} == {"xrays"} and rows[0]["checkpoint_step"] == "12"
    assert all((folder / row["file"]).is_file() for row in rows)
    assert (folder / "contact_sheet.png").is_file()


def test_default_folder_is_inside_the_run(run_dir):
    folder = sample_to_folder(run_dir, 2, seed=11)
    assert folder == run_dir / "synthetic"


def test_same_seed_gives_byte_identical_pngs_and_a_longer_draw_extends_a_shorter(run_dir, tmp_path):
    first = sample_to_folder(run_dir, 4, tmp_path / "a", seed=5)
    second = sample_to_folder(run_dir, 6, tmp_path / "b", seed=5)
    other = sample_to_folder(run_dir, 4, tmp_path / "c", seed=6)
    for row in read_manifest(first):
        assert (first / row["file"]).read_bytes() == (second / row["file"]).read_bytes()
    assert len({(first / row["file"]).read_bytes() for row in read_manifest(first)}) == 4
    assert (first / "gen_s5_00000.png").read_bytes() != (other / "gen_s6_00000.png").read_bytes()


def test_existing_images_are_not_overwritten_without_the_flag(run_dir, tmp_path):
    folder = sample_to_folder(run_dir, 3, tmp_path / "out", seed=1)
    with pytest.raises(UserError, match=f"{folder}: already holds 5 image/manifest file.s. .*pass --overwrite"):
        sample_to_folder(run_dir, 3, folder, seed=1)
    (folder / "mine.png").write_bytes(b"not ours")
    sample_to_folder(run_dir, 2, folder, seed=2, overwrite=True)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["contact_sheet.png", "gen_s2_00000.png", "gen_s2_00001.png", "manifest.csv", "mine.png"]


def test_checkpoints_can_be_listed_and_chosen(run_dir):
    assert list_checkpoints(run_dir) == ["epoch_0003", "epoch_0006"]
    early, info = load_generator(run_dir, "epoch_0003")
    assert info["checkpoint"] == "epoch_0003" and info["step"] == 6 and info["latent_dim"] == 8 and info["image_size"] == 32
    late, _ = load_generator(run_dir)
    assert not np.array_equal(generate_images(early, 2, 0, 8), generate_images(late, 2, 0, 8))
    with pytest.raises(UserError, match="Expected one of epoch_0003, epoch_0006. Received: checkpoint='epoch_9999'"):
        load_generator(run_dir, "epoch_9999")


def test_generate_images_shape_and_type(run_dir):
    generator, info = load_generator(run_dir)
    images = generate_images(generator, 3, 0, info["latent_dim"])
    assert images.shape == (3, 32, 32) and images.dtype == np.uint8


def test_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="not a GAN run folder"):
        sample_to_folder(tmp_path, 3)
    with pytest.raises(UserError, match="no GAN run folder found"):
        sample_to_folder(None, 3, runs_parent=tmp_path)


def test_a_sampled_generator_is_freed_once_nobody_holds_it(run_dir):
    import gc
    import weakref

    from xgan.runtime import inference

    generator, info = load_generator(run_dir)
    generate_images(generator, 3, 0, info["latent_dim"])
    assert len(inference._functions) >= 1
    alive = weakref.ref(generator)
    del generator
    gc.collect()
    assert alive() is None  # the compiled sampling function must not keep its generator alive
