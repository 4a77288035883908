"""Drawing images from a trained generator: in memory, or into a traceable synthetic folder.

Latents come from numpy's generator seeded with `seed`, and the generator always runs on batches of
`SAMPLE_BATCH` latents (the last one padded), so image i of a seed is the same whether 10 or 1000
images are drawn, and the same seed writes byte-identical PNGs.
"""

import logging
from pathlib import Path

import numpy as np

from ..errors import UserError, invalid_argument
from ..runtime.inference import inference_function
from ..datasets.images import write_png
from ..runs import (SYNTHETIC_FOLDER, SYNTHETIC_MANIFEST, find_gan_run, read_gan_config, read_synthetic_manifest,
                    write_synthetic_manifest)
from .run_state import load_generator
from .preview import grid_columns, make_image_grid

log = logging.getLogger("xgan")

SAMPLE_BATCH = 100
CONTACT_SHEET = "contact_sheet.png"
CONTACT_SHEET_MAX = 400

def draw_latents(num_images: int, seed: int, latent_dim: int) -> np.ndarray:
    """(num_images, latent_dim) float32 standard-normal latents; a longer draw extends a shorter one."""
    return np.random.default_rng(seed).standard_normal((num_images, latent_dim), dtype=np.float32)


def to_uint8(images) -> np.ndarray:
    """Map generator output in [-1, 1], (N, S, S, 1) or (N, S, S), to (N, S, S) uint8."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images[..., 0]
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def generate_from_latents(generator, latents: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Run the generator in inference mode on given latents; returns (N, S, S) uint8.

    Args:
        labels: for a conditional generator (two inputs), the int class of each latent.
    """
    import tensorflow as tf

    latents = np.asarray(latents, dtype=np.float32)
    conditional = len(generator.inputs) == 2
    if conditional != (labels is not None):
        raise invalid_argument("labels", "one int label per latent for a conditional generator and none otherwise",
                               received=f"labels={'None' if labels is None else 'an array'} for a {'conditional' if conditional else 'one-input'} "
                               "generator", error=ValueError)
    function = inference_function(generator, reduce_retracing=True)
    outputs = []
    for start in range(0, len(latents), SAMPLE_BATCH):
        chunk = latents[start:start + SAMPLE_BATCH]
        padded = np.zeros((SAMPLE_BATCH, latents.shape[1]), np.float32)
        padded[:len(chunk)] = chunk
        inputs = [tf.constant(padded)]
        if conditional:
            padded_labels = np.zeros(SAMPLE_BATCH, np.int32)
            padded_labels[:len(chunk)] = np.asarray(labels, np.int32)[start:start + SAMPLE_BATCH]
            inputs.append(tf.constant(padded_labels))
        outputs.append(to_uint8(function(*inputs).numpy()[:len(chunk)]))
    size = int(generator.output_shape[1])
    return np.concatenate(outputs) if outputs else np.zeros((0, size, size), np.uint8)


def generate_images(generator, num_images: int, seed: int, latent_dim: int) -> np.ndarray:
    """Draw `num_images` images from a generator, deterministically for a seed.

    Args:
        generator: a generator from `load_generator` (or `model.ema_generator` during training).
        num_images: how many.
        seed: the latents' seed.
        latent_dim: the generator's input length (`info["latent_dim"]`).

    Returns:
        (num_images, S, S) uint8.
    """
    if num_images < 0:
        raise invalid_argument("num_images", "a non-negative integer", received=f"num_images={num_images}", error=ValueError)
    return generate_from_latents(generator, draw_latents(num_images, seed, latent_dim))


def sample_to_folder(run_dir: Path | str | None, num_images: int, out_dir: Path | str | None = None, *,
                     checkpoint: str | None = None, seed: int = 0, overwrite: bool = False,
                     runs_parent: Path | str = "samples", class_name: str | None = None) -> Path:
    """Write `num_images` PNGs from a run's EMA generator, with manifest.csv and contact_sheet.png.

    Args:
        run_dir: the GAN run folder; None = the latest under `runs_parent`.
        num_images: how many images.
        out_dir: the folder to write; None = `<run_dir>/synthetic`.
        checkpoint: snapshot name (see `list_checkpoints`); None = the latest.
        seed: the latents' seed; the same seed writes byte-identical files.
        overwrite: replace the images a previous `sample` wrote there.
        class_name: the class to draw from a conditional run (required there; its default folder
            is then `<run_dir>/synthetic-<class>`); a one-class run's own class or None.

    Returns:
        The folder written.

    Raises:
        UserError: no such run or checkpoint, or the folder already holds images and not `overwrite`.
    """
    if num_images < 1:
        raise invalid_argument("num_images", "a positive integer", received=f"num_images={num_images}", option="--n")
    run_dir = find_gan_run(run_dir, runs_parent)
    generator, info = load_generator(run_dir, checkpoint, class_name)  # checks the class before any file is touched
    conditional = bool(read_gan_config(run_dir).get("conditional"))
    default_dir = run_dir / (f"{SYNTHETIC_FOLDER}-{class_name}" if conditional else SYNTHETIC_FOLDER)
    out_dir = Path(out_dir) if out_dir is not None else default_dir
    file_names = [f"gen_s{seed}_{index:05d}.png" for index in range(num_images)]
    _prepare_folder(out_dir, file_names, overwrite)
    images = generate_images(generator, num_images, seed, info["latent_dim"])
    provenance = {"label": info["class_name"] or "synthetic", "dataset": Path(str(info["dataset"] or "")).name,
                  "dataset_fingerprint": info["dataset_fingerprint"] or "", "run": str(run_dir),
                  "checkpoint": info["checkpoint"], "checkpoint_step": info["step"], "seed": seed}
    write_synthetic_images(out_dir, file_names, images, provenance)
    log.info("wrote %d images from %s (%s) to %s", num_images, run_dir, info["checkpoint"], out_dir)
    return out_dir


def write_synthetic_images(out_dir: Path, file_names: list[str], images: np.ndarray, provenance: dict) -> None:
    """Write the PNGs, the contact sheet and manifest.csv (one row per image: its file, `provenance`, its index)."""
    rows = []
    for index, (name, image) in enumerate(zip(file_names, images)):
        write_png(out_dir / name, image)
        rows.append({"file": name, **provenance, "index": index})
    write_png(out_dir / CONTACT_SHEET, make_image_grid(images[:CONTACT_SHEET_MAX], grid_columns(min(len(images), CONTACT_SHEET_MAX))))
    write_synthetic_manifest(out_dir, rows)


def _prepare_folder(out_dir: Path, file_names: list[str], overwrite: bool) -> None:
    """Refuse a folder that already holds images, or clear what an earlier `sample` wrote there."""
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        return
    if not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder; pass another --out")
    existing = sorted(p.name for p in out_dir.iterdir() if p.suffix.lower() == ".png" or p.name == SYNTHETIC_MANIFEST)
    if not existing:
        return
    if not overwrite:
        raise UserError(f"{out_dir}: already holds {len(existing)} image/manifest file(s) (e.g. {existing[0]}); pass --overwrite to replace them or choose another --out")
    # Remove only what an earlier sample wrote (its manifest's files), never other images.
    if (out_dir / SYNTHETIC_MANIFEST).is_file():
        for row in read_synthetic_manifest(out_dir)[1]:
            name = (row.get("file") or "").strip()
            if name and "/" not in name and name not in file_names:
                (out_dir / name).unlink(missing_ok=True)
    (out_dir / CONTACT_SHEET).unlink(missing_ok=True)
