"""The run report: one self-contained ``report.html`` (plots embedded as base64 PNG), PNGs beside it.

Per region, the platform's downstream throughput over the day, baseline against enforced, with
the cap of each stage as a step function; the verdict of every (region, period) cell; the user
impact of each cell (completion-time inflation of the same sessions, shares slowed and abandoned); the
directive's table; the Appendix 3 document when its renderer is available; the run's context
(scenario, seed, backend, time_scale, rate_scale, measurement source, tolerances).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from matplotlib.figure import Figure

from throttlebed.directive.cap_table import minute_of_day
from throttlebed.directive.periods import MINUTES_PER_DAY
from throttlebed.directive.regions import get_region
from throttlebed.experiments.draw_pool import Drawings
from throttlebed.experiments.result import RunResult, cell_records
from throttlebed.experiments.verdict import directed
from throttlebed.fileio import atomic_write_bytes, atomic_write_text
from throttlebed.template_cache import template_cache

STAGE_COLOURS = {10: "#1f77b4", 50: "#ff7f0e", 90: "#d62728"}
PLOT_DPI = 90
PLOT_WIDTH_IN = 8.0


def _figure(height_in: float, left_in: float = 0.75) -> Figure:
    """A figure of the report's width with fixed margins (inches): drawn once when saved, where a
    tight bounding box costs a second full layout pass (20 region plots a run)."""
    fig = Figure(figsize=(PLOT_WIDTH_IN, height_in))
    fig.subplots_adjust(left=left_in / PLOT_WIDTH_IN, right=1 - 0.15 / PLOT_WIDTH_IN,
                        bottom=0.55 / height_in, top=1 - 0.3 / height_in)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PLOT_DPI)
    return buf.getvalue()


@dataclass(frozen=True)
class StepLine:
    """One line of a plot, drawn as steps held after each x (hours of the day; y in Mbit/s)."""

    x_h: np.ndarray
    y_mbps: np.ndarray
    colour: str
    width: float
    style: str
    label: str


@dataclass(frozen=True)
class RegionPlotData:
    """What a region's throughput plot shows, as plain arrays: all :func:`draw_region_plot` needs."""

    title: str
    xlim_h: tuple[float, float]
    lines: list[StepLine]
    legend_columns: int


