"""`adamlab sweep CONFIG --set KEY=VALUE`: command-line edits of the loaded sweep YAML.

KEY is a dotted path into the file (`steps`, `tasks.0.params.dim`, `optimizers.1.lr`; a number
indexes a list, one past the end appends); VALUE is read as YAML (`[1e-3, 1e-2]`, `true`, `5`),
with the file's own rules (1e-3 is a number). The edited data is then validated like the file,
and a problem at an edited key names the `--set` that made it instead of a line.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from adamlab.errors import AdamlabError
from adamlab.sweep.yaml_source import YamlDocument, _SweepLoader, render_path


def parse_override(text: str) -> tuple[tuple, Any]:
    """'optimizers.0.lr=[1e-3]' -> (('optimizers', 0, 'lr'), [0.001])."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise AdamlabError(f"--set {text}: expected KEY=VALUE, e.g. --set steps=60 or "
                           f"--set optimizers.0.lr=[1e-3,1e-2]")
    parts: list[Any] = []
    for part in key.split("."):
        if not part:
            raise AdamlabError(f"--set {text}: empty part in the key {key!r} (write a.b.0.c)")
        parts.append(int(part) if part.isdigit() else part)
    loader = _SweepLoader(raw)
    try:
        value = loader.get_single_data()
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise AdamlabError(f"--set {text}: the value is not YAML: {problem}") from None
    finally:
        loader.dispose()
    return tuple(parts), value


def apply_overrides(doc: YamlDocument, overrides: list[str] | tuple[str, ...]) -> YamlDocument:
    """A copy of `doc` with each override applied in order; `origins` says which --set made
    each edited path (see `YamlDocument.where`)."""
    if not overrides:
        return doc
    data = copy.deepcopy(doc.data) if doc.data is not None else {}
    if not isinstance(data, dict):
        raise AdamlabError(f"{doc.source}: the file is not a mapping of keys; --set cannot edit it")
    origins = dict(doc.origins)
    for text in overrides:
        parts, value = parse_override(text)
        _assign(data, parts, value, text)
        origins[render_path(parts)] = f"--set {text}"
    return YamlDocument(doc.source, data, doc.lines, origins)


def _assign(data: dict, parts: tuple, value: Any, text: str) -> None:
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = render_path(parts[:depth]) or "the top level"
        if isinstance(node, dict):
            if isinstance(part, int):
                part = str(part)
            if last:
                node[part] = value
                return
            if part not in node or node[part] is None:
                node[part] = {}
            elif isinstance(node[part], str) and isinstance(parts[depth + 1], str):
                node[part] = {"name": node[part]}  # `- sgd` edited as `optimizers.0.lr`
            node = node[part]
        elif isinstance(node, list):
            if not isinstance(part, int):
                raise AdamlabError(f"--set {text}: {here} is a list; index it with a number "
                                   f"(0 to {len(node)}), got {part!r}")
            if part > len(node):
                raise AdamlabError(f"--set {text}: {here} has {len(node)} item(s); the index "
                                   f"must be 0 to {len(node)} (= append), got {part}")
            if part == len(node):
                node.append({} if not last else value)
                if last:
                    return
            elif last:
                node[part] = value
                return
            elif isinstance(node[part], str) and isinstance(parts[depth + 1], str):
                node[part] = {"name": node[part]}
            node = node[part]
        else:
            raise AdamlabError(f"--set {text}: {here} is a single value, not a mapping or list; "
                               f"set {here} itself")
