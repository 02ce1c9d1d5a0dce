"""adamlab's modules import each other without a circle, and import inside a function only to
keep a heavy package out of start-up.

- The module-level imports of every shipped file (adamlab/, and cli/, optimizers/, tasks/ as the
  adamlab.cli/.optimizers/.tasks they install as), read with ast, form a graph without a cycle;
  so does that graph with the function-level imports added. A circle works only as long as
  every module on it happens to be imported in the right order; a function-level import hides one.
- A function-level import is allowed only where it keeps a heavy package (HEAVY) from loading
  with the module: the imported module is one, or its module-level imports reach one (through
  the project's modules, or a third-party package they import). It carries its reason, a
  `# lazy: <reason>` comment on its line or the line above, e.g.
  `# lazy: keeps torch out of `adamlab list``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package it installs as (pyproject.toml's package-dir)
PACKAGES = {"adamlab": "adamlab", "cli": "adamlab.cli", "optimizers": "adamlab.optimizers",
            "tasks": "adamlab.tasks"}


def module_files() -> dict[str, Path]:
    modules = {}
    for folder, package in PACKAGES.items():
        root = REPO_ROOT / folder
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _module_level(body: list[ast.stmt]):
    """The import statements run when the module is imported (not those under TYPE_CHECKING,
    nor in functions or classes' methods)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if test not in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _module_level(block)
        elif isinstance(node, ast.ClassDef):
            yield from _module_level(node.body)


def _function_level(tree: ast.Module):
    """The import statements inside functions (methods included), at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    yield inner


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool,
             modules: dict[str, Path]) -> list[str]:
    """The dotted modules an import statement of module `name` imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = name.split(".") if is_package else name.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    # `from pkg import mod` imports the module pkg.mod; else a name of pkg
    return list(dict.fromkeys(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                              for a in node.names))


def _project_modules(target: str, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules importing `target` runs (the packages above it run first)."""
    parts = target.split(".")
    prefixes = (".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return {prefix for prefix in prefixes if prefix in modules and prefix != name}


def import_graph(*, function_level: bool = False) -> dict[str, set[str]]:
    """module -> the project modules its module-level imports run (a package's __init__ counts
    for each of its modules: importing a.b.c runs a and a.b first); with `function_level`, the
    ones its functions import too."""
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        nodes = list(_module_level(tree.body))
        if function_level:
            nodes.extend(_function_level(tree))
        graph[name] = {
            module for node in nodes
            for target in _targets(node, name, path.name == "__init__.py", modules)
            for module in _project_modules(target, name, modules)
        }
    return graph


#: the packages a command must not load before it needs them: torch and what builds on it, the
#: data and plotting stacks (each a tenth of a second to seconds to import), and pydantic: the
#: sweep engine and the registries build their models when imported (~0.2 s together), which
#: `adamlab --help` and the read commands that do not validate a sweep should not pay for (its
#: compiled core alone, which the store's JSON reader uses, takes ~15 ms)
HEAVY = frozenset({"torch", "torchvision", "tensorboard", "pandas", "numpy", "pyarrow",
                   "matplotlib", "ray", "pydantic", "pydantic_core"})
LAZY_COMMENT = re.compile(r"#\s*lazy:\s*\S")


def third_party_imports() -> dict[str, set[str]]:
    """module -> the top-level packages outside the project its module-level imports name."""
    modules = module_files()
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        found[name] = {
            target.split(".")[0] for node in _module_level(tree.body)
            for target in _targets(node, name, path.name == "__init__.py", modules)
            if not getattr(node, "level", 0) and target.split(".")[0] != "adamlab"
        }
    return found


def heavy_reached(module: str, graph: dict[str, set[str]], third_party: dict[str, set[str]]) -> set[str]:
    """The HEAVY packages importing `module` loads: itself, or through its module-level imports."""
    if module.split(".")[0] in HEAVY:
        return {module.split(".")[0]}
    seen, todo, reached = set(), [module], set()
    while todo:
        current = todo.pop()
        if current in seen or current not in graph:
            continue
        seen.add(current)
        reached |= third_party[current] & HEAVY
        todo.extend(graph[current])
    return reached


@dataclass(frozen=True)
class FunctionImport:
    path: Path
    line: int
    #: the module it imports
    target: str
    #: the `# lazy:` reason on its line or the line above ("" when none)
    reason: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}: {self.target}"


def _comments(source: str) -> dict[int, str]:
    """line -> the comment on it."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0]: tok.string for tok in tokens if tok.type == tokenize.COMMENT}


def function_imports() -> list[FunctionImport]:
    modules = module_files()
    found = []
    for name, path in modules.items():
        source = path.read_text()
        comments = _comments(source)
        for node in _function_level(ast.parse(source, str(path))):
            reason = next((comments[line] for line in (node.lineno, node.lineno - 1)
                           if LAZY_COMMENT.search(comments.get(line, ""))), "")
            for target in _targets(node, name, path.name == "__init__.py", modules):
                found.append(FunctionImport(path, node.lineno, target, reason))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan), each
    listed as a path a -> b -> ... -> a through the component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_through(graph, component) for component in components]


