"""Properties: what the library writes it reads back equal; ``check`` never crashes."""

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_util import run_cli
from throttlebed.directive.caps import cap_kbps
from throttlebed.directive.regions import region_codes
from throttlebed.directive.schema import directive_from_data, load_directive, save_directive


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def region_rows(draw, region):
    """Non-overlapping periods for one region: cut points on the circle of the day."""
    cuts = sorted(draw(st.sets(st.integers(0, 1439), min_size=2, max_size=6)))
    shift = draw(st.integers(0, 1439))
    cuts = sorted((c + shift) % 1440 for c in cuts)
    pairs = list(zip(cuts, cuts[1:] + cuts[:1], strict=True))
    keep = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    rows = []
    for (a, b), k in zip(pairs, keep, strict=True):
        if not k:
            continue
        peak = draw(st.floats(0, 1e7, allow_nan=False, allow_infinity=False))
        stage = draw(st.sampled_from([10, 50, 90]))
        rows.append({"region": region, "period": f"{clock(a)}-{clock(b)}", "peak_kbps": peak,
                     "cap_kbps": cap_kbps(peak, stage)})
    return rows


@st.composite
def directives(draw):
    regions = draw(st.lists(st.sampled_from(region_codes()), min_size=1, max_size=5, unique=True))
    rows = [r for reg in regions for r in draw(region_rows(reg))]
    if not rows:
        rows = [{"region": regions[0], "period": "00:00-24:00", "peak_kbps": 1.0, "cap_kbps": 0}]
    data = {
        "platform": draw(st.text(string.ascii_letters + "Ққ ", min_size=1, max_size=12)),
        "platform_prefixes": draw(st.lists(st.sampled_from(["203.0.113.0/24", "198.18.0.0/15"]),
                                           unique=True, max_size=2)),
        "stage": draw(st.sampled_from([10, 50, 90])),
        "directive_number": draw(st.none() | st.text(string.digits + "-/", min_size=1, max_size=8)),
        "notification_date": draw(st.none() | st.dates().map(lambda d: d.isoformat())),
        "rows": draw(st.permutations(rows)),
    }
    return directive_from_data(data)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(d=directives(), suffix=st.sampled_from([".yaml", ".json"]))
def test_written_directive_reads_back_equal(tmp_path, d, suffix):
    path = tmp_path / f"d{suffix}"
    save_directive(d, path)
    assert load_directive(path) == d


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.sampled_from(["KZ-75", "00:00-07:00", "22:00-02:00", "rows", "cap_kbps", 10, 50, 90]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["platform", "stage", "rows", "region", "period", "peak_kbps",
                                       "cap_kbps", "method", "x"]) | st.text(max_size=5),
                      children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=yaml_values)
def test_check_never_crashes_on_arbitrary_yaml(tmp_path, value):
    path = tmp_path / "arbitrary.yaml"
    path.write_text(yaml.safe_dump(value, allow_unicode=True))
    res = run_cli("directive", "check", path)
    assert res.code in (0, 2), res.err
    if res.code == 2:
        assert res.err.startswith(f"throttlebed: error: {path}")
        assert res.err.count("\n") == 1


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_check_never_crashes_on_arbitrary_text(tmp_path, text):
    path = tmp_path / "arbitrary.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    res = run_cli("directive", "check", path)
    assert res.code in (0, 2), res.err


def test_caps_are_exact():
    assert cap_kbps(1000, 10) == 900
    assert cap_kbps(999, 90) == 99
    assert cap_kbps(0.5, 50) == 0
    assert cap_kbps(1e9 + 1, 50) == 500_000_000
