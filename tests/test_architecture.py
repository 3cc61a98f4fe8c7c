"""The layering of docs/architecture.md holds: every module of `echonet` and `secure` has a layer, imports only from
its own layer or the ones below, takes part in no import cycle and reads no other object's private attributes; and
the library parts, imported in a fresh interpreter, load none of the packages they must not.

The import graph is read from the source with `ast` (nothing is imported), module-level and function-level imports
alike: an import inside a function is still a dependency. Imports under `if TYPE_CHECKING:` are for types only and
are not counted.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGES = ("echonet", "secure")

# The layer table of docs/architecture.md. A module belongs to the longest entry that is a dotted prefix of its name
# ("echonet.node" covers "echonet.node.core", not "echonet.nodes"). Keep the two in step.
LAYERS: dict[str, int] = {
    # 0 constants and errors
    "echonet.constants": 0,
    "echonet.errors": 0,
    "echonet.extras": 0,
    # 1 wire format and values
    "echonet.frame": 1,
    "echonet.codec": 1,
    "echonet.wire": 1,
    "echonet.propmap": 1,
    "echonet.spec": 1,
    "echonet.describe": 1,
    "echonet.pcap": 1,
    # 2 pure node
    "echonet.node": 2,
    # 3 transports
    "echonet.aio": 3,
    "echonet.netif": 3,
    # 4 secure overlay
    "secure": 4,
    # 5 applications
    "echonet.drready": 5,
    "echonet.gateway": 5,
    "echonet.conformance": 5,
    "echonet.capture": 5,
    "echonet.apps": 5,
    # 6 command line
    "echonet.cli": 6,
    "echonet.__main__": 6,
}
# Matched by exact name only: `echonet/__init__.py` re-exports the codec's names, so it is layer 1 (and may import
# nothing above layer 1), while the modules under `echonet` each have a row of their own in LAYERS.
EXACT_LAYERS: dict[str, int] = {"echonet": 1}

LAYER_NAMES = {
    0: "constants and errors",
    1: "wire format and values",
    2: "pure node",
    3: "transports",
    4: "secure overlay",
    5: "applications",
    6: "command line",
}


# --- reading the source ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    name: str  # dotted, "echonet.node" for echonet/node/__init__.py
    path: Path
    is_package: bool

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the project module depended on (internal), else the dotted name as written, made absolute
    line: int
    in_function: bool
    names: tuple[str, ...]  # the names of a `from ... import`, for the private-name rule
    internal: bool  # names a module of `echonet` or `secure`
    resolved: bool  # ... and that module exists
    written: str  # `from <written> import ...` or `import <written>`, made absolute
    dynamic: bool = False  # by __import__ or importlib.import_module


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


@cache
def project_modules() -> dict[str, Module]:
    """Every module, and every package directory, of `echonet` and `secure`.

    A directory with modules but no `__init__.py` (a namespace package, as a move leaves it half-way) is listed with
    the directory as its path; test_every_package_directory_has_an_init reports it.
    """
    found: dict[str, Module] = {}
    for package in PACKAGES:
        # (a C source is the compiled module of its name, built by setup.py: secure/records/_aead.c)
        for path in sorted([*(ROOT / package).rglob("*.py"), *(ROOT / package).rglob("*.c")]):
            if "__pycache__" in path.parts:
                continue
            name, is_package = _module_name(path)
            found[name] = Module(name, path, is_package)
            for parent in path.relative_to(ROOT).parents:
                dotted = ".".join(parent.parts)
                if dotted and dotted not in found and not (ROOT / parent / "__init__.py").exists():
                    found[dotted] = Module(dotted, ROOT / parent, True)
    return found


@cache
def parsed(name: str) -> ast.Module | None:
    """The module's syntax tree; None if the file went away meanwhile (the tree is being restructured)."""
    module = project_modules()[name]
    if module.path.is_dir() or module.path.suffix == ".c":
        return None  # (a compiled module imports nothing of the project)
    try:
        source = module.path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return ast.parse(source, filename=module.rel)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve_relative(module: Module, level: int, name: str | None) -> str:
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    parts = package.split(".")
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return f"{base}.{name}" if name else base


def _owning_module(dotted: str) -> str | None:
    """The longest dotted prefix of `dotted` that is a module of the project."""
    modules = project_modules()
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "__import__") or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )


