"""The CLI's quiet TensorFlow start-up: stderr caught during a module's first import, shown only on failure."""

import gc
import os
import subprocess
import sys

import pytest

from conftest import make_folder_dataset
from xgan.runtime.tensorflow_setup import QuietImportFinder, import_outside_collection, stderr_caught


def write_module(folder, name, body):
    (folder / f"{name}.py").write_text(body)


@pytest.fixture
def module_folder(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("chatty_")]:
        del sys.modules[name]


def test_stderr_caught_hides_c_level_writes_and_shows_them_on_failure(capfd):
    with stderr_caught():
        os.write(2, b"chatter from C\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError, match="boom"), stderr_caught():
        os.write(2, b"what went wrong\n")
        raise RuntimeError("boom")
    assert capfd.readouterr().err == "what went wrong\n"
    os.write(2, b"after\n")  # the descriptor is restored
    assert capfd.readouterr().err == "after\n"


def test_first_import_is_quiet_and_the_hook_removes_itself(module_folder, capfd):
    write_module(module_folder, "chatty_ok", "import os\nos.write(2, b'loading...\\n')\nVALUE = 3\n")
    seen = []
    finder = QuietImportFinder("chatty_ok", after=lambda module: seen.append(module.VALUE) or os.write(2, b"probe\n"))
    sys.meta_path.insert(0, finder)
    try:
        import chatty_ok
    finally:
        finder.remove()
    assert chatty_ok.VALUE == 3 and seen == [3]
    assert finder not in sys.meta_path
    assert capfd.readouterr().err == ""


def test_a_failing_import_shows_what_it_wrote(module_folder, capfd):
    write_module(module_folder, "chatty_broken", "import os\nos.write(2, b'missing libfoo.so\\n')\nraise ImportError('no libfoo')\n")
    finder = QuietImportFinder("chatty_broken")
    sys.meta_path.insert(0, finder)
    with pytest.raises(ImportError, match="no libfoo"):
        import chatty_broken  # noqa: F401
    assert "missing libfoo.so" in capfd.readouterr().err


def test_tensorflow_starts_quietly_after_the_cli_ran(tmp_path):
    # A fresh process, TensorFlow not yet imported: the CLI installs the hook, a later import uses it.
    code = ("import sys\n"
            "from xgan.cli import cli\n"
            "cli(['info', sys.argv[1]], prog_name='xgan', standalone_mode=False)\n"
            "import tensorflow as tf\n"
            "print(float(tf.constant(1.0) + 1.0))\n")
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 10, "normal": 12}, size=16)
    result = subprocess.run([sys.executable, "-c", code, str(data)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("2.0")
    assert result.stderr == "", result.stderr


def test_repeated_cli_calls_install_one_hook():
    code = ("import sys\n"
            "from xgan.runtime.tensorflow_setup import QuietImportFinder, quiet_tensorflow_startup\n"
            "quiet_tensorflow_startup(); quiet_tensorflow_startup()\n"
            "print(sum(isinstance(f, QuietImportFinder) for f in sys.meta_path), 'tensorflow' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["1", "False"], result.stderr


def test_a_first_import_runs_without_collections_then_freezes_and_a_later_one_runs_as_it_is(module_folder):
    write_module(module_folder, "big_module", "VALUES = [[i] for i in range(1000)]\n")
    frozen = gc.get_freeze_count()
    try:
        with import_outside_collection("big_module"):
            assert not gc.isenabled()
            import big_module  # noqa: F401
        assert gc.isenabled() and gc.get_freeze_count() >= frozen + 1000
        frozen = gc.get_freeze_count()
        with import_outside_collection("big_module"):
            assert gc.isenabled()
        # Nothing frozen again (that would add every tracked object, over a million here); the count may only fall,
        # as a frozen object is still freed when its last reference goes, at any moment of a test session.
        assert gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
        sys.modules.pop("big_module", None)


def test_a_failed_import_leaves_the_collector_on_and_freezes_nothing(module_folder):
    frozen = gc.get_freeze_count()
    with pytest.raises(ImportError), import_outside_collection("no_such_module_here"):
        import no_such_module_here  # noqa: F401
    assert gc.isenabled() and gc.get_freeze_count() == frozen
