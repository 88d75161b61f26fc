"""The architecture, checked on the source with ast alone (nothing is imported, TensorFlow least of all):

- the layers point down: a module imports its own layer and those below it, never one above, and every module is
  placed in a layer (RANKS);
- the modules import no cycle, counting every import (module top, inside functions, under `if TYPE_CHECKING:`);
- the engine takes typed specs, never the whole Settings;
- no function is longer than MAX_FUNCTION_LINES lines;
- every module docs/ARCHITECTURE.md names exists.

Each rule is a small helper that returns its problems as readable lines; each helper is also run on a tiny
synthetic package written into tmp_path, so that every rule is seen to fail when it should.
"""
from __future__ import annotations

import ast
import functools
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_style"
ARCHITECTURE_DOC = ROOT / "docs" / "ARCHITECTURE.md"
MAX_FUNCTION_LINES = 60

# The layers, bottom to top: a module may import a module of its own rank or a lower one, never a higher one.
# Keys are paths under keras_style/: a folder (ending in "/") covers everything below it, a file covers itself; the
# longest key that covers a module gives its rank. A module no key covers fails test_imports_point_down.
RANKS: dict[str, int] = {
    "errors.py": 0,
    "version.py": 0,
    "config/": 1,
    "files/": 2,
    "engine/": 3,
    "run/": 4,
    "apps/": 5,
    "__init__.py": 6,  # the public facade (the top-level file only: config/__init__.py is under "config/")
    "__main__.py": 6,
}
ENGINE_FOLDER = "engine/"
SETTINGS_MODULE = "keras_style.config.settings"
SETTINGS_CLASS = "Settings"


# --- the modules and their imports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    name: str  # dotted; a package is named by its folder (its __init__.py is its own node)
    path: Path
    relative: str  # the path under the package folder, with "/" separators: "engine/network.py"

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


@dataclass(frozen=True)
class Import:
    importer: Module
    imported: str  # the dotted module name, resolved to a submodule where `from package import submodule`
    line: int
    names: tuple[str, ...] = ()  # the names `from module import ...` takes when they are not submodules


def find_modules(package: Path) -> dict[str, Module]:
    """Every .py file under the package folder, by dotted name."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = Module(".".join(parts), path, relative)
    return modules


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _in_package(name: str, root: str) -> bool:
    return name == root or name.startswith(root + ".")


def _from_base(node: ast.ImportFrom, module: Module) -> str:
    """The absolute module a `from ... import` statement names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.name if module.is_package else module.name.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def _imports_in(node: ast.AST, module: Module, modules: Mapping[str, Module], root: str) -> Iterator[Import]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if _in_package(alias.name, root):
                yield Import(module, alias.name, node.lineno)
    elif isinstance(node, ast.ImportFrom):
        base = _from_base(node, module)
        if not _in_package(base, root):
            return
        names = []  # the names that are not submodules: one import of base for them all
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in modules:
                yield Import(module, submodule, node.lineno)
            else:
                names.append(alias.name)
        if names:
            yield Import(module, base, node.lineno, tuple(name for name in names if name != "*"))
    elif isinstance(node, ast.Call):
        # importlib.import_module("keras_style.x") and __import__("keras_style.x") with a literal name
        function = node.func
        called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
        if called in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and _in_package(first.value, root):
                yield Import(module, first.value, node.lineno)


def collect_imports(modules: Mapping[str, Module]) -> list[Import]:
    """Every import of a module of the package, wherever it stands in each file."""
    imports = []
    for module in modules.values():
        root = module.name.split(".")[0]
        for node in ast.walk(_parse(module.path)):
            imports.extend(_imports_in(node, module, modules, root))
    return sorted(imports, key=lambda each: (each.importer.name, each.line, each.imported))


# --- the rules ---------------------------------------------------------------------------------------------------


def rank_of(relative: str, ranks: Mapping[str, int]) -> int | None:
    """The rank of the longest key covering a path under the package folder; None when no key covers it."""
    covering = [key for key in ranks if relative == key or (key.endswith("/") and relative.startswith(key))]
    return ranks[max(covering, key=len)] if covering else None


def _relative_path(name: str, modules: Mapping[str, Module]) -> str:
    if name in modules:
        return modules[name].relative
    parts = name.split(".")[1:]
    return "/".join(parts) + ".py" if parts else "__init__.py"


