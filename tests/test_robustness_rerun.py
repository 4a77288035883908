"""Drill: the same steps with the same seed, run twice from scratch in two places, give the same files.

Split, GAN training, sampling and balancing each run twice, in separate folders holding copies of the
same images: splits.json, the synthetic PNGs, their manifest and the training manifest must match
byte for byte (paths inside the files aside, which name each place).
"""

import shutil

from conftest import make_folder_dataset
from xgan.balance.command import BalanceConfig, run_balance
from xgan.datasets.dataset import load_dataset
from xgan.gan import GanConfig, sample_to_folder, train_gan
from xgan.datasets.splits import resolve_splits


def run_pipeline(root, source):
    """Split, train a tiny GAN, sample 12 images, balance; return the files to compare."""
    data = root / "xrays"
    shutil.copytree(source, data)
    splits = resolve_splits(load_dataset(data))
    config = GanConfig(data=str(data), image_size=32, width=4, latent_dim=8, batch_size=4, epochs=3, learning_rate=0.05,
                       preview_every=3, checkpoint_every=3, snapshot_every=3, out=str(root / "runs"), seed=7)
    run_dir = train_gan(config)
    synthetic = sample_to_folder(run_dir, 12, root / "synthetic", seed=5)
    manifest = root / "balanced.csv"
    run_balance(BalanceConfig(data=data, synthetic=(synthetic,), ratio="0.5", out=manifest, seed=3))
    files = {"splits.json": splits.path, "balanced.csv": manifest, "synthetic/manifest.csv": synthetic / "manifest.csv"}
    files.update({f"synthetic/{p.name}": p for p in sorted(synthetic.glob("gen_*.png"))})
    return {name: path.read_bytes().replace(str(root).encode(), b"<root>") for name, path in files.items()}


def test_same_seed_twice_gives_the_same_splits_images_and_manifests(tmp_path):
    source = make_folder_dataset(tmp_path / "source", {"covid": 12, "normal": 24})
    first = run_pipeline(tmp_path / "first", source)
    second = run_pipeline(tmp_path / "second", source)
    assert sorted(first) == sorted(second) and len([n for n in first if n.endswith(".png")]) == 12
    for name in first:
        assert first[name] == second[name], name
    # Not trivially equal: the images differ from one another and the manifest holds synthetic rows.
    assert len({first[n] for n in first if n.endswith(".png")}) == 12
    assert first["balanced.csv"].count(b",synthetic,") > 0
