"""Rebuild xgan's bundled dataset from the shared data folder.

Run from the repository root: ``python tools/build_bundled_data.py ../shared/data``.

Only images whose licence allows redistribution are copied (see data/SOURCES.md):
the CC BY images of the Cohen COVID collection and the RSNA/NIH normals of the
COVID-19 Radiography Database, resized to 128 px; PneumoniaMNIST whole.
"""

import csv
import shutil
import sys
from pathlib import Path

import cv2

SIZE = 128
REDISTRIBUTABLE = ("CC BY 3.0", "CC BY 4.0")
RSNA_PREFIX = "COVID-19 Radiography Database"
KEPT_COLUMNS = ("file", "label", "patient_id", "source_repo", "source_path", "license",
                "source_commit", "view", "orig_width", "orig_height")


def main(shared_data: Path, out: Path = Path("data")) -> None:
    source = shared_data / "covid"
    target = out / "covid_ccby"
    rows = list(csv.DictReader(open(source / "manifest.csv", newline="")))
    kept = [r for r in rows if r["license"] in REDISTRIBUTABLE or r["license"].startswith(RSNA_PREFIX)]
    for row in kept:
        image = cv2.imread(str(source / row["file"]), cv2.IMREAD_GRAYSCALE)
        small = cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        destination = target / row["file"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(destination), small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    with open(target / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=KEPT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
    npz = shared_data / "pneumoniamnist" / "pneumoniamnist_28_trainval.npz"
    (out / "pneumoniamnist").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(npz, out / "pneumoniamnist" / npz.name)
    print(f"{len(kept)} images into {target}, {npz.name} into {out / 'pneumoniamnist'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