def _dynamic_targets(call: ast.Call, scope: ast.AST) -> Iterator[tuple[str, int]]:
    """What `__import__(x)` / `importlib.import_module(x)` may import: x if it is a string; if it is a variable,
    every string in the enclosing function (or module) that names a module of the project (the usual
    `for name in ("a.b", "a.c"): import_module(name)`)."""
    if not call.args:
        return
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        yield arg.value, arg.lineno
        return
    modules = project_modules()
    for node in ast.walk(scope):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in modules:
            yield node.value, node.lineno


def _imports_of(module: Module, tree: ast.Module) -> Iterator[Import]:
    modules = project_modules()

    def visit(node: ast.AST, scope: ast.AST) -> Iterator[Import]:
        in_function = scope is not tree
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the `else:` of `if TYPE_CHECKING:` runs
                yield from visit(child, scope)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                internal = alias.name.partition(".")[0] in PACKAGES
                resolved = alias.name in modules
                yield Import(module.name, alias.name, node.lineno, in_function, (), internal, resolved, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, node.level, node.module) if node.level else (node.module or "")
            internal = base.partition(".")[0] in PACKAGES
            if not internal or base not in modules:
                names = tuple(alias.name for alias in node.names)
                yield Import(module.name, base, node.lineno, in_function, names, internal, False, base)
                return
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                # `from p import x` where p.x is a module: a dependency on p.x (p's __init__ runs first, as the
                # parent of every submodule, and is not counted as a dependency of its own).
                target = submodule if submodule in modules else base
                yield Import(module.name, target, node.lineno, in_function, (alias.name,), True, True, base)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            for name, line in _dynamic_targets(node, scope):
                internal = name.partition(".")[0] in PACKAGES
                yield Import(module.name, name, line, in_function, (), internal, name in modules, name, dynamic=True)
        inner = node if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) else scope
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(tree, tree)


@cache
def all_imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for name, module in project_modules().items():
        tree = parsed(name)
        if tree is not None:
            found.extend(_imports_of(module, tree))
    return tuple(found)


def layer_of(name: str) -> int | None:
    if name in EXACT_LAYERS:
        return EXACT_LAYERS[name]
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    return None


def _where(imp: Import) -> str:
    where = f"{project_modules()[imp.source].rel}:{imp.line}"
    if imp.dynamic:
        return where + " (dynamic import)"
    return where + (" (in a function)" if imp.in_function else "")


# --- the layers -----------------------------------------------------------------------------------------------------


def test_every_module_has_a_layer() -> None:
    missing = [(m.rel, name) for name, m in project_modules().items() if layer_of(name) is None]
    assert not missing, (
        "modules in no layer (add each to the layer table in tests/test_architecture.py and docs/architecture.md):\n"
        + "\n".join(f"  {rel} ({name})" for rel, name in missing)
    )


def test_every_package_directory_has_an_init() -> None:
    bare = [m.rel + "/" for m in project_modules().values() if m.path.is_dir()]
    assert not bare, (
        "package directories without __init__.py (setuptools' packages.find leaves them out of the wheel):\n"
        + "\n".join(f"  {rel}" for rel in bare)
    )


def test_every_project_import_resolves() -> None:
    broken = [
        f"{_where(imp)} imports {imp.written}, which does not exist"
        for imp in all_imports()
        if imp.internal and not imp.resolved
    ]
    assert not broken, "imports of project modules that do not exist:\n" + "\n".join(
        f"  {line}" for line in dict.fromkeys(broken)
    )


