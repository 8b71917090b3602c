"""Bad input at volume: generated directives and scenarios through the loaders, in-process.

Each example is a valid file mutated (fields replaced by odd values - inf, nan, 1e12, odd text,
lists where numbers belong -, removed, or given strange neighbours) or not a mapping at all. The
loaders return a model or raise a one-line InputError (exit 2), never anything else; the CLI
(``directive check``, ``topology show``) exits 0 or 2 with one line and never a traceback.
11,200 examples per run: 5,000 directives and 5,000 scenarios as data, 600 directive and 300
scenario files through the CLI, 300 garbled texts.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_util import run_cli
from throttlebed.directive.schema import directive_from_data
from throttlebed.errors import InputError
from throttlebed.experiments.scenario import scenario_from_data

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"
SCENARIO = SCENARIOS / "ci-emulated.yaml"
FUZZ = settings(deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

VALID_DIRECTIVE: dict[str, Any] = {
    "platform": "ExampleTube", "platform_prefixes": ["203.0.113.0/24"], "stage": 50,
    "rows": [{"region": "KZ-75", "period": "00:00-12:00", "peak_kbps": 2000.0, "cap_kbps": 1000},
             {"region": "KZ-75", "period": "12:00-24:00", "peak_kbps": 4000.5, "cap_kbps": 2000},
             {"region": "KZ-71", "period": "18:00-02:00", "peak_kbps": 100.0, "cap_kbps": 50}],
}
VALID_SCENARIO: dict[str, Any] = yaml.safe_load(SCENARIO.read_text())

odd_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["KZ-75", "all", "00:00-24:00", "24:00-00:00", "2026-02-30", "10", "1e12", ".inf",
                     "203.0.113.0/33", "-1", "mininet", "p99", "p100", "max", "\x00", "25:00-01:00"]),
)
odd_keys = st.sampled_from(["a", "", "\r", "region", "kbps"])
odd_values = st.one_of(odd_scalars, st.lists(odd_scalars, max_size=3),
                       st.dictionaries(odd_keys, odd_scalars, max_size=2))


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts and lists."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(valid: dict[str, Any], paths: list[tuple], edits: list[tuple[int, str, Any]]) -> Any:
    """``valid`` with ``edits`` (path index, how, value) applied; edits on vanished paths are skipped."""
    data = copy.deepcopy(valid)
    for i, how, value in edits:
        path = paths[i % len(paths)]
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            if how == "replace":
                parent[path[-1]] = value
            elif how == "remove" and isinstance(parent, dict):
                del parent[path[-1]]
            elif how == "add" and isinstance(parent, dict):
                parent[str(value)[:10]] = value
        except (KeyError, IndexError, TypeError):
            continue
    return data


def mutated(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """``valid`` with one to three of its values replaced, removed, or given a stranger beside it;
    one in twenty examples is not a mapping at all."""
    paths = _paths(valid)
    edit = st.tuples(st.integers(0, len(paths) - 1), st.sampled_from(["replace", "replace", "remove", "add"]),
                     odd_values)
    return st.one_of(st.lists(edit, min_size=1, max_size=3).map(lambda e: _mutate(valid, paths, e)),
                     odd_values)


def _text(data: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(data, default=str)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def assert_clean_exit(args: list[Any], path: Path) -> int:
    res = run_cli(*args)
    assert res.code in (0, 2), (res.code, res.err, path.read_text(errors="replace")[:500])
    assert "Traceback" not in res.err and "internal error" not in res.err, res.err
    if res.code == 2:
        lines = res.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("throttlebed: error:"), res.err
    return res.code


def assert_loads_or_input_error(load: Any, data: Any) -> None:
    """The loader returns, or raises a one-line InputError naming the source (exit 2 in the CLI).

    Any other exception escapes and fails the test with its traceback (it would be exit 1).
    """
    try:
        load(data, "generated.yaml")
    except InputError as e:
        assert len(str(e).splitlines()) == 1 and str(e).startswith("generated.yaml"), str(e)


@settings(FUZZ, max_examples=5000)
@given(data=mutated(VALID_DIRECTIVE))
def test_generated_directive_data_loads_or_is_bad_input(data: Any) -> None:
    assert_loads_or_input_error(directive_from_data, data)


@settings(FUZZ, max_examples=5000)
@given(data=mutated(VALID_SCENARIO))
def test_generated_scenario_data_loads_or_is_bad_input(data: Any) -> None:
    assert_loads_or_input_error(scenario_from_data, data)


@settings(FUZZ, max_examples=600)
@given(data=mutated(VALID_DIRECTIVE), as_json=st.booleans())
def test_generated_directive_files_through_the_cli_exit_0_or_2(tmp_path: Path, data: Any,
                                                              as_json: bool) -> None:
    f = tmp_path / ("d.json" if as_json else "d.yaml")
    f.write_text(_text(data, as_json), encoding="utf-8")
    assert_clean_exit(["directive", "check", f], f)


@settings(FUZZ, max_examples=300)
@given(data=mutated(VALID_SCENARIO))
def test_generated_scenario_files_through_the_cli_exit_0_or_2(tmp_path: Path, data: Any) -> None:
    f = tmp_path / "s.json"  # JSON is YAML: the scenario loader reads it, faster to write
    f.write_text(_text(data, True), encoding="utf-8")
    assert_clean_exit(["topology", "show", f, "--json"], f)


@settings(FUZZ, max_examples=300)
@given(raw=st.binary(max_size=200), kind=st.sampled_from(["directive", "scenario"]),
       cut=st.integers(0, 400))
def test_garbled_text_exits_0_or_2(tmp_path: Path, raw: bytes, kind: str, cut: int) -> None:
    valid = VALID_DIRECTIVE if kind == "directive" else VALID_SCENARIO
    f = tmp_path / "g.yaml"
    f.write_bytes(_text(valid, False).encode()[:cut] + raw)
    args = ["directive", "check", f] if kind == "directive" else ["topology", "show", f, "--json"]
    assert_clean_exit(args, f)


def test_the_unmutated_inputs_load(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(_text(VALID_DIRECTIVE, False))
    assert assert_clean_exit(["directive", "check", f], f) == 0
    assert scenario_from_data(VALID_SCENARIO, "x").name == "ci-emulated"
