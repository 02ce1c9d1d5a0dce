"""Reading the JSON files of a results folder: every problem is one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adamlab.errors import AdamlabError
from adamlab.store.entries import read_regular


def read_json_object(path: Path) -> dict[str, Any]:
    data = _parse_json(path)
    if not isinstance(data, dict):
        raise AdamlabError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _parse_json(path: Path) -> Any:
    try:
        text = read_regular(path).decode("utf-8")
    except OSError as exc:
        raise AdamlabError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise AdamlabError(f"{path}: not UTF-8 text (damaged file?)") from None
    if not text.strip():
        raise AdamlabError(f"{path}: empty file (truncated?)")
    # lazy: pydantic_core, only when a file is read (not for `adamlab --help`)
    from pydantic_core import from_json

    try:
        # pydantic's parser reads the same JSON (NaN and Infinity included) twice as fast as
        # json's; what it refuses is left to json, whose answer (and message) is the reference
        return from_json(text)
    except ValueError:
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # a JSON object or list that stops short of its closing bracket was cut off
        cut = " (the file ends early: truncated?)" if text.rstrip()[-1:] not in "}]" else ""
        raise AdamlabError(
            f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{cut}"
        ) from None
