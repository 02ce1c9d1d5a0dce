"""Read a sweep YAML file into plain data, remembering the line of every key.

Two YAML 1.1 traps are closed here: `lr: 1e-3` (no dot) loads as the number 0.001, not the string
"1e-3", and a key given twice in one mapping is an error instead of silently keeping the last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adamlab.errors import AdamlabError

#: a sweep file is a few KB; above this it is refused before parsing (PyYAML reads ~1 MB/s)
MAX_FILE_BYTES = 1 << 20
#: lists and mappings nested deeper than this are refused (a sweep needs 4 or 5 levels)
MAX_DEPTH = 50
#: nodes in the file with every alias expanded: an alias bomb (anchors 9 deep x 9 wide) stands
#: for 9^9 nodes in a few hundred bytes, and anything walking the loaded data would walk them all
MAX_EXPANDED_NODES = 1_000_000

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
    #: path -> the command-line override that set it (e.g. "--set steps=60")
    origins: dict[str, str] = field(default_factory=dict)

    def line_of(self, path: str) -> int | None:
        """Line of `path`, or of its nearest enclosing key that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None

    def where(self, path: str) -> str:
        """" (line 14)", " (from --set steps=60)" or "": where `path`'s value came from."""
        while path:
            if path in self.origins:
                return f" (from {self.origins[path]})"
            if path in self.lines:
                return f" (line {self.lines[path]})"
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return ""


def _check_shape(node: yaml.Node, source: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and more than MAX_EXPANDED_NODES nodes once aliases
    are expanded, without expanding them: each distinct node is visited once and its expanded
    size computed from its children's (aliases share node objects)."""
    expanded: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(node, 1, False)]
    while stack:
        current, depth, children_done = stack.pop()
        if id(current) in expanded and not children_done:
            continue
        if depth > MAX_DEPTH:
            raise AdamlabError(
                f"{source}:{current.start_mark.line + 1}: lists and mappings nest more than "
                f"{MAX_DEPTH} deep; a sweep file needs a handful of levels"
            )
        if isinstance(current, yaml.MappingNode):
            children = [n for pair in current.value for n in pair]
        elif isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        else:
            expanded[id(current)] = 1
            continue
        if children_done:
            size = 1 + sum(expanded[id(child)] for child in children)
            if size > MAX_EXPANDED_NODES:
                raise AdamlabError(
                    f"{source}:{current.start_mark.line + 1}: with its aliases expanded this part "
                    f"of the file has more than {MAX_EXPANDED_NODES:,} values (an alias bomb?); "
                    f"write the values out or use fewer aliases"
                )
            expanded[id(current)] = size
            continue
        expanded[id(current)] = 0  # in progress: a recursive alias counts as nothing more
        stack.append((current, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in expanded)


def _index_lines(node: yaml.Node, lines: dict[str, int]) -> None:
    # Each node is indexed under the first path that reaches it: an aliased node is not walked
    # again under every alias (the paths of an alias bomb are exponential in number).
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple]] = [(node, ())]
    while stack:
        current, parts = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            items = [(key.value, key, value) for key, value in current.value if isinstance(key, yaml.ScalarNode)]
        elif isinstance(current, yaml.SequenceNode):
            items = [(i, item, item) for i, item in enumerate(current.value)]
        else:
            continue
        for part, marker, child in reversed(items):
            path = (*parts, part)
            lines.setdefault(render_path(path), marker.start_mark.line + 1)
            stack.append((child, path))


def load_yaml(path: str | Path) -> YamlDocument:
    """Parse `path`; a missing file or malformed YAML is an AdamlabError with the line number."""
    source = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise AdamlabError(
                f"{source}: {size / 2**20:.1f} MB is more than a sweep file may be "
                f"({MAX_FILE_BYTES // 2**20} MB); describe grids with {{logspace|linspace: [start, stop, count]}}"
            )
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AdamlabError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise AdamlabError(f"{source}: is a directory, not a sweep YAML file") from None
    except UnicodeDecodeError as exc:
        raise AdamlabError(f"{source}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise AdamlabError(f"{source}: cannot read: {exc.strerror}") from None
    loader = None
    try:
        # the reader refuses NUL, BEL and other non-printable characters as it is built
        loader = _SweepLoader(text)
        node = loader.get_single_node()
        if node is not None:
            _check_shape(node, source)
        data = loader.construct_document(node) if node is not None else None
    except RecursionError:
        raise AdamlabError(
            f"{source}: lists and mappings nest too deep to read (more than {MAX_DEPTH} levels); "
            f"a sweep file needs a handful"
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise AdamlabError(
            f"{source}:{line}: character U+{code:04X} is not allowed in a YAML file "
            f"(control characters other than tab and newline are refused)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise AdamlabError(f"{where}: malformed YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, lines)
    return YamlDocument(source, data, lines)
