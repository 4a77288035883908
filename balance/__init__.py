"""Balancing a training set to a target: with GAN images, by random oversampling, or by class weights.

Reads synthetic folders through their manifest.csv and their GAN runs through their training keys and
config.json only; nothing here imports the GAN package or TensorFlow.
"""

from .builder import METHODS, build_training_set, check_training_only
from .manifest import COLUMNS, ORIGINS, TrainingRow, count_rows, read_training_manifest, write_training_manifest
from .report import summarize
from .strategy import AUTO, DEFAULT_EQUAL_SHARE, MIXES, parse_target, resolve_mix, resolve_target, target_label
from .synthetic import SyntheticFolder, SyntheticImage, check_matches_dataset, check_no_leak, read_synthetic_folder
from .weights import class_weights

__all__ = [
    "AUTO", "COLUMNS", "DEFAULT_EQUAL_SHARE", "MIXES", "resolve_mix", "METHODS", "ORIGINS", "SyntheticFolder", "SyntheticImage", "TrainingRow",
    "build_training_set", "check_matches_dataset", "check_no_leak", "check_training_only", "class_weights",
    "count_rows", "parse_target", "read_synthetic_folder", "read_training_manifest", "resolve_target",
    "summarize", "target_label", "write_training_manifest",
]
