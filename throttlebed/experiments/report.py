"""The run report: one self-contained ``report.html`` (plots embedded as base64 PNG), PNGs beside it.

Per region, the platform's downstream throughput over the day, baseline against enforced, with
the cap of each stage as a step function; the verdict of every (region, period) cell; the
directive's table; the Appendix 3 document when its renderer is available; the run's context
(scenario, seed, backend, time_scale, rate_scale, measurement source, tolerances).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from matplotlib.figure import Figure

from throttlebed.directive.periods import MINUTES_PER_DAY
from throttlebed.directive.regions import get_region
from throttlebed.experiments.verdict import select
from throttlebed.fileio import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from throttlebed.experiments.runner import RunResult

STAGE_COLOURS = {10: "#1f77b4", 50: "#ff7f0e", 90: "#d62728"}
PLOT_DPI = 90


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PLOT_DPI, bbox_inches="tight")
    return buf.getvalue()


def _hours(df: pd.DataFrame, day: pd.Timestamp) -> np.ndarray:
    return ((pd.to_datetime(df["time"]) - day).dt.total_seconds() / 3600.0).to_numpy()


def _interval_means(ax, df: pd.DataFrame, day: pd.Timestamp, interval_s: float, **style) -> None:
    """Each sample as the mean it is: a flat step over its sampling interval."""
    x = _hours(df, day)
    y = df["kbps"].to_numpy(float) / 1000.0
    if len(x):
        x = np.append(x, x[-1] + interval_s / 3600.0)
        y = np.append(y, y[-1])
    ax.step(x, y, where="post", **style)


def region_plot(r: RunResult, region: str) -> bytes:
    """PNG: one region's platform downstream throughput, baseline and enforced, and the caps."""
    day = pd.Timestamp(r.scenario.day)
    direction = r.scenario.peaks.direction
    fig = Figure(figsize=(9.0, 2.8))
    ax = fig.subplots()
    base = select(r.baseline, direction=direction, source=r.source)
    base = base.loc[base["region"] == region].sort_values("time")
    interval_s = r.scenario.backend.sampling_interval_s
    _interval_means(ax, base, day, interval_s, color="#888888", lw=0.8, label="baseline")
    minutes = np.arange(MINUTES_PER_DAY + 1)
    for s in r.stages:
        colour = STAGE_COLOURS.get(s.stage, "#2ca02c")
        enf = select(s.enforced, direction=direction, source=r.source)
        enf = enf.loc[enf["region"] == region].sort_values("time")
        _interval_means(ax, enf, day, interval_s, color=colour, lw=0.8, label=f"enforced {s.stage}%")
        caps = [s.directive.cap_at(region, int(m) % MINUTES_PER_DAY) for m in minutes]
        cap_mbps = np.array([np.nan if c is None else c / 1000.0 for c in caps])
        ax.step(minutes / 60.0, cap_mbps, where="post", color=colour, lw=1.2, ls="--",
                label=f"cap {s.stage}%")
    b = r.scenario.backend
    ax.set_xlim(b.start_s / 3600.0, b.end_s / 3600.0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("local time (UTC+5), h")
    ax.set_ylabel("Mbit/s")
    ax.set_title(f"{region} {get_region(region).name_en}: platform throughput ({direction})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 + len(r.stages), loc="upper left")
    return _png(fig)


def reduction_plot(r: RunResult) -> bytes:
    """PNG: achieved reduction per cell against each stage's target."""
    fig = Figure(figsize=(9.0, 2.8))
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


def render_report(r: RunResult, verdict: dict[str, Any], out_dir: Path) -> Path:
    """Write ``plots/*.png`` and ``report.html`` into ``out_dir``; return the report's path."""
    out_dir = Path(out_dir)
    plots: list[dict[str, str]] = []
    for region in r.scenario.region_list():
        png = region_plot(r, region)
        name = f"plots/throughput-{region}.png"
        atomic_write_bytes(out_dir / name, png)
        plots.append({"region": region, "name": get_region(region).name_en, "file": name,
                      "b64": base64.b64encode(png).decode("ascii")})
    red_png = reduction_plot(r)
    atomic_write_bytes(out_dir / "plots/reduction.png", red_png)
    docs, missing = appendix3_documents(r)
    appendix3 = None
    for name, content in docs.items():
        if isinstance(content, bytes):
            atomic_write_bytes(out_dir / name, content)
        else:
            atomic_write_text(out_dir / name, content)
        if name.endswith(".html"):
            appendix3 = content
    env = Environment(loader=PackageLoader("throttlebed", "templates/report"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, nd=0: "" if v is None else f"{v:,.{nd}f}"
    env.filters["pct"] = _pct
    html = env.get_template("report.html.j2").render(
        v=verdict, sc=r.scenario, r=r, plots=plots,
        reduction_b64=base64.b64encode(red_png).decode("ascii"),
        stages=[{"stage": s.stage, "pass": s.passed, "cells": verdict_cells(s.cells),
                 "collateral": s.collateral} for s in r.stages],
        directive_rows=_directive_rows(r), appendix3=appendix3, appendix3_missing=missing,
        scenario_json=json.dumps(r.scenario.to_data(), indent=2, ensure_ascii=False),
    )
    return atomic_write_text(out_dir / "report.html", html)


def verdict_cells(cells: pd.DataFrame) -> list[dict[str, Any]]:
    """Cells as plain dicts for the template."""
    from throttlebed.experiments.verdict import records

    return records(cells)
