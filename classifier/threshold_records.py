"""Threshold records beside a saved classifier: the validation one in config.json, and site records in `thresholds/`.

`xgan classify` stores the threshold chosen on the validation split in the model's config.json (the
record named "validation"). `xgan calibrate` re-chooses it on a labelled slice of a new site's images
and writes `thresholds/<name>.json` beside the model, never touching config.json or another record,
so a site adopts a model without retraining and the original operating point stays. `evaluate` and
`predict` take `--threshold-record NAME` and say which record they called images at.
"""

import re
from pathlib import Path

from ..errors import UserError
from ..runs import read_json

VALIDATION_RECORD = "validation"  # the record in config.json: chosen on the model's own validation split
THRESHOLDS_FOLDER = "thresholds"
RECORD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_record_name(name: str, option: str = "--name") -> str:
    """A record name usable as a file name: letters, digits, `_`, `.` and `-`, not the reserved "validation".

    Raises:
        UserError: naming the option and what it expected.
    """
    if not isinstance(name, str) or not RECORD_NAME.match(name):
        raise UserError(f"{option} {name!r}: expected a record name of letters, digits, '_', '.' or '-' (at most 64, e.g. site_b)")
    return name


def record_path(model_file: Path, name: str) -> Path:
    """Where the record `name` of the model `model_file` (its model.keras) is kept."""
    return Path(model_file).parent / THRESHOLDS_FOLDER / f"{name}.json"


def read_record(model_file: Path, name: str, tta: bool = False) -> dict:
    """The threshold record `name` of a saved model (not the validation one, which is in config.json).

    Raises:
        UserError: no such record (naming those there are), an unreadable one, or one fitted with(out) TTA when the other is asked.
    """
    path = record_path(model_file, name)
    if not path.is_file():
        folder = path.parent
        there = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        raise UserError(f"--threshold-record {name}: {Path(model_file).parent} has no such record (records: "
                        f"{', '.join([VALIDATION_RECORD, *there])}); make one with `xgan calibrate --model ... --data ... --name {name}`")
    try:
        record = read_json(path)
        threshold = float(record["threshold"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a threshold record ({error}); expected the file `xgan calibrate` wrote") from None
    if bool(record.get("tta")) != bool(tta):
        with_tta = "with" if record.get("tta") else "without"
        raise UserError(f"--threshold-record {name}: fitted {with_tta} test-time augmentation; pass --tta {'' if record.get('tta') else 'not '}"
                        "as when it was calibrated")
    return {**record, "threshold": threshold, "record": name}


def describe_threshold(record: dict) -> str:
    """How a threshold record was chosen, for summaries: its name, rule and the images it was fitted on."""
    name = record.get("record", VALIDATION_RECORD)
    return f"record {name!r}: {record.get('method')}, fitted on {record.get('fitted_on')}"
