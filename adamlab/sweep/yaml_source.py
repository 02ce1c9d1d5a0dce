"""Read a sweep YAML file into plain data, remembering the line of every key.

Two YAML 1.1 traps are closed here: `lr: 1e-3` (no dot) loads as the number 0.001, not the string
"1e-3", and a key given twice in one mapping is an error instead of silently keeping the last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from adamlab.errors import AdamlabError

# YAML 1.2 floats: the exponent form without a dot (1e-3) counts too.
_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _SweepLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: let SafeLoader report it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {first})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_SweepLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def render_path(parts: tuple) -> str:
    """('optimizers', 1, 'beta2', 2) -> 'optimizers[1].beta2[2]'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class YamlDocument:
    """The loaded data and the 1-based line of each key path (rendered with `render_path`)."""

    source: str
    data: Any
    lines: dict[str, int]

    def line_of(self, path: str) -> int | None:
        """Line of `path`, or of its nearest enclosing key that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


def _index_lines(node: yaml.Node, parts: tuple, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*parts, key_node.value)
                lines.setdefault(render_path(child), key_node.start_mark.line + 1)
                _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = (*parts, i)
            lines.setdefault(render_path(child), item.start_mark.line + 1)
            _index_lines(item, child, lines)


def load_yaml(path: str | Path) -> YamlDocument:
    """Parse `path`; a missing file or malformed YAML is an AdamlabError with the line number."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AdamlabError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise AdamlabError(f"{source}: is a directory, not a sweep YAML file") from None
    except UnicodeDecodeError as exc:
        raise AdamlabError(f"{source}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise AdamlabError(f"{source}: cannot read: {exc.strerror}") from None
    loader = _SweepLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise AdamlabError(f"{where}: malformed YAML: {problem}") from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return YamlDocument(source, data, lines)