def test_no_module_imports_from_a_higher_layer() -> None:
    upward: list[str] = []
    for imp in all_imports():
        if not imp.resolved:
            continue  # reported by test_every_project_import_resolves
        source, target = layer_of(imp.source), layer_of(imp.target)
        if source is None or target is None:
            continue  # reported by test_every_module_has_a_layer
        if target > source:
            upward.append(f"{_where(imp)} imports {imp.target} (layer {target}) from layer {source}")
    assert not upward, "imports from a higher layer (see docs/architecture.md):\n" + "\n".join(
        f"  {line}" for line in dict.fromkeys(upward)
    )


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _shortest_cycle(start: str, members: set[str], graph: dict[str, set[str]]) -> list[str]:
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in sorted(graph[node] & members):
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if succ not in parent:
                parent[succ] = node
                queue.append(succ)
    return [start]


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {name: set() for name in project_modules()}
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in all_imports():
        if imp.resolved and imp.target != imp.source:
            graph[imp.source].add(imp.target)
            edges.setdefault((imp.source, imp.target), []).append(imp)
    reports: list[str] = []
    for component in _strongly_connected(graph):
        members = set(component)
        cycle = _shortest_cycle(component[0], members, graph)
        lines = [f"cycle among {len(component)} modules: {' -> '.join(cycle)}"]
        for a in component:
            for b in sorted(graph[a] & members):
                for imp in edges[(a, b)]:
                    lines.append(f"    {_where(imp)} imports {b}")
        reports.append("\n".join(dict.fromkeys(lines)))
    assert not reports, "import cycles (every import inside each cycle listed):\n" + "\n".join(reports)


# --- private attributes ---------------------------------------------------------------------------------------------

# Underscore names that are public API of the standard library: sys._getframe and os._exit; argparse's
# _SubParsersAction, the type of add_subparsers()'s result, which has no public name; and the namedtuple methods,
# named with an underscore only so as not to clash with field names.
STDLIB_PRIVATE_OK = {("sys", "_getframe"), ("os", "_exit"), ("argparse", "_SubParsersAction")}
NAMEDTUPLE_API = {"_make", "_replace", "_fields", "_asdict", "_field_defaults"}
# construct's extension protocol: a Subconstruct implements _parse/_build/_sizeof by calling the same hooks of its
# `subcon` (construct documents this as the way to write a Construct); construct has no public equivalent.
CONSTRUCT_HOOKS = {"_parse", "_parsereport", "_build", "_sizeof", "_actualsize", "_emitparse", "_emitbuild"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _exempt(node: ast.Attribute) -> bool:
    value = node.value
    if isinstance(value, ast.Name) and value.id in {"self", "cls"}:
        return True
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
        return True
    if isinstance(value, ast.Name) and (value.id, node.attr) in STDLIB_PRIVATE_OK:
        return True
    if node.attr in NAMEDTUPLE_API:
        return True
    return (
        node.attr in CONSTRUCT_HOOKS
        and isinstance(value, ast.Attribute)
        and value.attr == "subcon"
        and isinstance(value.value, ast.Name)
        and value.value.id == "self"
    )


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def test_no_module_reads_another_objects_private_attributes() -> None:
    modules = project_modules()
    found: list[str] = []
    for name, module in modules.items():
        tree = parsed(name)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr) and not _exempt(node):
                found.append(f"{module.rel}:{node.lineno}: {_shorten(ast.unparse(node.value))}.{node.attr}")
    for imp in all_imports():
        if not imp.internal or imp.written == imp.source:
            continue
        for imported in imp.names:
            if not _is_private(imported):
                continue
            if imp.target.endswith("." + imported):
                # a private submodule: fine from inside its own package
                package = imp.target.rpartition(".")[0]
                if imp.source == package or imp.source.startswith(package + "."):
                    continue
            found.append(f"{modules[imp.source].rel}:{imp.line}: from {imp.written} import {imported}")
    assert not found, "reads of another object's or module's private attributes (use or add a public API):\n" + (
        "\n".join(f"  {line}" for line in sorted(dict.fromkeys(found), key=_sort_key))
    )


def _sort_key(line: str) -> tuple[str, int]:
    path, _, rest = line.partition(":")
    number = rest.partition(":")[0]
    return path, int(number) if number.isdigit() else 0


# --- what an import loads at run time -------------------------------------------------------------------------------

OPTIONAL = {"scapy", "matplotlib", "uvloop"}  # the extras: imported lazily, where used
PURE_FORBIDDEN = {"secure", "asyncio", *OPTIONAL}

EXPLICIT: dict[str, set[str]] = {
    **{
        name: PURE_FORBIDDEN
        for name in (
            "echonet",
            "echonet.codec",
            "echonet.frame",
            "echonet.spec.registry",
            "echonet.node",
            "echonet.pcap",
            "echonet.describe",
            "echonet.propmap",
        )
    },
    "echonet.aio": {"secure", *OPTIONAL},  # uvloop only in new_event_loop
    "echonet.drready": set(OPTIONAL),
}

