"""Shared fixtures: tiny datasets generated under tmp_path, so tests never depend on the bundled data."""

import csv
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest


def synthetic_xray(rng: np.random.Generator, size: int, bright: bool) -> np.ndarray:
    """A gray test image: a smooth vertical gradient, noise and, for one class, a bright blob."""
    image = np.linspace(40, 160, size)[:, None] * np.ones((1, size)) + rng.normal(0, 12, (size, size))
    if bright:
        centre = rng.integers(size // 4, 3 * size // 4, 2)
        yy, xx = np.mgrid[:size, :size]
        image += 80 * np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * (size / 8) ** 2))
    return np.clip(image, 0, 255).astype(np.uint8)


def make_folder_dataset(root: Path, counts: dict[str, int], size: int = 32, seed: int = 0,
                        patients_per_class: dict[str, int] | None = None) -> Path:
    """Write a class-per-folder dataset of PNGs; with `patients_per_class`, also a manifest.csv.

    The first class in `counts` gets the bright blob. Returns `root`.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for class_index, (label, count) in enumerate(counts.items()):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            file = f"{label}/{label}_{i:03d}.png"
            cv2.imwrite(str(root / file), synthetic_xray(rng, size, bright=class_index == 0))
            patients = (patients_per_class or {}).get(label)
            patient = f"{label}-p{i % patients}" if patients else ""
            rows.append({"file": file, "label": label, "patient_id": patient})
    if patients_per_class:
        with open(root / "manifest.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["file", "label", "patient_id"])
            writer.writeheader()
            writer.writerows(rows)
    return root


@pytest.fixture
def folder_dataset(tmp_path) -> Path:
    """12 'covid' and 28 'normal' 32x32 PNGs in class folders, no manifest."""
    return make_folder_dataset(tmp_path / "xrays", {"covid": 12, "normal": 28})


@pytest.fixture
def patient_dataset(tmp_path) -> Path:
    """20 'covid' images of 8 patients and 40 'normal' images of 20 patients, with manifest.csv."""
    return make_folder_dataset(tmp_path / "xrays", {"covid": 20, "normal": 40},
                               patients_per_class={"covid": 8, "normal": 20})


@pytest.fixture
def npz_dataset(tmp_path) -> Path:
    """A MedMNIST-style .npz: 28x28, train 60 (20 normal / 40 pneumonia) and val 20, no test."""
    rng = np.random.default_rng(1)

    def split(n_normal, n_pneumonia):
        images = [synthetic_xray(rng, 28, bright=False) for _ in range(n_normal)]
        images += [synthetic_xray(rng, 28, bright=True) for _ in range(n_pneumonia)]
        labels = np.array([0] * n_normal + [1] * n_pneumonia, np.uint8)[:, None]
        return np.stack(images), labels

    train_images, train_labels = split(20, 40)
    val_images, val_labels = split(8, 12)
    path = tmp_path / "pneumoniamnist_small.npz"
    np.savez(path, train_images=train_images, train_labels=train_labels,
             val_images=val_images, val_labels=val_labels)
    return path


@pytest.fixture(autouse=True, scope="session")
def private_image_cache(tmp_path_factory):
    """Point xgan's decoded-image cache (and that of CLI subprocesses) at a folder of this test session."""
    previous = os.environ.get("XGAN_CACHE_DIR")
    os.environ["XGAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("xgan-cache"))
    yield
    if previous is None:
        os.environ.pop("XGAN_CACHE_DIR", None)
    else:
        os.environ["XGAN_CACHE_DIR"] = previous


@pytest.fixture(autouse=True, scope="session")
def models_one_after_another():
    """Commands given no --workers train their models one after another in their own process ($XGAN_WORKERS=1, for CLI
    subprocesses too), as the suite's timings assume: a worker process under pytest is spawned and imports TensorFlow
    afresh. The tests of the side-by-side path pass --workers (or `workers=`) themselves."""
    previous = os.environ.get("XGAN_WORKERS")
    os.environ["XGAN_WORKERS"] = "1"
    yield
    if previous is None:
        os.environ.pop("XGAN_WORKERS", None)
    else:
        os.environ["XGAN_WORKERS"] = previous


_XGAN_LOGGER = logging.getLogger("xgan")
_PRISTINE_LOGGER_STATE = (_XGAN_LOGGER.handlers[:], _XGAN_LOGGER.level, _XGAN_LOGGER.propagate)


@pytest.fixture(autouse=True)
def pristine_xgan_logger():
    """Give every test the "xgan" logger as it was before any CLI call configured it.

    The CLI gives that process-wide logger its own stderr handler and stops propagation to the root
    logger; left in place (also by a module-scoped fixture that ran the CLI), it hides later tests'
    warnings from pytest's `caplog`, which listens at the root.
    """
    _XGAN_LOGGER.handlers[:], _XGAN_LOGGER.level, _XGAN_LOGGER.propagate = _PRISTINE_LOGGER_STATE
