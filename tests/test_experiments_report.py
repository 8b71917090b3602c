"""The run report in headless Chromium: self-contained, one throughput plot per region."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests import browser
from tests.cli_util import run_cli
from throttlebed.directive.regions import region_codes

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"


@pytest.mark.browser
def test_report_renders_one_plot_per_region(tmp_path, artifacts_dir):
    if not browser.available():
        pytest.skip("headless Chromium is not installed (make setup installs it)")
    data = yaml.safe_load((SCENARIOS / "national-day.yaml").read_text())
    data["load"]["users_scale"] = 0.01
    path = tmp_path / "national-day.yaml"
    path.write_text(yaml.safe_dump(data))
    res = run_cli("run", path, "--out", tmp_path / "out", "--quiet")
    assert res.code == 0, res.err
    report = Path(res.out.strip())
    html = report.read_text()
    assert "src=\"http" not in html and "href=\"http" not in html  # self-contained
    dom = browser.dump_dom(report)
    figures = re.findall(r'<figure class="region-plot" data-region="(KZ-\d\d)"', dom)
    assert figures == list(region_codes())
    imgs = re.findall(r'<img alt="throughput (KZ-\d\d)" src="data:image/png;base64,([A-Za-z0-9+/=]{1000,})"',
                      dom)
    assert [r for r, _ in imgs] == list(region_codes())
    assert 'id="overall" class="badge pass"' in dom
    assert len(re.findall(r'<tr class="cell cell-pass">', dom)) == 80
    assert "Appendix 3" in dom and "srcdoc=" in dom
    png = browser.screenshot(report, artifacts_dir / "experiments-report.png", height=2400)
    assert png.stat().st_size > 50_000
