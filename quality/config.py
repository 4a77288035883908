"""Configuration of `xgan quality`: one dataclass, validated on construction, saved beside the report."""

from dataclasses import asdict, dataclass

from ..errors import invalid_argument
from .features import FEATURE_KINDS, INCEPTION_DEFAULT_SIZE, INCEPTION_MIN_SIZE
from .memorization import DEFAULT_COPY_THRESHOLD


@dataclass
class QualityConfig:
    """What to compare, with which features, and where to write the report.

    Synthetic images come either from a GAN run (`run`, sampled from `checkpoint`) or from a folder
    (`synthetic`). The real reference set is the class's real training images: the keys in the run's
    training keys (what the GAN saw) when the run is known, else the class's training split.
    """

    run: str | None = None  # GAN run folder: sample from it, and take dataset, class and training keys from it
    synthetic: str | None = None  # a folder of generated PNGs (e.g. from `xgan sample`) instead of sampling
    data: str | None = None  # dataset [default: the run's, else the synthetic manifest's, else the bundled one]
    splits: str | None = None  # splits.json [default: the run's, else beside the dataset]
    class_name: str | None = None  # class to compare [default: the run's class, or the synthetic manifest's label]
    checkpoint: str | None = None  # generator checkpoint to sample [default: the latest]
    checkpoints: str | None = None  # "all" or comma-separated names: score these by KID and recommend one
    num_images: int = 500  # images to sample from the generator (per checkpoint when selecting)
    features: tuple[str, ...] = ("classifier", "pixels")  # feature spaces; "inception" needs inception_weights
    features_model: str | None = None  # a saved classifier (.keras) for the "classifier" features, instead of training one
    features_epochs: int = 15  # epochs of the feature classifier trained on the real training split
    inception_weights: str | None = None  # local InceptionV3 no-top weights file; never downloaded
    inception_size: int = INCEPTION_DEFAULT_SIZE  # InceptionV3 input side (>= 75)
    copy_threshold: float = DEFAULT_COPY_THRESHOLD  # pixel correlation at or above which an image is a near copy
    neighbours: int = 3  # k of the k-NN manifolds for precision/recall
    kid_subsets: int = 100  # random subsets KID is averaged over
    kid_subset_size: int = 1000  # upper bound on the images per subset (the smaller set's size when fewer)
    num_folds: int = 5  # cross-validation folds of the two-sample test
    num_pairs: int = 8  # closest synthetic/training pairs shown in the figure
    out: str | None = None  # output folder [default: <run>/quality, or <synthetic>/quality]
    overwrite: bool = False  # replace an existing report in the output folder
    seed: int = 0  # latents, subsets, folds and the feature classifier

    def __post_init__(self):
        self.features = tuple(dict.fromkeys(self.features))
        if self.inception_weights and "inception" not in self.features:
            self.features = (*self.features, "inception")
        if self.run is None and self.synthetic is None:
            raise invalid_argument("run", "a GAN run folder, or a synthetic folder given as `synthetic`", None)
        if self.checkpoints is not None and self.run is None:
            raise invalid_argument("checkpoints", "to be used with a GAN run (`run`)", self.checkpoints)
        if self.checkpoints is not None and self.synthetic is not None:
            raise invalid_argument("checkpoints", "no synthetic folder: checkpoints are scored on images sampled from the run", self.checkpoints)
        if self.checkpoint is not None and self.synthetic is not None:
            raise invalid_argument("checkpoint", "no synthetic folder: the folder's images are used as they are", self.checkpoint)
        if not self.features or any(kind not in FEATURE_KINDS for kind in self.features):
            raise invalid_argument("features", f"one or more of {FEATURE_KINDS}", self.features)
        if "inception" in self.features and not self.inception_weights:
            raise invalid_argument("features", "a local weights file in `inception_weights` for the inception features "
                           "(xgan never downloads weights)", self.features)
        if not isinstance(self.num_images, int) or self.num_images < 10:
            raise invalid_argument("num_images", "an integer >= 10", self.num_images)
        if not isinstance(self.features_epochs, int) or self.features_epochs < 1:
            raise invalid_argument("features_epochs", "a positive integer", self.features_epochs)
        if self.inception_size < INCEPTION_MIN_SIZE:
            raise invalid_argument("inception_size", f"an integer >= {INCEPTION_MIN_SIZE}", self.inception_size)
        if not 0 < self.copy_threshold <= 1:
            raise invalid_argument("copy_threshold", "a correlation in (0, 1]", self.copy_threshold)
        if self.neighbours < 1:
            raise invalid_argument("neighbours", "a positive integer", self.neighbours)
        if self.kid_subsets < 1:
            raise invalid_argument("kid_subsets", "a positive integer", self.kid_subsets)
        if self.kid_subset_size < 2:
            raise invalid_argument("kid_subset_size", "an integer >= 2", self.kid_subset_size)
        if self.num_folds < 2:
            raise invalid_argument("num_folds", "an integer >= 2", self.num_folds)
        if self.num_pairs < 1:
            raise invalid_argument("num_pairs", "a positive integer", self.num_pairs)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["features"] = list(self.features)
        return data