def layer_violations(modules: Mapping[str, Module], imports: Iterable[Import], ranks: Mapping[str, int]) -> list[str]:
    """Modules no rank covers, and imports of a module of a higher rank than the importer's."""
    problems = [
        f"{module.relative}: no layer in RANKS covers it (place its folder in a layer)"
        for module in modules.values()
        if rank_of(module.relative, ranks) is None
    ]
    for each in imports:
        own = rank_of(each.importer.relative, ranks)
        other = rank_of(_relative_path(each.imported, modules), ranks)
        if own is not None and other is not None and other > own:
            problems.append(
                f"{each.importer.name} -> {each.imported} (line {each.line}): rank {own} imports rank {other}"
            )
    return problems


def unknown_imports(modules: Mapping[str, Module], imports: Iterable[Import]) -> list[str]:
    """Imports of a package module that has no file."""
    return [
        f"{each.importer.name} -> {each.imported} (line {each.line}): no such module"
        for each in imports
        if each.imported not in modules
    ]


def import_graph(imports: Iterable[Import]) -> dict[str, dict[str, int]]:
    """importer -> {imported: the first line importing it}."""
    graph: dict[str, dict[str, int]] = {}
    for each in imports:
        edges = graph.setdefault(each.importer.name, {})
        edges[each.imported] = min(edges.get(each.imported, each.line), each.line)
    return graph


