"""The JSON Schemas in ``schemas/`` are exactly what the models export."""

from __future__ import annotations

import json
from pathlib import Path

from throttlebed.experiments.schemas import schema_texts

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def test_schema_files_equal_the_models_export():
    for name, text in schema_texts().items():
        path = SCHEMAS / name
        assert path.is_file(), f"{path} missing: python -m throttlebed.experiments.schemas"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: regenerate with python -m throttlebed.experiments.schemas")


def test_scenario_schema_names_the_fields_and_forbids_others():
    schema = json.loads((SCHEMAS / "scenario.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert {"name", "regions"} <= set(schema["required"])
    # periods and day are required unless `directive` / `demand` give them (checked by the model)
    assert {"periods", "day", "directive", "demand", "stage", "stages", "load", "backend", "tolerance",
            "seed"} <= set(schema["properties"])
    load = schema["$defs"]["ScenarioLoad"]["properties"]
    assert load["users_scale"]["maximum"] == 1.0 and load["users_scale"]["exclusiveMinimum"] == 0
    backend = schema["$defs"]["BackendOptions"]["properties"]
    assert backend["sampling_interval_s"]["minimum"] == 1.0
    assert backend["time_scale"]["maximum"] == 10_000.0
    directive = json.loads((SCHEMAS / "directive.schema.json").read_text())
    assert {"platform", "stage", "rows"} <= set(directive["required"])
