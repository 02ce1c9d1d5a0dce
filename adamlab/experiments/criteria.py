"""Pre-registered criteria: each claim's criterion, stored in a results folder by its first sweep.

A claim's criterion is what decides it: its text, its numbers (thresholds, margins, levels) and
the code that applies them. Each experiment's claims' criteria (`Criterion`, declared in
`adamlab.experiments.preregistered`) are a key, a phrase found in the claim's text (to tell
which claim is which), and the code that judges it as `module:name` references (functions and
constants, the shared decision rules included). The criterion's hash is sha256 over the source
text of each reference and its numbers are its constants' values, both found by parsing the
module, never importing it: so a sweep stores them without importing the code they judge with,
and docs/update_experiments.py recomputes a hash for any commit of the repository's history.

The first `adamlab sweep` into a folder whose sweep is a registered experiment writes
`criteria.json` there (`adamlab.experiments.registry.store_criteria`): per claim its text,
numbers and hash. `adamlab report` compares them with
today's: a claim whose criterion changed after these results were made is not judged by today's
code (it cannot run the stored one): its verdict is "inconclusive" with "criterion changed after
these results: re-run, or --current-criteria"; `--current-criteria` judges it with today's
criterion and says so. A folder without criteria.json (made before they were stored) is judged
with today's criteria, and the report says so in one line.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import importlib.util
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from adamlab.store.json_files import read_json_object

CRITERIA_FILE = "criteria.json"
CHANGED = "criterion changed after these results: re-run, or --current-criteria"

#: the shared decision rules every claim of a kind rests on
COMPARISON_RULES = (
    "adamlab.experiments.claims:MIN_SEEDS", "adamlab.experiments.claims:TAIL",
    "adamlab.experiments.claims:MIN_EFFECT", "adamlab.experiments.claims:Part",
    "adamlab.experiments.claims:parts_verdict", "adamlab.experiments.claims:comparison_part",
    "adamlab.experiments.claims:guard", "adamlab.analysis.stats:p_beyond",
    "adamlab.analysis.stats:paired_diffs", "adamlab.analysis.stats:holm",
)
WHERE_RULES = (
    "adamlab.experiments.claims:MIN_SEEDS", "adamlab.experiments.claims:WHERE_ALPHA",
    "adamlab.experiments.claims:where_decision", "adamlab.experiments.claims:gate",
    "adamlab.experiments.claims:matters_p", "adamlab.experiments.claims:plausible_bests",
    "adamlab.experiments.claims:path_verdict", "adamlab.experiments.claims:guard",
    "adamlab.analysis.stats:repeated_measures_p", "adamlab.analysis.stats:p_beyond",
    "adamlab.analysis.stats:holm",
)
#: how the best config is chosen and valued (every claim that names a best rests on it)
SELECTION_RULES = (
    "adamlab.experiments.measures:config_values", "adamlab.experiments.measures:_with_values",
    "adamlab.experiments.measures:best_row", "adamlab.analysis.grouping:rank_configs",
)


@dataclass(frozen=True)
class Criterion:
    #: a short name, unique within the experiment
    key: str
    #: a phrase of the claim's text that tells this claim apart from the others
    phrase: str
    #: `module:name` of every function and constant that decides it
    code: tuple[str, ...]

    def matches(self, claim_text: str) -> bool:
        return self.phrase in claim_text


def module_path(module: str) -> str:
    """The repository path of a module: adamlab.experiments.claims -> adamlab/experiments/claims.py."""
    return module.replace(".", "/") + ".py"


def installed_source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise LookupError(module)
    return Path(spec.origin).read_text()


def _top_level(source: str, name: str) -> ast.stmt | None:
    """The top-level function, class or assignment `name` of `source`."""
    return _definitions(source).get(name)


@functools.lru_cache(maxsize=64)
def _definitions(source: str) -> dict[str, ast.stmt]:
    """The top-level functions, classes and assignments of `source` by name (a criterion names
    many definitions of few modules: each module is parsed once). Shared: never changed."""
    found: dict[str, ast.stmt] = {}
    for node in ast.parse(source).body:
        names: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        for name in names:
            found.setdefault(name, node)
    return found


def definition(source: str, name: str) -> str:
    """The syntax tree of the top-level function, class or assignment `name` as text ('' if
    none), docstrings left out: what decides a claim is the code, so rewording a docstring,
    a comment or the layout does not change a criterion, while any change to what runs does."""
    node = _top_level(source, name)
    if node is None:
        return ""
    node = copy.deepcopy(node)
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if (isinstance(inner, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            inner.body = body[1:] or [ast.Pass()]
    return ast.dump(node, include_attributes=False)


def criterion_hash(criterion: Criterion, source_of: Callable[[str], str] = installed_source) -> str:
    """sha256 over the source of each reference of the criterion (`source_of(module)` gives a
    module's text: today's installed file, or a file at some commit)."""
    digest = hashlib.sha256()
    cache: dict[str, str] = {}
    for ref in sorted(set(criterion.code)):
        module, name = ref.split(":")
        if module not in cache:
            try:
                cache[module] = source_of(module)
            except (LookupError, OSError):
                cache[module] = ""
        digest.update(ref.encode() + b"\0" + definition(cache[module], name).encode() + b"\0")
    return digest.hexdigest()[:16]


def numbers(criterion: Criterion, source_of: Callable[[str], str] = installed_source) -> dict[str, Any]:
    """The criterion's constants (UPPER_CASE references) with today's values, read from source
    (`constant`) so that storing them imports none of the code they judge with."""
    out: dict[str, Any] = {}
    for ref in criterion.code:
        module, name = ref.split(":")
        if name.isupper() or (name.upper() == name and "_" in name):
            try:
                value = constant(module, name, source_of)
            except LookupError:
                continue
            if isinstance(value, (int, float, str, bool)):
                out[name] = value
            elif isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
                out[name] = list(value)
    return out


_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}


def constant(module: str, name: str, source_of: Callable[[str], str] = installed_source) -> Any:
    """The value of the top-level constant `name` of `module`, evaluated from its source:
    literals, tuples and lists of them, arithmetic, and other constants by name (of the module,
    or imported into it with `from ... import`). LookupError for anything else."""
    source = source_of(module)
    node = _top_level(source, name)
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        return _evaluate(node.value, module, source, source_of)
    for statement in ast.parse(source).body if node is None else ():
        if isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
            for alias in statement.names:
                if (alias.asname or alias.name) == name:
                    return constant(statement.module, alias.name, source_of)
    raise LookupError(f"{module}:{name}")


def _evaluate(node: ast.expr, module: str, source: str, source_of: Callable[[str], str]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        values = [_evaluate(e, module, source, source_of) for e in node.elts]
        return tuple(values) if isinstance(node, ast.Tuple) else values
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand, module, source, source_of)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left, module, source, source_of),
                                         _evaluate(node.right, module, source, source_of))
    if isinstance(node, ast.Name):
        return constant(module, node.id, source_of)
    raise LookupError(ast.unparse(node))


def criteria_record(experiment: str, criteria: Sequence[Criterion]) -> dict[str, Any]:
    return {
        "experiment": experiment,
        "claims": {
            c.key: {"phrase": c.phrase, "numbers": numbers(c), "code": list(c.code),
                    "hash": criterion_hash(c)}
            for c in criteria
        },
    }


@dataclass(frozen=True)
class Registration:
    #: None when the folder stores no criteria (made before they were stored)
    stored: Mapping[str, Any] | None
    #: keys whose stored hash differs from today's
    changed: tuple[str, ...] = ()


def registration(results_dir: Path, experiment: str, criteria: Sequence[Criterion]) -> Registration:
    path = Path(results_dir) / CRITERIA_FILE
    if not os.path.lexists(path):
        return Registration(None)
    stored = read_json_object(path)
    claims = stored.get("claims") if stored.get("experiment") == experiment else None
    if not isinstance(claims, dict):
        return Registration(None)
    changed = tuple(c.key for c in criteria
                    if not isinstance(claims.get(c.key), dict)
                    or claims[c.key].get("hash") != criterion_hash(c))
    return Registration(claims, changed)


def apply_registration(claims: list, criteria: Sequence[Criterion], found: Registration, *,
                       current: bool) -> tuple[list, list[str]]:
    """The claims as the report gives them, and the lines it prints about their criteria."""
    if found.stored is None:
        return claims, ["No criteria stored in this folder (made before adamlab stored them): "
                        "judged with today's criteria."]
    if not found.changed:
        return claims, ["Judged with the criteria stored by the folder's first sweep."]
    by_key = {c.key: c for c in criteria}
    changed = [by_key[k] for k in found.changed]
    out = []
    for claim in claims:
        hit = next((c for c in changed if c.matches(claim.claim)), None)
        if hit is None or current or claim.verdict == "not measurable":
            out.append(claim)
            continue
        out.append(replace(claim, verdict="inconclusive", why=CHANGED))
    names = ", ".join(c.key for c in changed)
    line = (f"Criteria changed after these results ({names}): judged with today's criteria "
            "(--current-criteria)." if current else
            f"Criteria changed after these results ({names}): those claims are not judged; "
            "re-run the sweep into a new folder, or pass --current-criteria.")
    return out, [line]


def refs(module: str, *names: str) -> tuple[str, ...]:
    """`module:name` for each name."""
    return tuple(f"{module}:{name}" for name in names)
