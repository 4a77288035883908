"""Loading TensorFlow for the command line without its start-up chatter on stderr.

TensorFlow's C++ layer writes a handful of lines while it loads and first looks for devices ("oneDNN
custom operations are on", "Could not find cuda drivers", "failed call to cuInit: ... UNKNOWN ERROR")
before `TF_CPP_MIN_LOG_LEVEL` takes effect. On a CPU-only machine they are expected, yet one of them
reads like an error, and they would stand between a command's progress lines.

`quiet_tensorflow_startup` installs an import hook: whenever TensorFlow is first imported (by xgan's
code, by Keras, only when a command needs it), the import and the first device listing run with file
descriptor 2 caught; what was caught is written back only if they fail. The xgan CLI installs it unless
`-v` is given. Library users who import TensorFlow themselves see its own output, as usual.
"""

import gc
import importlib.abc
import importlib.util
import os
import sys
import tempfile
from contextlib import contextmanager


@contextmanager
def stderr_caught():
    """Catch everything written to file descriptor 2 (C code included); write it back only on an exception."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                caught.seek(0)
                sys.stderr.write(caught.read().decode(errors="replace"))
                sys.stderr.flush()


@contextmanager
def import_outside_collection(module_name: str):
    """Run a block that imports `module_name` (Keras, TensorFlow) for the first time with Python's cyclic
    garbage collector off, then freeze what exists (`gc.freeze`); once the module is imported, just run it.

    Importing Keras and TensorFlow allocates about a million objects that live as long as the process
    and frees almost none: the collections those allocations trigger find nothing, and every full
    collection after it (training makes them) would walk them again. Paused and then frozen, the
    import takes ~1 CPU second less (benchmarks/README.md, scale). Frozen objects are still freed when
    their last reference goes; only a cycle among them would not be, so this runs once, before any model exists.
    """
    if module_name in sys.modules or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        gc.enable()


class _QuietLoader(importlib.abc.Loader):
    """Wraps a module's loader so that executing the module (and `after(module)`) runs with stderr caught."""

    def __init__(self, loader, after):
        self._loader, self._after = loader, after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with stderr_caught():
            self._loader.exec_module(module)
            if self._after is not None:
                self._after(module)

    def __getattr__(self, name):  # resource readers and the like: the real loader's
        return getattr(self._loader, name)


class QuietImportFinder(importlib.abc.MetaPathFinder):
    """A one-shot `sys.meta_path` entry: the first import of `module_name` runs with stderr caught."""

    def __init__(self, module_name: str, after=None):
        self.module_name, self.after = module_name, after

    def find_spec(self, fullname, path, target=None):
        if fullname != self.module_name:
            return None
        self.remove()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader, self.after)
        return spec

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def _list_devices(tensorflow) -> None:
    # The CUDA probe ("failed call to cuInit") happens at the first device listing, not at import.
    tensorflow.config.list_physical_devices()


def quiet_tensorflow_startup() -> None:
    """Make TensorFlow's first import (whenever it comes) quiet on stderr; nothing to do once it is imported or hooked."""
    if "tensorflow" in sys.modules or any(isinstance(f, QuietImportFinder) and f.module_name == "tensorflow" for f in sys.meta_path):
        return
    sys.meta_path.insert(0, QuietImportFinder("tensorflow", after=_list_devices))
