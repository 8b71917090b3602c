"""JSON Schemas of the files users write: scenarios and directives, exported from the models.

``python -m throttlebed.experiments.schemas [DIR]`` writes them into DIR (default ``schemas``);
a test checks that the files in the repository equal what the models export.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from throttlebed.directive.schema import directive_json_schema
from throttlebed.experiments.scenario import scenario_json_schema
from throttlebed.fileio import atomic_write_text

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXPORTS: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "scenario.schema.json": ("A scenario file (throttlebed run SCENARIO.yaml)", scenario_json_schema),
    "directive.schema.json": ("A directive of Appendix 3 to Order 267-NK", directive_json_schema),
}


def schema_texts() -> dict[str, str]:
    """File name -> JSON text of every exported schema."""
    out = {}
    for name, (description, make) in EXPORTS.items():
        schema = {"$schema": JSON_SCHEMA_DIALECT, "$id": name, "description": description, **make()}
        out[name] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out


def write_schemas(directory: str | Path = "schemas") -> list[Path]:
    """Write every schema into ``directory``."""
    return [atomic_write_text(Path(directory) / name, text) for name, text in schema_texts().items()]


if __name__ == "__main__":
    for path in write_schemas(sys.argv[1] if len(sys.argv) > 1 else "schemas"):
        print(path)