def find_cycles(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """One cycle per back edge of a depth-first search, each as a path that ends where it starts.

    Every module on a cycle of the graph lies on at least one of the cycles returned, so the list is empty exactly
    when the graph has no cycle.
    """
    state: dict[str, str] = {}  # "open" while on the search path, "done" once every edge out of it is searched
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for successor in sorted(graph.get(node, {})):
            if state.get(successor) == "open":
                cycles.append(path[path.index(successor):] + [successor])
            elif successor not in state:
                visit(successor)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def describe_cycle(cycle: list[str], graph: Mapping[str, Mapping[str, int]]) -> str:
    """`a:12 -> b:40 -> a`: each module with the line of its import of the next."""
    steps = [f"{module}:{graph[module][successor]}" for module, successor in zip(cycle, cycle[1:])]
    return " -> ".join([*steps, cycle[-1]])


def engine_settings_imports(imports: Iterable[Import]) -> list[str]:
    """Engine modules that import the settings module or the Settings class, TYPE_CHECKING imports included."""
    return [
        f"{each.importer.name} -> {each.imported} (line {each.line})"
        + (f" imports {SETTINGS_CLASS}" if SETTINGS_CLASS in each.names else "")
        for each in imports
        if each.importer.relative.startswith(ENGINE_FOLDER)
        and (each.imported == SETTINGS_MODULE or SETTINGS_CLASS in each.names)
    ]


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method under a node, nested ones included, each with its qualified name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + child.name, child
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def long_functions(package: Path, limit: int) -> list[str]:
    """`path:line name length` for every function spanning more than limit lines (its `def` line to its last line:
    decorators are not counted)."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        for name, function in _functions(_parse(path)):
            length = function.end_lineno - function.lineno + 1
            if length > limit:
                shown = path.relative_to(package.parent).as_posix()
                problems.append(f"{shown}:{function.lineno} {name} {length} lines")
    return problems


# After assembly (run/assemble.py) a run is its frozen plan: these modules, and these functions elsewhere, neither
# take nor read the Settings (module paths under keras_style/; functions as "path:qualified name").
PLAN_ONLY_MODULES = ("run/scales.py", "run/tiling.py", "run/monitor.py", "engine/")
PLAN_ONLY_FUNCTIONS = ("run/transfer.py:_run_scales", "run/transfer.py:_result", "run/transfer.py:run_plan",
                       "run/assemble.py:evaluator_for", "apps/callbacks.py:")


def _settings_uses(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """How a function takes or reads the Settings: a parameter called settings or annotated Settings, a name
    `settings` or `Settings` in its body."""
    found = []
    arguments = function.args
    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg,
                     arguments.kwarg]:
        if argument is None:
            continue
        annotation = ast.unparse(argument.annotation) if argument.annotation is not None else ""
        if argument.arg == "settings" or SETTINGS_CLASS in annotation:
            found.append(f"takes {argument.arg}" + (f": {annotation}" if annotation else ""))
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id in ("settings", SETTINGS_CLASS):
            found.append(f"reads {node.id} (line {node.lineno})")
    return found


def settings_readers(package: Path, modules: Iterable[str], functions: Iterable[str]) -> list[str]:
    """`path:line name how` for each function of `modules` (paths under the package; a folder ends in /) and each
    of `functions` ("path:name", or "path:" for every function of a file) that takes or reads the Settings; a
    named function that does not exist is a problem too."""
    problems, wanted = [], {}
    for entry in functions:
        path, _, name = entry.partition(":")
        wanted.setdefault(path, []).append(name)
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        whole = any(relative == module or (module.endswith("/") and relative.startswith(module)) for module in modules)
        names = wanted.pop(relative, [])
        if not whole and not names:
            continue
        found = dict(_functions(_parse(path)))
        for missing in [name for name in names if name and name not in found]:
            problems.append(f"{relative}: no function {missing}")
        for name, function in found.items():
            if whole or "" in names or name in names:
                problems += [f"{relative}:{function.lineno} {name} {use}" for use in _settings_uses(function)]
    problems += [f"{path}: no such file" for path in wanted]
    return problems


PATH_MENTION = re.compile(r"(?<![\w/.-])keras_style/[\w/]+\.py\b")
DOTTED_MENTION = re.compile(r"(?<![\w/.-])keras_style(?:\.\w+)+")


def _bound_names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _bound_names(element)
    elif isinstance(target, ast.Starred):
        yield from _bound_names(target.value)


def _defined_names(body: list[ast.stmt]) -> dict[str, ast.AST]:
    """The names a module's or class's body defines: functions, classes, assignments, imports and the names listed
    in __all__ (a facade may provide those lazily), statements under `if` and `try` included."""
    names: dict[str, ast.AST] = {}
    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[statement.name] = statement
        elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                for name in _bound_names(target):
                    names[name] = statement
            listed = statement.value if names.get("__all__") is statement else None
            if isinstance(listed, (ast.List, ast.Tuple)):
                for element in listed.elts:
                    if isinstance(element, ast.Constant) and isinstance(element.value, str):
                        names.setdefault(element.value, statement)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                names[alias.asname or alias.name.split(".")[0]] = statement
        elif isinstance(statement, (ast.If, ast.Try)):
            nested = [*statement.body, *statement.orelse, *getattr(statement, "finalbody", [])]
            for handler in getattr(statement, "handlers", []):
                nested.extend(handler.body)
            names.update(_defined_names(nested))
    return names


def _defines(module: Module, attributes: list[str]) -> bool:
    """Whether the module defines attributes[0] at its top level, and each further attribute in the class before."""
    body = _parse(module.path).body
    for position, attribute in enumerate(attributes):
        found = _defined_names(body).get(attribute)
        if found is None:
            return False
        if position < len(attributes) - 1:
            if not isinstance(found, ast.ClassDef):
                return False
            body = found.body
    return True


def dotted_name_problem(name: str, modules: Mapping[str, Module]) -> str | None:
    """None when the longest module prefix of a dotted name exists and defines the rest; else why not."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        if module in modules:
            rest = parts[cut:]
            if not rest or _defines(modules[module], rest):
                return None
            return f"{name}: {module} defines no {'.'.join(rest)}"
    return f"{name}: no such module"


def doc_problems(text: str, root: Path, modules: Mapping[str, Module]) -> list[str]:
    """Paths (keras_style/....py) and dotted names (keras_style.x.y) a document names that do not exist."""
    problems = []
    for path in sorted(set(PATH_MENTION.findall(text))):
        if not (root / path).is_file():
            problems.append(f"{path}: no such file")
    for name in sorted(set(DOTTED_MENTION.findall(text))):
        problem = dotted_name_problem(name, modules)
        if problem:
            problems.append(problem)
    return problems


# --mode's values, and the two tables allowed to read a run's mode: what it means (config/choices.py) and which target
# source it picks (run/assemble.py). Anywhere else, code reads a trait of MODES[mode], never the mode itself.
MODE_VALUES = ("cached", "concat")
MODE_TABLES = ("MODES", "TARGET_SOURCES")


def _is_mode(node: ast.AST) -> bool:
    """A run's --mode: `settings.mode` (or `self.mode` inside Settings) or `plan.mode`; an image's `.mode` is
    something else."""
    return (isinstance(node, ast.Attribute) and node.attr == "mode" and isinstance(node.value, ast.Name)
            and node.value.id in ("settings", "self", "plan"))


def mode_decisions(package: Path) -> list[str]:
    """Every place that compares a mode with one of its values, or looks a mode up in another table than
    MODE_TABLES: path:line and what it does."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(_parse(path)):
            where = f"{path.relative_to(package.parent).as_posix()}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                literals = [side.value for side in sides if isinstance(side, ast.Constant)]
                if any(_is_mode(side) for side in sides) or any(value in MODE_VALUES for value in literals):
                    found.append(f"{where} compares {ast.unparse(node)}")
            elif isinstance(node, ast.Subscript) and (_is_mode(node.slice) or (
                    isinstance(node.value, ast.Name) and node.value.id == "TARGET_SOURCES")):
                table = node.value.id if isinstance(node.value, ast.Name) else ast.unparse(node.value)
                other = "" if table in MODE_TABLES else " (another table)"
                found.append(f"{where} looks up {ast.unparse(node)}{other}")
    return found


def fail_listing(heading: str, problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{heading} ({len(problems)}):\n" + "\n".join(f"  {each}" for each in problems), pytrace=False)


# --- the rules on keras_style ----------------------------------------------------------------------------------


@functools.cache
def real_modules() -> dict[str, Module]:
    return find_modules(PACKAGE)


@functools.cache
def real_imports() -> list[Import]:
    return collect_imports(real_modules())


def seen_imports() -> list[Import]:
    """The real package's imports, after a check that the collector found the package at all."""
    assert len(real_modules()) > 10 and real_imports(), f"no keras_style modules or imports found under {PACKAGE}"
    return real_imports()


def test_imports_point_down():
    fail_listing(
        "Imports of a higher layer, or modules in no layer (RANKS: " + ", ".join(f"{k} {v}" for k, v in RANKS.items())
        + ")",
        layer_violations(real_modules(), seen_imports(), RANKS),
    )


def test_imports_name_real_modules():
    fail_listing("Imports of keras_style modules that do not exist", unknown_imports(real_modules(), real_imports()))


def test_no_import_cycles():
    graph = import_graph(seen_imports())
    fail_listing(
        "Import cycles (module:line of its import of the next)",
        [describe_cycle(cycle, graph) for cycle in find_cycles(graph)],
    )


def test_engine_takes_narrow_inputs():
    fail_listing(
        f"Engine modules importing {SETTINGS_MODULE} (the engine takes typed specs, not the whole Settings)",
        engine_settings_imports(real_imports()),
    )


def test_settings_stop_at_assembly():
    fail_listing(
        "Functions past the run's assembly that take or read the Settings (they take the RunPlan)",
        settings_readers(PACKAGE, PLAN_ONLY_MODULES, PLAN_ONLY_FUNCTIONS),
    )


def test_no_function_over_60_lines():
    fail_listing(
        f"Functions over {MAX_FUNCTION_LINES} lines (path:line name length)",
        long_functions(PACKAGE, MAX_FUNCTION_LINES),
    )


def test_mode_is_decided_in_two_tables_only():
    decisions = mode_decisions(PACKAGE)
    fail_listing("Comparisons of --mode with its values, or lookups outside MODES and TARGET_SOURCES",
                 [each for each in decisions if "compares" in each or "another table" in each])
    tables = {each.split(" looks up ")[1].split("[")[0] for each in decisions}
    assert tables == set(MODE_TABLES), tables  # both tables are still where the decision is made


def test_mode_decisions_catch_a_comparison_and_another_table(tmp_path):
    package = write_package(tmp_path, {
        "a.py": "def f(settings):\n    if settings.mode == 'concat':\n        return OTHER[settings.mode]\n"
                "    return MODES[settings.mode]\n",
    })
    found = mode_decisions(package)
    assert any("a.py:2 compares" in each for each in found), found
    assert any("a.py:3 looks up" in each and "another table" in each for each in found), found
    assert any("a.py:4 looks up" in each and "another table" not in each for each in found), found


def test_architecture_doc_names_real_modules():
    assert ARCHITECTURE_DOC.exists(), "docs/ARCHITECTURE.md is missing"
    fail_listing(
        "Modules and names docs/ARCHITECTURE.md mentions that do not exist",
        doc_problems(ARCHITECTURE_DOC.read_text(encoding="utf-8"), ROOT, real_modules()),
    )


# --- each checker fails on a synthetic package -------------------------------------------------------------------


def write_package(root: Path, files: Mapping[str, str]) -> Path:
    """A fake keras_style package under root: {path under keras_style/: source}."""
    package = root / "keras_style"
    for relative, source in files.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return package


def test_collect_imports_finds_every_form(tmp_path):
    package = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "errors.py": "",
            "config/__init__.py": "",
            "config/settings.py": "",
            "engine/__init__.py": "",
            "engine/network.py": "",
            "engine/losses.py": "",
            "engine/evaluator.py": """\
                from typing import TYPE_CHECKING
                import numpy as np
                import keras_style.errors
                from keras_style.engine import network, helper
                from . import losses
                from ..config.settings import Settings

                if TYPE_CHECKING:
                    from keras_style.config import settings

                def later():
                    import importlib
                    from keras_style import errors
                    return importlib.import_module("keras_style.config")
                """,
        },
    )
    found = {
        (each.imported, each.line, each.names)
        for each in collect_imports(find_modules(package))
        if each.importer.name == "keras_style.engine.evaluator"
    }
    assert found == {
        ("keras_style.errors", 3, ()),
        ("keras_style.engine.network", 4, ()),
        ("keras_style.engine", 4, ("helper",)),
        ("keras_style.engine.losses", 5, ()),
        ("keras_style.config.settings", 6, ("Settings",)),
        ("keras_style.config.settings", 9, ()),
        ("keras_style.errors", 13, ()),
        ("keras_style.config", 14, ()),
    }


