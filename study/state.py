"""A study folder's `study.json`: the study's options and what each finished stage produced, so a study resumes."""

import dataclasses
from pathlib import Path

from ..errors import UserError
from ..runs import latest_run_dir, read_json, write_json
from .config import StudyConfig

STUDY_FILE = "study.json"


class StudyState:
    """The study folder's `study.json`: the options and what each finished stage produced."""

    def __init__(self, folder: Path, config: StudyConfig, stages: dict | None = None):
        self.folder, self.config, self.stages = folder, config, stages or {}

    @classmethod
    def load(cls, folder: Path) -> "StudyState":
        path = folder / STUDY_FILE
        if not path.is_file():
            raise UserError(f"{folder}: not a study folder (no {STUDY_FILE}); expected a folder written by `xgan run`")
        data = read_json(path)
        return cls(folder, StudyConfig(**data["config"]), data["stages"])

    def done(self, stage: str) -> bool:
        return stage in self.stages

    def finish(self, stage: str, **details) -> None:
        self.stages[stage] = details
        self.save()

    def save(self) -> None:
        write_json(self.folder / STUDY_FILE, {"config": dataclasses.asdict(self.config), "stages": self.stages})


def find_study(resume: Path | None, parent: Path) -> Path:
    """The study folder to resume: `resume` itself, or the latest one under `parent`."""
    if resume is not None:
        return Path(resume)
    found = latest_run_dir(parent, STUDY_FILE)
    if found is None:
        raise UserError(f"{parent}: no study to resume; start one with `xgan run`")
    return found
