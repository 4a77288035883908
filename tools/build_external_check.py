"""Build an external check set: shared COVID-collection images that the bundled set does not hold.

Run from the repository root: ``python tools/build_external_check.py ../shared/data samples/external``.

It copies, as a class-per-folder dataset, every image of ``../shared/data/covid`` that is not bundled in
``data/covid_ccby`` and whose patient has no bundled image (the Cohen collection; RSNA normals carry no
patient id and are all bundled). Models trained on the bundled set can then be scored on it with
``xgan evaluate --model M --data samples/external``. These images are not redistributable: keep the
folder out of git (samples/ is ignored).
"""

import csv
import shutil
import sys
from pathlib import Path


def main(shared_data: Path, out: Path, bundled: Path = Path("data/covid_ccby")) -> None:
    bundled_rows = list(csv.DictReader(open(bundled / "manifest.csv", newline="")))
    bundled_files = {row["file"] for row in bundled_rows}
    bundled_patients = {row["patient_id"] for row in bundled_rows if row["patient_id"]}
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out}: exists and is not empty; choose another folder")
    counts = {}
    for row in csv.DictReader(open(shared_data / "covid" / "manifest.csv", newline="")):
        if row["file"] in bundled_files or row["patient_id"] in bundled_patients or not row["patient_id"]:
            continue
        target = out / row["label"] / Path(row["file"]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / "covid" / row["file"], target)
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    print(f"{out}: {counts}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
