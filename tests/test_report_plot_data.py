"""The region plots' data, taken from a real sim run: each region's own samples, and its caps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from throttlebed.experiments.report import draw_region_plot, region_plot_data
from throttlebed.experiments.runner import execute
from throttlebed.experiments.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"


def test_each_region_plot_shows_that_regions_samples_and_caps(tmp_path):
    data = yaml.safe_load((SCENARIOS / "national-day.yaml").read_text())
    data["regions"] = ["KZ-75", "KZ-10", "KZ-71"]
    data["load"]["users_scale"] = 0.02
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    r = execute(load_scenario(path), "sim")
    plots = region_plot_data(r)
    assert [p.title.split()[0] for p in plots] == ["KZ-75", "KZ-10", "KZ-71"]
    stage = r.stages[0]
    for p in plots:
        region = p.title.split()[0]
        base, enforced, cap = p.lines
        assert (base.label, enforced.label, cap.label) == ("baseline", "enforced 50%", "cap 50%")
        for line, table in ((base, r.baseline), (enforced, stage.enforced)):
            rows = table[(table["region"] == region) & (table["direction"] == "down")
                         & (table["traffic"] == "platform")].sort_values("time")
            kbps = rows["kbps"].to_numpy(float)
            assert np.array_equal(line.y_mbps, np.append(kbps, kbps[-1]) / 1000.0)  # last step held
            hours = (pd.to_datetime(rows["time"]) - pd.Timestamp(r.scenario.day)).dt.total_seconds() / 3600
            assert line.x_h[0] == hours.iloc[0] and line.x_h[-1] == hours.iloc[-1] + 1 / 60
        for row in stage.directive.rows:
            if row.region == region:
                minute = int(row.period[:2]) * 60  # the period's first minute (HH:MM-HH:MM)
                assert cap.y_mbps[minute] == row.cap_kbps / 1000.0
        assert draw_region_plot(p)[:8] == b"\x89PNG\r\n\x1a\n"
