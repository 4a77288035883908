"""tf.distribute strategies for GAN and classifier training: one device, the GPUs of one machine, several machines.

`--strategy default` trains on one device (TensorFlow's default strategy). `mirrored` replicates the
model on every GPU of the machine (`MirroredStrategy`; on a machine without GPUs, on its logical
CPU devices when several are configured, else on the one CPU). `multi-worker` replicates it across
machines (`MultiWorkerMirroredStrategy`), which reads the cluster from the `TF_CONFIG` environment
variable: the same command runs on every machine, each with its own `task.index`.

The batch size is global: each of R replicas computes 1/R of it and the gradients are summed over
replicas from losses scaled by 1/R, so a step is the same step as on one device. The learning rate
is used as given, not scaled with R: more replicas at the same batch size train exactly as one
device did, only faster; raise the batch size (and, by the linear-scaling rule, the learning rate)
yourself to use the extra devices for larger steps.
"""

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from ..errors import UserError, invalid_argument

log = logging.getLogger("xgan")

STRATEGIES = ("default", "mirrored", "multi-worker")

_created = {}  # a process may create a multi-worker strategy once only


def make_strategy(name: str = "default"):
    """The `tf.distribute.Strategy` called `name` (one of STRATEGIES), created once per process.

    Raises:
        UserError: an unknown name, or `multi-worker` without a valid TF_CONFIG.
    """
    if name not in STRATEGIES:
        raise invalid_argument("strategy", f"one of {', '.join(STRATEGIES)}", name)
    if name in _created:
        return _created[name]
    import tensorflow as tf

    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        devices = [d.name for d in gpus] if gpus else [d.name for d in cpus]
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        cluster = read_tf_config()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        log.info("multi-worker strategy: task %s/%s of a cluster of %d worker(s)", cluster["task"]["type"],
                 cluster["task"]["index"], sum(len(v) for v in cluster["cluster"].values()))
    log.info("strategy %s: %d replica(s)", name, strategy.num_replicas_in_sync)
    _created[name] = strategy
    return strategy


def read_tf_config() -> dict:
    """The parsed TF_CONFIG of a multi-worker run.

    Raises:
        UserError: TF_CONFIG missing, not JSON, or without `cluster` and `task`.
    """
    text = os.environ.get("TF_CONFIG")
    example = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    if not text:
        raise UserError(f"--strategy multi-worker needs the TF_CONFIG environment variable on every machine, e.g. TF_CONFIG='{example}'")
    try:
        config = json.loads(text)
        config["cluster"], config["task"]["type"], config["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"TF_CONFIG={text!r} is not a valid cluster description; expected e.g. {example}") from None
    return config


def is_chief(strategy) -> bool:
    """Whether this process writes the run folder: always, except on the non-chief workers of a multi-worker run."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


@contextlib.contextmanager
def run_parent(out, strategy: str):
    """The folder to make a run folder in: `out`, or, on a non-chief worker of a multi-worker run, a
    temporary folder deleted afterwards (the chief alone writes the run; the others train alike).

    Args:
        out: the parent folder the command was given.
        strategy: the run's strategy name (one of STRATEGIES).
    """
    if strategy != "multi-worker" or is_chief(make_strategy(strategy)):
        yield Path(out)
        return
    with tempfile.TemporaryDirectory(prefix="xgan-worker-") as folder:
        yield Path(folder)


def check_global_batch(batch_size: int, strategy) -> None:
    """Refuse a global batch size that the replicas cannot share equally.

    Raises:
        UserError: `batch_size` is not a multiple of the number of replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise invalid_argument("batch_size", f"a multiple of the {replicas} replicas of the strategy (the batch size is global)", batch_size)


def prepare_multi_worker_fit(model, strategy, element_spec=None) -> None:
    """Let `model.fit` run under a multi-worker strategy; does nothing under other strategies.

    Keras 3's fit (keras/src/backend/tensorflow/trainer.py) fails twice under MultiWorkerMirroredStrategy,
    and both are worked around on `model` alone:

    - It reduces a step's logs with `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalar
      logs every train step returns; as one-element vectors, their mean over the workers is the scalar.
    - Before the first step (`_maybe_symbolic_build`) it builds the model's metrics and loss from the first
      distributed batch, reduced over the workers with `strategy.reduce("MEAN", batch, axis=None)`. That
      reduce takes one tensor, not a structure: a batch of (images, labels) fails with "Attempt to convert
      a value (PerReplica...) with an unsupported type to a Tensor". Building needs shapes and dtypes only,
      so with `element_spec` (the `element_spec` of the dataset given to fit) the model is built from it.

    Args:
        element_spec: the spec of fit's dataset elements; needed when they are tuples. None keeps Keras'
            build, which works on a batch of one tensor (the GAN's placeholder stream).
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    step = model.train_step

    def train_step(data):
        return {name: tf.reshape(value, [1]) for name, value in step(data).items()}

    model.train_step = train_step
    if element_spec is not None:
        build = model._maybe_symbolic_build  # Keras' own (3.15); an AttributeError here means Keras changed it

        def build_from_spec(iterator=None, data_batch=None):
            return build(data_batch=element_spec if data_batch is None else data_batch)

        model._maybe_symbolic_build = build_from_spec


def input_options(auto_shard_policy: str):
    """The tf.data options of every training input pipeline: `auto_shard_policy` ("DATA" or "OFF", how a multi-worker
    strategy splits it) and tf.data's autotuning off.

    With autotuning on, a process whose threads share one core sat idle part of the time: a classifier trained pinned
    to one core kept it 0.86 busy (12.9 s), two one-thread workers side by side 0.60-0.88 busy each, and a 700-epoch GAN
    run waited up to 40 s at 0% CPU before `fit` returned. With it off the same classifier kept its core busy (10.6 s)
    and gave the same losses to the last digit, and on two threads it was no slower (benchmarks/README.md, "tf.data's
    autotuning"). Batches and their order do not depend on it; the map's and prefetch's AUTOTUNE then mean tf.data's
    fixed defaults.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = getattr(tf.data.experimental.AutoShardPolicy, auto_shard_policy)
    options.autotune.enabled = False
    return options


def mean_over_workers(values: dict[str, float], strategy) -> dict[str, float]:
    """`values` averaged over the workers of a multi-worker strategy (as they are under other strategies).

    What decides when training stops (early stopping on validation scores) must be the same number on
    every worker: a worker that stops alone leaves the others waiting for it in the next step. Every
    worker computes the same scores from the same weights, but machines of other hardware may round
    them differently; their mean is one number everywhere.
    """
    import tensorflow as tf

    if not values or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return values
    mean = strategy.reduce("MEAN", tf.constant(list(values.values()), tf.float64), axis=None).numpy()
    return {name: float(value) for name, value in zip(values, mean)}