_PYTHON_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _snippet_modules() -> dict[str, str]:
    """The project modules the python code blocks of README.md and docs/*.md import, with where each is shown."""
    found: dict[str, str] = {}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if not doc.exists():
            continue
        text = doc.read_text(encoding="utf-8")
        for match in _PYTHON_BLOCK.finditer(text):
            try:
                tree = ast.parse(match.group(1))
            except SyntaxError:
                continue
            shown = f"{doc.relative_to(ROOT).as_posix()}:{text.count(chr(10), 0, match.start()) + 1}"
            for node in ast.walk(tree):
                dotted: list[str] = []
                if isinstance(node, ast.Import):
                    dotted = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    # `from secure import records` imports the module secure.records
                    dotted = [
                        f"{node.module}.{alias.name}"
                        if f"{node.module}.{alias.name}" in project_modules()
                        else node.module
                        for alias in node.names
                    ]
                for name in dotted:
                    owner = _owning_module(name) if name.split(".")[0] in PACKAGES else None
                    if owner is not None:
                        found.setdefault(owner, shown)
    return found


def _forbidden_for_snippet(name: str) -> set[str]:
    """The pure parts load no asyncio: layers 0-2, and the secure overlay outside its asyncio glue."""
    layer = layer_of(name)
    if layer is None or layer >= 6:
        return set()
    if layer <= 2:
        return set(PURE_FORBIDDEN)
    if layer == 3:
        return {"secure", *OPTIONAL}
    if layer == 4:
        return set(OPTIONAL) if "aio" in name.split(".") else {"asyncio", *OPTIONAL}
    return set(OPTIONAL)


def _runtime_cases() -> list[object]:
    cases = {name: (frozenset(forbidden), "docs/architecture.md") for name, forbidden in EXPLICIT.items()}
    for name, shown in _snippet_modules().items():
        forbidden = frozenset(_forbidden_for_snippet(name))
        if name in cases:
            cases[name] = (cases[name][0] | forbidden, cases[name][1] + f", {shown}")
        elif forbidden:
            cases[name] = (forbidden, shown)
    return [pytest.param(name, forbidden, why, id=name) for name, (forbidden, why) in sorted(cases.items())]


# Run in a fresh interpreter: imports one module and reports which of the watched top-level packages it loaded, with
# the chain of project modules (and functions) that were executing when each was first looked for.
_PROBE = r"""
import importlib, json, sys
target, watched = sys.argv[1], set(sys.argv[2].split(","))
first = {}

class Watch:
    @staticmethod
    def find_spec(name, path=None, target=None):
        top = name.partition(".")[0]
        if top in watched and top not in first:
            chain, frame = [], sys._getframe(1)
            while frame is not None:
                owner = frame.f_globals.get("__name__", "")
                if owner.partition(".")[0] in ("echonet", "secure"):
                    where = owner if frame.f_code.co_name == "<module>" else f"{owner}.{frame.f_code.co_name}()"
                    where += f":{frame.f_lineno}"
                    if not chain or chain[-1] != where:
                        chain.append(where)
                frame = frame.f_back
            first[top] = list(reversed(chain)) + [name]
        return None

def loaded(top):
    return any(m == top or m.startswith(top + ".") for m in sys.modules)

before = {top for top in watched if loaded(top)}
sys.meta_path.insert(0, Watch)
importlib.import_module(target)
found = sorted(top for top in watched if top not in before and loaded(top))
print(json.dumps({"loaded": {top: first.get(top, []) for top in found}, "before": sorted(before)}))
"""


@pytest.mark.parametrize(("module", "forbidden", "why"), _runtime_cases())
def test_importing_loads_no_forbidden_package(module: str, forbidden: frozenset[str], why: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONSTARTUP", "PYTHONINSPECT"}}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module, ",".join(sorted(forbidden))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"import {module} failed:\n{result.stderr}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["before"]:
        pytest.skip(f"the interpreter loads {', '.join(report['before'])} at start-up already")
    assert not report["loaded"], f"import {module} (checked because of {why}) loads " + "; ".join(
        f"{top} (via {' -> '.join(chain)})" for top, chain in report["loaded"].items()
    )