def _cycle_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    # breadth-first from start back to start, inside the component: a shortest cycle
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_the_graph_sees_the_real_imports():
    graph = import_graph()
    assert "adamlab.store.records" in graph["adamlab.store.tables"]
    assert "adamlab.cli.app" in graph and "adamlab.tasks.registry" in graph


def test_a_cycle_is_found_and_listed():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_adamlabs_modules():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


#: files whose function-level imports are still being sorted out by their owners (each entry
#: leaves the list when its file passes; an entry that passes fails the test below)
NOT_YET_CHECKED: frozenset[str] = frozenset()
#: function-level imports made for a reason other than start-up, each with it
NOT_FOR_START_UP = {
    ("cli/launch.py", "adamlab.cli.app"): "the console script imports the CLI inside a try, so a "
    "Ctrl-C while Typer and Rich load is said in one line",
}


def _unjustified() -> dict[str, list[str]]:
    """file -> its function-level imports that load no heavy package, or carry no reason."""
    graph, third_party = import_graph(), third_party_imports()
    bad: dict[str, list[str]] = {}
    for found in function_imports():
        if (str(found.path.relative_to(REPO_ROOT)), found.target) in NOT_FOR_START_UP:
            continue
        heavy = heavy_reached(found.target, graph, third_party)
        problem = ("loads no heavy package: import it at module level" if not heavy
                   else "" if found.reason else
                   f"loads {', '.join(sorted(heavy))}: say so in a `# lazy: <reason>` comment")
        if problem:
            bad.setdefault(str(found.path.relative_to(REPO_ROOT)), []).append(f"{found}: {problem}")
    return bad


def test_the_heavy_packages_are_found_through_the_project_and_third_party_imports():
    graph = {"p.a": {"p.b"}, "p.b": set(), "p.c": set()}
    third_party = {"p.a": {"yaml"}, "p.b": {"pandas"}, "p.c": {"rich"}}
    assert heavy_reached("p.a", graph, third_party) == {"pandas"}
    assert heavy_reached("p.c", graph, third_party) == set()
    assert heavy_reached("torch.nn.functional", graph, third_party) == {"torch"}
    assert heavy_reached("json", graph, third_party) == set()
    real = import_graph(), third_party_imports()
    assert "torch" in heavy_reached("adamlab.optimizers.stacked", *real)
    assert heavy_reached("adamlab.errors", *real) == set()


def test_a_lazy_reason_is_read_from_the_import_line_or_the_line_above():
    comments = _comments("def f():\n    # lazy: keeps torch out\n    import torch\n"
                         "    import numpy  # lazy: as above\n    import json  # not a reason\n")
    assert [line for line, text in comments.items() if LAZY_COMMENT.search(text)] == [2, 4]
    assert not LAZY_COMMENT.search("# lazy:")


def test_function_level_imports_keep_a_heavy_package_out_and_say_so():
    bad = _unjustified()
    unexpected = {path: lines for path, lines in bad.items() if path not in NOT_YET_CHECKED}
    assert not unexpected, "function-level imports:\n" + "\n".join(
        line for lines in unexpected.values() for line in lines)
    passing = sorted(NOT_YET_CHECKED - set(bad))
    assert not passing, f"these files pass now; take them off NOT_YET_CHECKED: {passing}"


#: cycles through function-level imports still to be undone by their owners, each as the set of
#: its modules (an entry no longer found fails the test below)
KNOWN_CYCLES: list[set[str]] = []


def test_no_import_cycle_through_function_level_imports_either():
    found = cycles(import_graph(function_level=True))
    unexpected = [cycle for cycle in found if not any(set(cycle) <= known for known in KNOWN_CYCLES)]
    assert not unexpected, "import cycles:\n" + "\n".join(" -> ".join(c) for c in unexpected)
    gone = [known for known in KNOWN_CYCLES if not any(set(c) <= known for c in found)]
    assert not gone, f"these cycles are gone; take them off KNOWN_CYCLES: {gone}"
