"""House rules checked on the source: one home for run-folder file names, no pyplot, one argument-check helper."""

import ast
import configparser
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for p in ROOT.rglob("*.py")
                 if not {"tests", "benchmarks", "tools", "build", ".git"} & set(p.relative_to(ROOT).parts))


def sources_containing(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return sorted(str(p.relative_to(ROOT)) for p in SOURCES if regex.search(p.read_text()))


def test_the_walk_sees_the_package():
    names = {str(p.relative_to(ROOT)) for p in SOURCES}
    assert {"runs.py", "cli.py", "gan/train.py", "balance/synthetic.py", "quality/inputs.py"} <= names


@pytest.mark.parametrize("pattern", [
    re.escape("training_keys.json"),  # the GAN run's training keys
    r'"checkpoint_step",\s*"seed",\s*"index"',  # the synthetic manifest's column list
    r"def read_synthetic_folder\b",
])
def test_run_folder_names_readers_and_columns_live_in_runs_py_only(pattern):
    assert sources_containing(pattern) == ["runs.py"]


def test_figures_never_go_through_pyplot_or_switch_the_backend():
    assert sources_containing(r"matplotlib\.pyplot|matplotlib\.use\(|import pyplot") == []


ARGUMENT_CHECK = "Invalid value received for argument"


def inline_argument_checks(source: str, name: str = "<source>") -> list[str]:
    """`file:line` of each exception (UserError, ValueError, ...) built with the argument-check message inline
    instead of through errors.invalid_argument."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)) and node.args:
            called = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            first = node.args[0]
            pieces = first.values if isinstance(first, ast.JoinedStr) else [first]
            text = "".join(p.value for p in pieces if isinstance(p, ast.Constant) and isinstance(p.value, str))
            if called.endswith(("Error", "Exception")) and text.startswith(ARGUMENT_CHECK):
                found.append(f"{name}:{node.lineno}")
    return found


def test_one_argument_check_helper():
    assert sources_containing(r"def _invalid\b") == []
    assert sources_containing(r"def invalid_argument\b") == ["errors.py"]
    inline = [hit for p in SOURCES if p.name != "errors.py" and ARGUMENT_CHECK in (text := p.read_text())
              for hit in inline_argument_checks(text, str(p.relative_to(ROOT)))]
    assert inline == []


@pytest.mark.parametrize("source, expected", [
    ('raise UserError(f"Invalid value received for argument `n`. Expected a positive integer. Received: n={n}")', ["<source>:1"]),
    ('raise errors.UserError(\n    "Invalid value received for argument `mix`. "\n    f"Expected one of a, b. Received: mix={m!r}")', ["<source>:1"]),
    ('raise ValueError(f"Invalid value received for argument `k`. Expected a positive integer. Received: k={k}")', ["<source>:1"]),
    ('x = 1\nraise ValueError("Invalid value received for argument `a`/`b`. Expected "\n    f"both. Received: {n} and {m}") from None',
     ["<source>:2"]),
    ('raise TypeError(f"Invalid value received for argument `k`. Expected an int. Received: {type(k)}")', ["<source>:1"]),
    ('raise invalid_argument("n", "a positive integer", n)', []),
    ('raise invalid_argument("k", "a positive integer", received=f"k={k}", error=ValueError)', []),
    ('raise ValueError(f"{path}: expected a positive integer")', []),
    ('raise UserError(f"{path}: no such file")', []),
])
def test_the_argument_check_rule_finds_inline_copies(source, expected):
    assert inline_argument_checks(source) == expected


# --- Layering: which package may import which (docs/ARCHITECTURE.md) -------------------------------------

# Root modules by role: the shared helpers, the command line, the Python API, and the package face (`__init__.py`,
# whose own names, such as `__version__`, every module may read; it hands the API's names on lazily).
ROOT_MODULE_PACKAGES = {"errors": "helpers", "runs": "helpers", "progress": "helpers", "cli": "cli", "api": "api",
                        "__init__": "face"}
# Each package and the packages it may import (its own modules and the root face always). Lower layers first.
ALLOWED_IMPORTS = {
    "helpers": set(),
    "datasets": {"helpers"},
    "runtime": {"helpers"},
    "measures": {"helpers", "datasets", "runtime"},
    "balance": {"helpers", "datasets", "runtime"},
    "gan": {"helpers", "datasets", "runtime"},
    "classifier": {"helpers", "datasets", "runtime", "measures", "balance"},
    "quality": {"helpers", "datasets", "runtime", "measures", "balance", "gan", "classifier"},
    "study": {"helpers", "datasets", "runtime", "measures", "balance", "gan", "classifier", "quality"},
    "api": {"helpers", "datasets", "runtime", "measures", "balance", "gan", "classifier", "quality", "study"},
    "cli": {"helpers", "datasets", "runtime", "measures", "balance", "gan", "classifier", "quality", "study"},
    "face": {"api"},
}
MAX_ROOT_MODULES = 6


@dataclass(frozen=True)
class Import:
    """One import statement's target inside the package: where it is written and the module it reaches."""

    file: str
    line: int
    source: str  # the importing module, e.g. "xgan.gan.train"
    target: str  # the imported module, e.g. "xgan.runs"; the face "xgan" for its own names
    text: str  # the statement as written


def package_modules(root: Path) -> dict[str, Path]:
    """Every module of the package rooted at `root`: the root's .py files and those of its folders with an `__init__.py`."""
    modules = {}
    for path in sorted(root.glob("*.py")):
        modules[_module_name(root, path)] = path
    for face in sorted(root.glob("*/__init__.py")):
        for path in sorted(face.parent.rglob("*.py")):
            modules[_module_name(root, path)] = path
    return modules


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["xgan", *parts])