def test_layer_violations_catch_an_upward_import_and_a_module_in_no_layer(tmp_path):
    package = write_package(
        tmp_path,
        {
            "errors.py": "",
            "config/layers.py": "def f():\n    from keras_style.engine import network\n",
            "engine/network.py": "from keras_style.config import layers\nfrom keras_style.engine import losses\n",
            "engine/losses.py": "",
            "extras/thing.py": "",
        },
    )
    modules = find_modules(package)
    problems = layer_violations(modules, collect_imports(modules), RANKS)
    assert problems == [
        "extras/thing.py: no layer in RANKS covers it (place its folder in a layer)",
        "keras_style.config.layers -> keras_style.engine.network (line 2): rank 1 imports rank 3",
    ]
    assert rank_of("__init__.py", RANKS) == 6 and rank_of("config/__init__.py", RANKS) == 1


def test_layer_violations_catch_an_import_of_the_facade(tmp_path):
    package = write_package(tmp_path, {"__init__.py": "X = 1\n", "run/plan.py": "from keras_style import X\n"})
    modules = find_modules(package)
    assert layer_violations(modules, collect_imports(modules), RANKS) == [
        "keras_style.run.plan -> keras_style (line 1): rank 4 imports rank 6"
    ]


def test_unknown_imports_catch_a_missing_module(tmp_path):
    package = write_package(tmp_path, {"run/plan.py": "import keras_style.run.gone\n"})
    modules = find_modules(package)
    assert unknown_imports(modules, collect_imports(modules)) == [
        "keras_style.run.plan -> keras_style.run.gone (line 1): no such module"
    ]


