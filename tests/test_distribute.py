"""tf.distribute: strategy choice and checks, and GAN and classifier runs under mirrored and multi-worker strategies on CPU."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import make_folder_dataset
from xgan.runtime.distribute import check_global_batch, is_chief, make_strategy, mean_over_workers, prepare_multi_worker_fit, read_tf_config
from xgan.errors import UserError
from xgan.gan import GanConfig

WORKER = Path(__file__).with_name("distribute_worker.py")


def test_unknown_strategy_is_refused():
    with pytest.raises(UserError, match=r"Expected one of default, mirrored, multi-worker. Received: strategy='tpu'"):
        make_strategy("tpu")
    with pytest.raises(UserError, match="argument `strategy`"):
        GanConfig(strategy="all")


@pytest.mark.parametrize("value, message", [(None, "needs the TF_CONFIG environment variable"),
                                            ("{not json", "is not a valid cluster description"),
                                            ('{"cluster": {}}', "is not a valid cluster description")])
def test_multi_worker_needs_a_valid_tf_config(monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(UserError, match=message):
        read_tf_config()


class _Replicas:
    def __init__(self, n):
        self.num_replicas_in_sync = n


def test_the_global_batch_must_split_evenly():
    check_global_batch(32, _Replicas(4))
    with pytest.raises(UserError, match="Expected a multiple of the 3 replicas.*Received: batch_size=32"):
        check_global_batch(32, _Replicas(3))


@pytest.mark.parametrize("num_images, batch_size, num_replicas, expected", [
    (48, 8, 2, 48),  # full batches only
    (49, 8, 2, 48),  # a last batch of 1 would leave one replica an empty share
    (51, 8, 2, 50),  # 3 -> 2
    (51, 8, 4, 48),  # 3 -> 0: no last batch
    (51, 8, 1, 51),  # one device: every image
])
def test_the_last_batch_is_cut_to_a_multiple_of_the_replicas(num_images, batch_size, num_replicas, expected):
    from xgan.classifier.train import images_per_epoch

    assert images_per_epoch(num_images, batch_size, num_replicas) == expected


def test_multi_worker_helpers_leave_other_strategies_alone():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    step = model.train_step
    prepare_multi_worker_fit(model, make_strategy("default"), element_spec=())
    assert model.train_step == step and "_maybe_symbolic_build" not in vars(model)
    assert mean_over_workers({"val_loss": 0.25}, make_strategy("default")) == {"val_loss": 0.25}


class _Resolver:
    def __init__(self, task_type, task_id, cluster):
        self.task_type, self.task_id, self._cluster = task_type, task_id, cluster

    def cluster_spec(self):
        class Spec:
            def as_dict(inner):
                return self._cluster
        return Spec()


@pytest.mark.parametrize("task_type, task_id, cluster, chief", [
    ("worker", 0, {"worker": ["a:1", "b:1"]}, True),
    ("worker", 1, {"worker": ["a:1", "b:1"]}, False),
    ("worker", 0, {"chief": ["c:1"], "worker": ["a:1"]}, False),
    ("chief", 0, {"chief": ["c:1"], "worker": ["a:1"]}, True),
])
def test_only_the_chief_writes_the_run(task_type, task_id, cluster, chief):
    strategy = type("Strategy", (), {"cluster_resolver": _Resolver(task_type, task_id, cluster)})()
    assert is_chief(strategy) is chief
    assert is_chief(make_strategy("default"))


def _environment(**extra) -> dict:
    """The test's environment (its xgan, its image cache) for a child, with no GPU and only the given TF_CONFIG."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    return {**env, "CUDA_VISIBLE_DEVICES": "", **extra}


