"""Reading user files (YAML, JSON) and validating them into models; each failure is one InputError.

Every loader of the project (directives, cases, scenarios, sweeps, region maps, calendars) goes
through these, so a bad file is reported the same way everywhere: the file, then the line, row or
field, then the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from throttlebed.errors import InputError

M = TypeVar("M", bound=BaseModel)


def read_text(path: str | Path) -> str:
    """A UTF-8 text file's content; an unreadable file is an InputError naming it."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(e.strerror or "cannot read", source=str(p)) from None
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file", source=str(p)) from None


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, whose impossible dates (2026-02-30) and unreadable numbers are errors at
    their line."""


def _at_its_line(tag: str, what: Callable[[yaml.Node, ValueError], str]) -> None:
    """Make the safe loader's constructor of ``tag`` report a value it cannot build (a ValueError) as
    a YAML error at the node's line, ``what`` saying why."""
    construct = yaml.SafeLoader.yaml_constructors[tag]

    def marked(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except ValueError as e:
            raise yaml.constructor.ConstructorError(None, None, what(node, e), node.start_mark) from None

    _Loader.add_constructor(tag, marked)


_at_its_line("tag:yaml.org,2002:timestamp", lambda node, e: f"{node.value} is not a date or time ({e})")
_at_its_line("tag:yaml.org,2002:int", lambda node, e: f"cannot read the number ({e})")  # > 4300 digits


def parse_yaml(text: str, source: str | None = None) -> Any:
    """Parse YAML (JSON is YAML); a syntax error names the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # a safe loader: plain data only
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        reason = getattr(e, "problem", None) or "not valid YAML or JSON"
        raise InputError(str(reason), source=source, where=where) from None
    except RecursionError:
        raise InputError("nested too deeply to read", source=source) from None


def read_yaml(path: str | Path) -> Any:
    """Read and parse a YAML or JSON file."""
    return parse_yaml(read_text(path), source=str(path))


def read_json(path: str | Path) -> Any:
    """Read and parse a strict JSON file; a syntax error names the line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}", source=str(path), where=f"line {e.lineno}") from None
    except RecursionError:
        raise InputError("nested too deeply to read", source=str(path)) from None
    except ValueError as e:  # an integer of more than 4300 digits
        raise InputError(f"cannot read a value: {e}", source=str(path)) from None


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if not text or not text.isprintable() or text != text.strip():
                text = repr(text)  # a field named "" or "\r" is shown as such, on the same line
            out += ("." if out else "") + text
    return out


def validation_error_to_input_error(err: ValidationError, source: str | None) -> InputError:
    """The first problem of a pydantic ValidationError as a one-line InputError."""
    first = err.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = "missing field"
    elif first["type"] == "extra_forbidden":
        msg = "unknown field"
    more = len(err.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InputError(msg, source=source, where=_format_loc(loc) or None)


def model_from_data(model: type[M], data: Any, source: str | None, not_a_mapping: str) -> M:
    """Validate parsed data into ``model``; ``not_a_mapping`` is the reason given for non-dicts."""
    if not isinstance(data, dict):
        raise InputError(not_a_mapping, source=source)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise validation_error_to_input_error(e, source) from None