def _interval_means(df: pd.DataFrame, day: pd.Timestamp, interval_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Each sample as the mean it is: a flat step over its sampling interval (hours, Mbit/s)."""
    x = ((pd.to_datetime(df["time"]) - day).dt.total_seconds() / 3600.0).to_numpy()
    y = df["kbps"].to_numpy(float) / 1000.0
    if len(x):
        x = np.append(x, x[-1] + interval_s / 3600.0)
        y = np.append(y, y[-1])
    return x, y


def _by_region(df: pd.DataFrame, direction: str, source: str | None) -> dict[str, pd.DataFrame]:
    """The platform samples read as ``direction``, one time-ordered table per region."""
    d = directed(df, direction, source)
    return {str(k): g.sort_values("time") for k, g in d.groupby("region", sort=False, observed=True)}


def region_plot_data(r: RunResult) -> list[RegionPlotData]:
    """Per region of the run: its platform throughput, baseline and enforced, and each stage's cap."""
    day = pd.Timestamp(r.scenario.day)
    direction = "down" if r.scenario.peaks.direction == "both" else r.scenario.peaks.direction
    interval_s = r.scenario.backend.sampling_interval_s
    regions = r.scenario.region_list()
    empty = pd.DataFrame({"time": pd.Series(dtype="datetime64[ns]"), "kbps": pd.Series(dtype=float)})
    base = _by_region(r.baseline, direction, r.source)
    enforced = [_by_region(s.enforced, direction, r.source) for s in r.stages]
    minutes = np.arange(MINUTES_PER_DAY + 1)
    lift_min = MINUTES_PER_DAY + 1 if r.scenario.lift_s is None else r.scenario.lift_s / 60
    caps = [s.directive.cap_table.caps_per_minute(regions, direction)[:, minute_of_day(minutes)]
            for s in r.stages]
    b = r.scenario.backend
    out = []
    for i, region in enumerate(regions):
        lines = [StepLine(*_interval_means(base.get(region, empty), day, interval_s), "#888888", 0.8, "-",
                          "baseline")]
        for s, enf, cap in zip(r.stages, enforced, caps, strict=True):
            colour = STAGE_COLOURS.get(s.stage, "#2ca02c")
            lines.append(StepLine(*_interval_means(enf.get(region, empty), day, interval_s), colour, 0.8, "-",
                                  f"enforced {s.stage}%"))
            cap_mbps = np.where(np.isfinite(cap[i]) & (minutes < lift_min), cap[i] / 1000.0, np.nan)
            lines.append(StepLine(minutes / 60.0, cap_mbps, colour, 1.2, "--", f"cap {s.stage}%"))
        out.append(RegionPlotData(f"{region} {get_region(region).name_en}: platform throughput ({direction})",
                                  (b.start_s / 3600.0, b.end_s / 3600.0), lines, 2 + len(r.stages)))
    return out


def draw_region_plot(p: RegionPlotData) -> bytes:
    """PNG of one region's throughput plot."""
    fig = _figure(3.0)
    ax = fig.subplots()
    for line in p.lines:
        ax.step(line.x_h, line.y_mbps, where="post", color=line.colour, lw=line.width, ls=line.style,
                label=line.label)
    ax.set_xlim(*p.xlim_h)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("local time (UTC+5), h")
    ax.set_ylabel("Mbit/s")
    ax.set_title(p.title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=p.legend_columns, loc="upper left")
    return _png(fig)


def reduction_plot(r: RunResult) -> bytes:
    """PNG: achieved reduction per cell against each stage's target."""
    fig = _figure(3.0)
    ax = fig.subplots()
    tol_pp = r.scenario.tolerance.reduction_pp
    for s in r.stages:
        colour = STAGE_COLOURS.get(s.stage, "#2ca02c")
        c = s.cells
        x = np.arange(len(c))
        y = c["reduction_achieved"].astype(float).to_numpy() * 100
        marker_fail = ~c["pass"].to_numpy(bool)
        ax.scatter(x[~marker_fail], y[~marker_fail], s=12, color=colour, label=f"stage {s.stage}%: pass")
        if marker_fail.any():
            ax.scatter(x[marker_fail], y[marker_fail], s=30, marker="x", color="black",
                       label=f"stage {s.stage}%: fail")
        ax.axhspan(s.stage - tol_pp, s.stage + tol_pp, color=colour, alpha=0.15)
    ax.set_ylim(0, 100)
    ax.set_xlabel("cell (region, period), in table order")
    ax.set_ylabel("reduction achieved, %")
    ax.set_title("Reduction from the peak per cell; bands: target +/- tolerance", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def impact_plot(r: RunResult) -> bytes | None:
    """PNG: per cell, the median and 95th-percentile completion-time inflation of platform and other
    sessions (log scale), and the shares of platform sessions slowed more than 2x and abandoned."""
    stages = [s for s in r.stages if s.impact is not None]
    if not stages:
        return None
    fig = _figure(4.4, left_in=0.95)
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    width = 0.8 / len(stages)
    for k, s in enumerate(stages):
        colour = STAGE_COLOURS.get(s.stage, "#2ca02c")
        t = s.impact
        plat = t.loc[t["traffic"] == "platform"].reset_index(drop=True)
        other = t.loc[t["traffic"] == "other"].reset_index(drop=True)
        x = np.arange(len(plat)) + (k - (len(stages) - 1) / 2) * width
        med = plat["median_inflation"].astype(float).to_numpy()
        p95 = plat["p95_inflation"].astype(float).to_numpy()
        ax.vlines(x, med, p95, color=colour, lw=1.0)
        ax.scatter(x, med, s=14, color=colour, label=f"platform {s.stage}%: median (line to p95)")
        ax.scatter(x, other["median_inflation"].astype(float).to_numpy(), s=10, marker="s", color="#888888",
                   label="other traffic: median" if k == 0 else None)
        slowed = plat["share_slowed_2x"].astype(float).fillna(0).to_numpy() * 100
        gone = plat["share_abandoned"].astype(float).fillna(0).to_numpy() * 100
        ax2.bar(x, slowed, width=width, color=colour, alpha=0.6, label=f"{s.stage}%: slowed > 2x")
        ax2.bar(x, gone, width=width, bottom=slowed, color=colour, hatch="///", edgecolor="black", lw=0,
                label=f"{s.stage}%: abandoned")
    ax.axhline(1.0, color="black", lw=0.6)
    ax.set_yscale("log")
    ax.set_ylabel("completion time,\nenforced / baseline")
    ax.set_title("User impact per cell: the same sessions with and without the directive", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left")
    ax2.set_ylabel("platform sessions, %")
    ax2.set_xlabel("cell (region, period), in table order")
    ax2.set_ylim(bottom=0)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7, loc="upper left", ncol=2)
    return _png(fig)


def appendix3_documents(r: RunResult) -> tuple[dict[str, str | bytes], str | None]:
    """The final stage's Appendix 3 document (file name -> content: html, md, docx), or why not."""
    from throttlebed.directive.documents import render_document
    from throttlebed.errors import InputError

    lang = r.scenario.case.lang
    try:
        return {f"appendix3.{lang}.{fmt}": render_document(3, lang, fmt, directive=r.final.directive)
                for fmt in ("html", "md", "docx")}, None
    except InputError as e:
        return {}, f"the scenario's case data is incomplete: {e}"


def _directive_rows(r: RunResult) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for s in r.stages:
        for row in s.directive.rows:
            d = rows.setdefault((row.region, row.period), {
                "region": row.region, "name": get_region(row.region).name_en, "period": row.period,
                "peak_kbps": row.peak_kbps, "caps": {}})
            d["caps"][s.stage] = row.cap_kbps
    return list(rows.values())


def _pct(v: float | None, nd: int = 1) -> str:
    """A fraction as a percentage with ``nd`` decimals; no "-0.0%"."""
    if v is None:
        return ""
    text = f"{100 * v:.{nd}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return f"{text}%"


def render_report(r: RunResult, verdict: dict[str, Any], out_dir: Path,
                  validation: dict[str, Any] | None = None) -> Path:
    """Write ``plots/*.png`` and ``report.html`` into ``out_dir``; return the report's path.

    ``validation`` (a validation.json document) puts a conformance section first.
    """
    out_dir = Path(out_dir)
    regions = r.scenario.region_list()
    jobs = [partial(draw_region_plot, p) for p in region_plot_data(r)]
    # the impact plot takes 3-4 region plots' time: first, so that the drawers end together
    with Drawings([partial(impact_plot, r), partial(reduction_plot, r), *jobs]) as drawings:
        docs, missing = appendix3_documents(r)
        impact_png, red_png, *region_pngs = drawings.results()
    plots: list[dict[str, str]] = []
    for region, png in zip(regions, region_pngs, strict=True):
        name = f"plots/throughput-{region}.png"
        atomic_write_bytes(out_dir / name, png)
        plots.append({"region": region, "name": get_region(region).name_en, "file": name,
                      "b64": base64.b64encode(png).decode("ascii")})
    atomic_write_bytes(out_dir / "plots/reduction.png", red_png)
    if impact_png is not None:
        atomic_write_bytes(out_dir / "plots/impact.png", impact_png)
    appendix3 = None
    for name, content in docs.items():
        if isinstance(content, bytes):
            atomic_write_bytes(out_dir / name, content)
        else:
            atomic_write_text(out_dir / name, content)
        if name.endswith(".html"):
            appendix3 = content
    env = Environment(loader=PackageLoader("throttlebed", "templates/report"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True,
                      bytecode_cache=template_cache())
    env.filters["num"] = lambda v, nd=0: "" if v is None else f"{v:,.{nd}f}"
    env.filters["pct"] = _pct
    html = env.get_template("report.html.j2").render(
        v=verdict, sc=r.scenario, r=r, plots=plots, validation=validation,
        reduction_b64=base64.b64encode(red_png).decode("ascii"),
        impact_b64=base64.b64encode(impact_png).decode("ascii") if impact_png is not None else None,
        stages=[{"stage": s.stage, "pass": s.passed, "cells": cell_records(s),
                 "collateral": s.collateral, "lift": s.lift, "impact": s.impact_overall} for s in r.stages],
        directive_rows=_directive_rows(r), appendix3=appendix3, appendix3_missing=missing,
        scenario_json=json.dumps(r.scenario.to_data(), indent=2, ensure_ascii=False),
    )
    return atomic_write_text(out_dir / "report.html", html)

