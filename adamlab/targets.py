"""Load a plug-in named "module:attribute": the module is imported from the sweep file's folder
first, then from sys.path.

Every failure is a `TargetError` whose message is one line saying what is wrong with the target
(the sweep schema prefixes the file, entry and key): a malformed target, a module that is not
found, a module that fails to import, an attribute that is missing (with the module's
attributes of the wanted kind, so `my_optimizers:Lino` suggests `Lion`).
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adamlab.errors import AdamlabError


class TargetError(AdamlabError):
    """A `module:attribute` that cannot be loaded; the message is one line."""


def split_target(target: Any) -> tuple[str, str]:
    if not isinstance(target, str) or target.count(":") != 1:
        raise TargetError(f"must be 'module:attribute' (e.g. my_optimizers:Lion), got {target!r}")
    module_name, attribute = target.split(":")
    if not module_name or not attribute or not all(
        part.isidentifier() for part in (*module_name.split("."), *attribute.split("."))
    ):
        raise TargetError(f"must be 'module:attribute' (e.g. my_optimizers:Lion), got {target!r}")
    return module_name, attribute


def _local_file(module_name: str, folder: Path) -> Path | None:
    """The file under `folder` that a top-level import of `module_name` finds, if any."""
    top = module_name.split(".")[0]
    for candidate in (folder / f"{top}.py", folder / top / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def source_stamp(target: str, folder: Path | None) -> str:
    """The bytes' hash of the file in `folder` that `target`'s module is ("" when it comes from
    sys.path): a plug-in edited since it was loaded is loaded again."""
    local = _local_file(split_target(target)[0], folder) if folder is not None else None
    return _file_stamp(local) if local is not None else ""


def _file_stamp(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


def import_module(module_name: str, folder: Path | None) -> Any:
    """Import `module_name`, from `folder` first when it holds it, else from sys.path.

    A module of that name imported before from elsewhere (another sweep's folder), or from the
    same file before it was edited, is imported again, so a trial always runs the file as it is
    (the bytes its record's fingerprint hashes)."""
    local = _local_file(module_name, folder) if folder is not None else None
    if local is not None:
        top = module_name.split(".")[0]
        stamp = _file_stamp(local)
        loaded = sys.modules.get(top)
        loaded_file = getattr(loaded, "__file__", None)
        if loaded is not None and (
            loaded_file is None or Path(loaded_file).resolve() != local
            or getattr(loaded, "__adamlab_stamp__", None) != stamp
        ):
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]
        sys.path.insert(0, str(folder))
        try:
            module = importlib.import_module(module_name)
        finally:
            with_folder = str(folder)
            if with_folder in sys.path:
                sys.path.remove(with_folder)
        sys.modules[top].__adamlab_stamp__ = stamp
        return module
    return importlib.import_module(module_name)


def load_target(
    target: str, folder: Path | None, *, kind: str = "attribute",
    candidates: Callable[[Any], bool] | None = None,
) -> tuple[Any, Any]:
    """(the attribute, its module) of `target`; raises TargetError.

    `kind` names what is wanted in messages ("optimizer", "task"); `candidates` picks the
    module's attributes of that kind, listed when the attribute is missing."""
    module_name, attribute = split_target(target)
    try:
        module = import_module(module_name, folder)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            where = f"{folder} nor on sys.path" if folder is not None else "sys.path"
            raise TargetError(f"module {module_name!r} not found (neither in {where})") from None
        raise TargetError(f"importing {module_name} failed: {_one_line(exc)}") from None
    except Exception as exc:
        raise TargetError(f"importing {module_name} failed: {_one_line(exc)}") from None
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise TargetError(
                f"{module_name} ({module_file(module)}) has no {part!r}"
                + _suggestions(module, kind, candidates)
            )
        value = getattr(value, part)
    return value, module


def module_file(module: Any) -> str:
    return str(getattr(module, "__file__", None) or module.__name__)


def _suggestions(module: Any, kind: str, candidates: Callable[[Any], bool] | None) -> str:
    if candidates is None:
        return ""
    names = []
    for name in sorted(vars(module)):
        if name.startswith("_"):
            continue
        try:
            if candidates(getattr(module, name)):
                names.append(name)
        except Exception:  # an attribute whose inspection fails is no candidate
            continue
    if not names:
        return f"; it defines no {kind} classes"
    return f"; its {kind} classes: {', '.join(names)}"


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