def package_of(module: str) -> str:
    """The layering's package of a module: "gan" for xgan.gan.train, "helpers" for xgan.runs, "face" for xgan."""
    parts = module.split(".")
    if len(parts) == 1:
        return "face"
    if len(parts) == 2 and parts[1] in ROOT_MODULE_PACKAGES:
        return ROOT_MODULE_PACKAGES[parts[1]]
    return parts[1]


def package_imports(root: Path) -> list[Import]:
    """Every import of a package module inside the package, relative or `xgan.` absolute, at any depth of the code."""
    modules = package_modules(root)
    face_names = _names_defined_at_top(root / "__init__.py")
    imports = []
    for source, path in modules.items():
        is_face = path.name == "__init__.py"
        home = source if is_face else source.rpartition(".")[0]
        text_lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.split(".")[0] == "xgan"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = home.split(".")[: len(home.split(".")) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module.split(".")[0] != "xgan":
                    continue
                targets = []
                for alias in node.names:
                    if f"{module}.{alias.name}" in modules:
                        targets.append(f"{module}.{alias.name}")
                    elif module == "xgan" and alias.name not in face_names:
                        targets.append("xgan.api")  # a name the face hands on from the API
                    else:
                        targets.append(module)
            else:
                continue
            statement = text_lines[node.lineno - 1].strip()
            for target in dict.fromkeys(targets):
                imports.append(Import(str(path.relative_to(root)), node.lineno, source, target, statement))
    return imports


def _names_defined_at_top(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def layering_violations(root: Path, allowed: dict[str, set[str]] = ALLOWED_IMPORTS) -> list[str]:
    """One line per import that runs against the layering, or from or to a package the layering does not know."""
    modules = package_modules(root)
    problems = []
    for found in package_imports(root):
        where = f"{found.file}:{found.line} `{found.text}`"
        source, target = package_of(found.source), package_of(found.target)
        if found.target not in modules:
            problems.append(f"{where}: imports {found.target}, which is not a module of the package")
        elif source not in allowed:
            problems.append(f"{where}: package {source!r} is not in the layering (ALLOWED_IMPORTS)")
        elif target not in {source, "face"} and target not in allowed[source]:
            problems.append(f"{where}: {source} may not import {target} "
                            f"({source} may import: {', '.join(sorted(allowed[source])) or 'nothing'})")
    return problems


def import_cycles(root: Path) -> list[list[str]]:
    """The module import graph's circles: each strongly connected group of more than one module (or a self-import)."""
    graph: dict[str, set[str]] = {module: set() for module in package_modules(root)}
    for found in package_imports(root):
        if found.target in graph:
            graph[found.source].add(found.target)
    # Tarjan's strongly connected components, iteratively.
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter[0]
                    counter[0] += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1 or node in graph[node]:
                        cycles.append(sorted(group))
    return cycles


def test_imports_run_down_the_layers_only():
    problems = layering_violations(ROOT)
    assert not problems, "\n".join(problems)


def test_the_module_import_graph_has_no_circle():
    cycles = import_cycles(ROOT)
    assert not cycles, "\n".join(" <-> ".join(group) for group in cycles)


def test_the_root_holds_few_modules():
    root_modules = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(root_modules) <= MAX_ROOT_MODULES, root_modules
    assert {p.stem for p in ROOT.glob("*.py")} <= set(ROOT_MODULE_PACKAGES)


def test_every_package_folder_is_installed_and_layered():
    folders = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    installed = {name.strip() for name in config["options"]["packages"].split(",")}
    assert installed == {"xgan"} | {f"xgan.{folder}" for folder in folders}
    assert folders <= set(ALLOWED_IMPORTS)


def test_the_import_walk_sees_relative_absolute_and_function_level_imports():
    found = {(i.source, i.target) for i in package_imports(ROOT)}
    assert ("xgan.cli", "xgan.study.runner") in found  # inside a command function
    assert ("xgan.runs", "xgan.errors") in found  # relative, at the top
    assert ("xgan.gan.train", "xgan") in found  # the face's __version__


def _write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _good_tree() -> dict[str, str]:
    return {
        "__init__.py": '__version__ = "0"\n',
        "errors.py": "",
        "runs.py": "from .errors import UserError\n",
        "datasets/__init__.py": "",
        "datasets/images.py": "from .. import runs\n",
        "gan/__init__.py": "",
        "gan/train.py": "from .. import __version__\nfrom ..datasets.images import x\n",
        "classifier/__init__.py": "",
        "classifier/model.py": "import xgan.datasets.images\n",
    }


def test_a_clean_synthetic_tree_passes(tmp_path):
    root = _write_tree(tmp_path, _good_tree())
    assert layering_violations(root) == []
    assert import_cycles(root) == []


@pytest.mark.parametrize("file, text, message", [
    ("datasets/images.py", "def load():\n    from ..gan import train\n",
     r"^datasets/images\.py:2 `from \.\.gan import train`: datasets may not import gan \(datasets may import: helpers\)$"),
    ("gan/train.py", "import xgan.classifier.model\n", r"^gan/train\.py:1 `import xgan\.classifier\.model`: gan may not import classifier"),
    ("runs.py", "from .gan.train import x\n", r"^runs\.py:1 .*: helpers may not import gan \(helpers may import: nothing\)$"),
    ("gan/train.py", "from .. import load_dataset\n", r"^gan/train\.py:1 .*: imports xgan\.api, which is not a module"),
    ("gan/train.py", "from ..gone import x\n", r"imports xgan\.gone, which is not a module of the package$"),
    ("plots/__init__.py", "from ..runs import x\n", r"^plots/__init__\.py:1 .*: package 'plots' is not in the layering"),
])
def test_an_upward_import_is_named_with_its_file_and_statement(tmp_path, file, text, message):
    root = _write_tree(tmp_path, {**_good_tree(), file: text})
    problems = layering_violations(root)
    assert len(problems) == 1 and re.search(message, problems[0]), problems


def test_a_circle_inside_one_package_is_found(tmp_path):
    root = _write_tree(tmp_path, {**_good_tree(), "gan/a.py": "from . import b\n",
                                  "gan/b.py": "def f():\n    from .a import x\n"})
    assert layering_violations(root) == []
    assert import_cycles(root) == [["xgan.gan.a", "xgan.gan.b"]]


def test_a_face_that_imports_its_own_submodule_back_is_a_circle(tmp_path):
    root = _write_tree(tmp_path, {**_good_tree(), "gan/__init__.py": "from .train import x\n",
                                  "gan/train.py": "from ..gan import y\n"})
    assert import_cycles(root) == [["xgan.gan", "xgan.gan.train"]]