def test_find_cycles_reports_the_cycle_path(tmp_path):
    package = write_package(
        tmp_path,
        {
            "run/__init__.py": "",
            "run/a.py": "import keras_style.run.b\n",
            "run/b.py": "\n\ndef late():\n    from keras_style.run import c\n",
            "run/c.py": "from keras_style.run import a\n",
            "run/d.py": "import keras_style.run.a\n",
        },
    )
    graph = import_graph(collect_imports(find_modules(package)))
    cycles = find_cycles(graph)
    assert cycles == [["keras_style.run.a", "keras_style.run.b", "keras_style.run.c", "keras_style.run.a"]]
    assert describe_cycle(cycles[0], graph) == (
        "keras_style.run.a:1 -> keras_style.run.b:4 -> keras_style.run.c:1 -> keras_style.run.a"
    )
    assert find_cycles({"x": {"y": 1}, "y": {}, "z": {"x": 1, "y": 2}}) == []


def test_find_cycles_counts_a_package_init_as_its_own_node(tmp_path):
    package = write_package(
        tmp_path,
        {
            "apps/__init__.py": "from keras_style.apps.cli import main\n",
            "apps/cli.py": "from keras_style.apps import VERSION\n",
        },
    )
    assert find_cycles(import_graph(collect_imports(find_modules(package)))) == [
        ["keras_style.apps", "keras_style.apps.cli", "keras_style.apps"]
    ]