def _result(output: str) -> dict:
    line = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    assert line is not None, output[-3000:]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_mirrored_runs_on_two_cpu_devices_match_one_device(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 16, "normal": 24}, size=32)
    run = subprocess.run([sys.executable, str(WORKER), "mirrored", str(data), str(tmp_path / "runs")],
                         capture_output=True, text=True, env=_environment(), timeout=1800)
    result = _result(run.stdout + run.stderr)
    assert result["replicas"] == 2
    assert len(result["gan_default"]) == 2
    np.testing.assert_allclose(result["gan_mirrored"], result["gan_default"], rtol=1e-3)
    np.testing.assert_allclose(result["gan_resumed_mirrored"], result["gan_default"], rtol=1e-3)
    np.testing.assert_allclose(result["classifier_mirrored"]["fixed_order"], result["classifier_default"]["fixed_order"], rtol=1e-4)
    assert np.isfinite(result["classifier_mirrored"]["train_classifier"]).all()


@pytest.mark.slow
def test_a_whole_study_runs_under_the_mirrored_strategy(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    run = subprocess.run([sys.executable, str(WORKER), "study", str(data), str(tmp_path / "runs")],
                         capture_output=True, text=True, env=_environment(), timeout=1800)
    assert _result(run.stdout + run.stderr)["replicas"] == 2
    study = json.loads((tmp_path / "runs" / "00000-study-xrays" / "study.json").read_text())
    assert study["config"]["strategy"] == "mirrored"
    assert list(study["stages"]) == ["data", "gan", "sample", "classify", "report"]
    assert json.loads((Path(study["stages"]["gan"]["run"]) / "config.json").read_text())["strategy"] == "mirrored"
    assert json.loads((Path(study["stages"]["classify"]["folder"]) / "options.json").read_text())["strategy"] == "mirrored"
    assert "ratio auto, 32 px, strategy mirrored)" in (tmp_path / "runs" / "00000-study-xrays" / "report.md").read_text()


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run_two_workers(mode: str, data: Path, out: Path) -> tuple[dict, dict]:
    """The results of the chief (task 0) and the other worker of a two-worker cluster on localhost."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen([sys.executable, str(WORKER), mode, str(data), str(out)],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                          env=_environment(TF_CONFIG=tf_config)))
    try:
        outputs = [process.communicate(timeout=1800)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    chief, other = (_result(output) for output in outputs)
    return chief, other


@pytest.mark.slow
def test_two_workers_on_localhost_match_one_device(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 16, "normal": 24}, size=32)
    chief, other = _run_two_workers("worker", data, tmp_path / "runs")
    assert chief["chief"] and not other["chief"] and chief["replicas"] == 2
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["00000-gan-covid"]  # the other worker wrote nothing here
    single = subprocess.run([sys.executable, str(WORKER), "mirrored", str(data), str(tmp_path / "single")],
                            capture_output=True, text=True, env=_environment(), timeout=1800)
    reference = _result(single.stdout + single.stderr)
    np.testing.assert_allclose(chief["gan"], reference["gan_default"], rtol=1e-3)



@pytest.mark.slow
def test_the_classifier_on_two_workers_matches_one_device(tmp_path):
    from distribute_worker import classifier_losses
    from xgan.datasets.dataset import load_dataset
    from xgan.datasets.splits import resolve_splits

    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 23}, size=16)
    resolve_splits(load_dataset(data, 16))  # the splits file and the image cache, written once before the workers read them
    chief, other = _run_two_workers("classifier", data, tmp_path / "runs")
    assert chief["chief"] and not other["chief"] and chief["replicas"] == 2
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["00000-classify-baseline"]  # the other worker wrote nothing here
    run_dir = tmp_path / "runs" / "00000-classify-baseline"
    assert {"model.keras", "metrics.json", "history.json", "predictions.csv", "options.json"} <= {p.name for p in run_dir.iterdir()}
    assert json.loads((run_dir / "options.json").read_text())["strategy"] == "multi-worker"
    reference = classifier_losses("default")  # one device, in this process
    for name in ("fixed_order", "train_classifier", "val_loss"):
        assert len(reference[name]) == 2
        np.testing.assert_allclose(chief["classifier"][name], reference[name], rtol=1e-4, err_msg=name)
