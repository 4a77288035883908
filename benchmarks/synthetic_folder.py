"""Write a class-per-folder dataset of generated gray PNGs, for the scale benchmarks.

The images are smooth random fields with a bright "lung" ellipse pair, so that PNG compression and
decoding cost about what a downscaled radiograph costs (a constant image would decode unrealistically
fast). One class in five is the minority, as in the chest X-ray sets xgan is meant for.

    python benchmarks/synthetic_folder.py OUT_FOLDER --num-images 10000 [--size 128]

A folder that already holds the asked number of PNGs is left as it is, so a benchmark can be re-run
without paying for the generation again.
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("normal", "pneumonia")
MINORITY_SHARE = 0.2


def synthetic_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """One (size, size) uint8 image: low-frequency noise, two ellipses and fine grain."""
    coarse = rng.normal(128, 40, (8, 8)).astype(np.float32)
    image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    centre, axes = (size // 2, size // 2), (size // 6, size // 3)
    for shift in (-size // 5, size // 5):
        cv2.ellipse(image, (centre[0] + shift, centre[1]), axes, 0, 0, 360, float(rng.uniform(160, 220)), -1)
    image = cv2.GaussianBlur(image, (0, 0), size / 64) + rng.normal(0, 6, (size, size)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_folder(root: Path, num_images: int, size: int = 128, seed: int = 0) -> Path:
    """Write `num_images` PNGs under root/normal and root/pneumonia (unless already there); return root."""
    root = Path(root)
    existing = sum(1 for _ in root.glob("*/*.png")) if root.is_dir() else 0
    if existing == num_images:
        return root
    if existing:
        raise SystemExit(f"{root} holds {existing} PNGs, not {num_images}; delete it or choose another folder")
    rng = np.random.default_rng(seed)
    num_minority = round(num_images * MINORITY_SHARE)
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for index in range(num_images):
        name = CLASSES[1] if index < num_minority else CLASSES[0]
        ok, encoded = cv2.imencode(".png", synthetic_image(rng, size))
        (root / name / f"{index:06d}.png").write_bytes(encoded.tobytes())
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--num-images", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_folder(args.out, args.num_images, args.size, args.seed)
    print(args.out)


if __name__ == "__main__":
    main()