def test_engine_settings_imports_catch_a_type_checking_import(tmp_path):
    package = write_package(
        tmp_path,
        {
            "config/settings.py": "class Settings: pass\n",
            "engine/network.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from keras_style.config.settings import Settings\n",
            "engine/losses.py": "from keras_style.config import settings\n",
            "run/plan.py": "from keras_style.config.settings import Settings\n",
        },
    )
    assert engine_settings_imports(collect_imports(find_modules(package))) == [
        "keras_style.engine.losses -> keras_style.config.settings (line 1)",
        "keras_style.engine.network -> keras_style.config.settings (line 3) imports Settings",
    ]


def test_settings_readers_catch_a_parameter_an_annotation_a_read_and_a_missing_function(tmp_path):
    package = write_package(tmp_path, {
        "run/scales.py": "def run(model, settings):\n    return model\n",
        "run/tiling.py": "def run(model, options: 'Settings'):\n    return model\n",
        "run/transfer.py": "def _result(plan):\n    return settings.size\n\ndef other(settings):\n    pass\n",
        "run/monitor.py": "def fine(plan):\n    return plan.size\n",
    })
    assert settings_readers(package, ("run/scales.py", "run/tiling.py", "run/monitor.py"),
                            ("run/transfer.py:_result", "run/transfer.py:_run_scales", "apps/callbacks.py:")) == [
        "run/scales.py:1 run takes settings",
        "run/tiling.py:1 run takes options: 'Settings'",
        "run/transfer.py: no function _run_scales",
        "run/transfer.py:1 _result reads settings (line 2)",
        "apps/callbacks.py: no such file",
    ]


def function_source(name: str, lines: int, indent: str = "") -> str:
    """A function `lines` long from its def line to its last line."""
    body = "".join(f"{indent}    x{i} = {i}\n" for i in range(lines - 1))
    return f"{indent}def {name}():\n{body}"


def test_long_functions_count_from_def_to_the_last_line(tmp_path):
    source = (
        "import functools\n\n\n@functools.cache\n@functools.wraps(print)\n"  # decorators are not counted
        + function_source("sixty", 60)
        + "\n\nclass Tool:\n"
        + function_source("sixty_one", 61, indent="    ")
        + function_source("inner", 61, indent="        ").replace("        def", "    def outer():\n        def", 1)
    )
    package = write_package(tmp_path, {"run/long.py": source})
    sixty_one_line = source.splitlines().index("    def sixty_one():") + 1
    assert long_functions(package, 60) == [
        f"keras_style/run/long.py:{sixty_one_line} Tool.sixty_one 61 lines",
        f"keras_style/run/long.py:{sixty_one_line + 61} Tool.outer 62 lines",
        f"keras_style/run/long.py:{sixty_one_line + 62} Tool.outer.inner 61 lines",
    ]


def test_doc_problems_catch_missing_paths_and_names(tmp_path):
    package = write_package(
        tmp_path,
        {
            "__init__.py": '__all__ = ["stylize"]\n\n\ndef __getattr__(name): ...\n',
            "engine/__init__.py": "",
            "engine/network.py": (
                "LIMIT: int = 3\n\n\nclass Net:\n    def build(self): ...\n\n\ndef feature_model(): ...\n"
            ),
        },
    )
    text = (
        "See keras_style/engine/network.py and keras_style/engine/gone.py; `keras_style.engine.network.feature_model`,"
        " keras_style.engine.network.LIMIT, keras_style.engine.network.Net.build, keras_style.stylize,"
        " keras_style.engine, keras_style.engine.network.missing, keras_style.engine.network.Net.gone and"
        " keras_style.nowhere.thing."
    )
    assert doc_problems(text, tmp_path, find_modules(package)) == [
        "keras_style/engine/gone.py: no such file",
        "keras_style.engine.network.Net.gone: keras_style.engine.network defines no Net.gone",
        "keras_style.engine.network.missing: keras_style.engine.network defines no missing",
        "keras_style.nowhere.thing: keras_style defines no nowhere.thing",
    ]
