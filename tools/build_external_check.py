"""Build an external check set: shared COVID-collection images that the bundled set does not hold.

Run from the repository root: ``python tools/build_external_check.py ../shared/data samples/external``.

It copies, as a class-per-folder dataset with a ``manifest.csv`` (file, label, patient id, and each
image's source and licence), every image of ``../shared/data/covid`` that is not bundled in
``data/covid_ccby`` and whose patient has no bundled image (the Cohen collection; RSNA normals carry no
patient id and are all bundled). The folder is what ``--external`` and ``xgan evaluate`` read:
``xgan classify --compare --data covid_ccby --external cohen=samples/external`` scores every arm's
models on it beside the internal test split, and ``xgan run --data covid_ccby --external
cohen=samples/external`` does the same in the study. These images are not redistributable (many are
CC BY-NC-SA, -ND or of unspecified licence; see ../shared/data/SOURCES.md): keep the folder out of git
(samples/ is ignored).
"""

import csv
import shutil
import sys
from pathlib import Path

COLUMNS = ("file", "label", "patient_id", "source_repo", "source_path", "license", "source_commit", "view")


def main(shared_data: Path, out: Path, bundled: Path = Path("data/covid_ccby")) -> dict[str, int]:
    with open(bundled / "manifest.csv", newline="") as handle:
        bundled_rows = list(csv.DictReader(handle))
    bundled_files = {row["file"] for row in bundled_rows}
    bundled_patients = {row["patient_id"] for row in bundled_rows if row["patient_id"]}
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out}: exists and is not empty; choose another folder")
    counts, rows = {}, []
    with open(shared_data / "covid" / "manifest.csv", newline="") as handle:
        shared_rows = list(csv.DictReader(handle))
    for row in shared_rows:
        if row["file"] in bundled_files or row["patient_id"] in bundled_patients or not row["patient_id"]:
            continue
        file = f"{row['label']}/{Path(row['file']).name}"
        (out / row["label"]).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / "covid" / row["file"], out / file)
        rows.append({**{column: row.get(column, "") for column in COLUMNS}, "file": file})
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    # Written last: a folder with its manifest is complete; patient ids travel with it (splits and leak checks read them).
    with open(out / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{out}: {counts}; score models on it with --external {out.name}={out} (xgan classify --compare, xgan run) "
          f"or xgan evaluate --data {out}")
    return counts


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
