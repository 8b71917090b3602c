"""The Prometheus text of /metrics."""

from __future__ import annotations

import re
from datetime import datetime

from throttlebed.controller.metrics import metrics_text
from throttlebed.controller.plan import switch_plan
from throttlebed.controller.stats import StatsRow
from throttlebed.directive.schema import directive_from_data

D = directive_from_data({"platform": "P", "platform_prefixes": ["203.0.113.0/24"], "stage": 50, "rows": [
    {"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 40000, "cap_kbps": 20000}]})
LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+]+$')


def test_metrics_text_format_and_values():
    plans = {1: switch_plan(1, None, D, 0), 0x1075: switch_plan(0x1075, "KZ-75", D, 0, rate_scale=0.1)}
    t = datetime(2026, 3, 1, 7)
    latest = [StatsRow(t, "KZ-75", "down", "platform", 19500.0, 1950.0),
              StatsRow(t, "KZ-75", "both", "other", 100.0, 10.0)]
    text = metrics_text(plans, latest, {(0x1075, 1): (12, 18000)}, 2, 0.1, 600)
    lines = text.splitlines()
    for line in lines:
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or LINE.match(line), line
    assert 'throttlebed_meter_rate_kbps{region="KZ-75",direction="down",dpid="0x1075"} 2000' in lines
    assert 'throttlebed_cap_kbps{region="KZ-75",direction="up",dpid="0x1075"} 20000' in lines
    assert 'throttlebed_platform_kbps{region="KZ-75",direction="down"} 19500.0' in lines
    assert 'throttlebed_platform_wire_kbps{region="KZ-75",direction="down"} 1950.0' in lines
    assert 'throttlebed_other_kbps{region="KZ-75",direction="both"} 100.0' in lines
    assert 'throttlebed_meter_band_drops_total{region="KZ-75",direction="down"} 12' in lines
    assert "# TYPE throttlebed_meter_band_drops_total counter" in lines
    assert "throttlebed_switches_connected 2" in lines
    assert text.endswith("\n")
    # every family has exactly one HELP and one TYPE line
    types = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(types) == len(set(types))
