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
from xgan.distribute import check_global_batch, is_chief, make_strategy, read_tf_config
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


def test_the_classifier_refuses_multi_worker():
    from xgan.classifier.classify import ClassifyConfig

    with pytest.raises(UserError, match="multi-worker is not supported by the classifier"):
        ClassifyConfig(strategy="multi-worker")


def test_the_global_batch_must_split_evenly():
    check_global_batch(32, _Replicas(4))
    with pytest.raises(UserError, match="Expected a multiple of the 3 replicas.*Received: batch_size=32"):
        check_global_batch(32, _Replicas(3))


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


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_localhost_match_one_device(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 16, "normal": 24}, size=32)
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen([sys.executable, str(WORKER), "worker", str(data), str(tmp_path / "runs")],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                          env=_environment(TF_CONFIG=tf_config)))
    try:
        outputs = [process.communicate(timeout=1800)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    chief, other = (_result(output) for output in outputs)
    assert chief["chief"] and not other["chief"] and chief["replicas"] == 2
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["00000-gan-covid"]  # the other worker wrote nothing here
    single = subprocess.run([sys.executable, str(WORKER), "mirrored", str(data), str(tmp_path / "single")],
                            capture_output=True, text=True, env=_environment(), timeout=1800)
    reference = _result(single.stdout + single.stderr)
    np.testing.assert_allclose(chief["gan"], reference["gan_default"], rtol=1e-3)

