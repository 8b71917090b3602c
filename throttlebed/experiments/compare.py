"""Two runs of one scenario (e.g. on sim and on mininet) compared cell by cell.

Cells are matched on (stage, region, period). For each: the difference of the reduction achieved
in percentage points (B - A), and whether ``held`` and ``pass`` agree. The comparison is
``within`` a threshold when every matched cell's |difference| is at most ``max_diff_pp`` and no
cell is missing from either run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from throttlebed.errors import InputError
from throttlebed.validation import model_from_data, read_json

DEFAULT_MAX_DIFF_PP = 5.0

CellKey = tuple[int, str, str]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True)


class VerdictCell(_Model):
    """The fields of a verdict cell a comparison reads."""

    stage: int | None = None
    region: str
    period: str
    reduction_achieved: float | None
    held: bool | None
    passed: bool | None = Field(alias="pass")

    @field_validator("reduction_achieved", mode="before")
    @classmethod
    def _finite_or_none(cls, v: Any) -> Any:
        """A non-finite reduction (NaN in a hand-edited file) is no measurement, as the writer has it."""
        return None if isinstance(v, float) and not math.isfinite(v) else v


class VerdictStage(_Model):
    """One stage of an escalation: its percent and its cells."""

    stage: int
    cells: list[VerdictCell]


class ComparedVerdict(_Model):
    """What a comparison reads from verdict.json."""

    scenario: str | None = None
    backend: str | None = None
    passed: bool | None = Field(None, alias="pass")
    stage: int
    cells: list[VerdictCell]
    escalation: list[VerdictStage] | None = None

    def all_cells(self) -> dict[CellKey, VerdictCell]:
        """Every cell of every stage, by (stage, region, period)."""
        stages = self.escalation or [VerdictStage(stage=self.stage, cells=self.cells)]
        return {(c.stage if c.stage is not None else st.stage, c.region, c.period): c
                for st in stages for c in st.cells}


def parse_verdict(doc: Any, source: str | None = None) -> ComparedVerdict:
    """Validate a verdict document; a bad field is an InputError naming it (and ``source``)."""
    return model_from_data(ComparedVerdict, doc, source, "not a verdict (not a JSON object)")


def load_verdict(run_dir: str | Path) -> ComparedVerdict:
    """The verdict.json of a run directory (or that file itself), validated."""
    p = Path(run_dir)
    path = p / "verdict.json" if p.is_dir() else p
    return parse_verdict(read_json(path), str(path))


def check_max_diff_pp(value: float) -> float:
    """The threshold, refused unless a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        raise InputError(f"must be a finite number >= 0, got {value!r}", where="--max-diff-pp")
    return float(value)


def _verdict(v: ComparedVerdict | dict[str, Any]) -> ComparedVerdict:
    return v if isinstance(v, ComparedVerdict) else parse_verdict(v)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _cell_row(key: CellKey, x: VerdictCell, y: VerdictCell, max_diff_pp: float) -> dict[str, Any]:
    ra, rb = x.reduction_achieved, y.reduction_achieved
    diff = None if ra is None or rb is None else _finite((rb - ra) * 100.0)
    return {
        "stage": key[0], "region": key[1], "period": key[2],
        "reduction_a": ra, "reduction_b": rb, "diff_pp": diff,
        "held_a": x.held, "held_b": y.held, "held_agree": x.held == y.held,
        "pass_a": x.passed, "pass_b": y.passed, "pass_agree": x.passed == y.passed,
        "within": diff is not None and abs(diff) <= max_diff_pp,
    }


def _run(v: ComparedVerdict) -> dict[str, Any]:
    return {"scenario": v.scenario, "backend": v.backend, "pass": v.passed}


def compare_verdicts(a: ComparedVerdict | dict[str, Any], b: ComparedVerdict | dict[str, Any],
                     max_diff_pp: float = DEFAULT_MAX_DIFF_PP) -> dict[str, Any]:
    """Cell-by-cell comparison of two verdict documents (JSON-safe: no NaN)."""
    max_diff_pp = check_max_diff_pp(max_diff_pp)
    a, b = _verdict(a), _verdict(b)
    ca, cb = a.all_cells(), b.all_cells()
    cells = [_cell_row(key, ca[key], cb[key], max_diff_pp) for key in sorted(set(ca) & set(cb))]
    diffs = [abs(c["diff_pp"]) for c in cells if c["diff_pp"] is not None]
    only_a = [list(k) for k in sorted(set(ca) - set(cb))]
    only_b = [list(k) for k in sorted(set(cb) - set(ca))]
    return {
        "a": _run(a),
        "b": _run(b),
        "max_diff_pp": max_diff_pp,
        "cells_compared": len(cells),
        "cells_only_in_a": only_a,
        "cells_only_in_b": only_b,
        "max_abs_diff_pp": max(diffs) if diffs else None,
        "mean_abs_diff_pp": _finite(sum(diffs) / len(diffs)) if diffs else None,
        "held_agree": sum(c["held_agree"] for c in cells),
        "pass_agree": sum(c["pass_agree"] for c in cells),
        "within": bool(cells) and all(c["within"] for c in cells) and not only_a and not only_b,
        "cells": cells,
    }


def _fmt(v: float | None) -> str:
    return "   -   " if v is None else f"{100 * v:6.2f}%"


def format_comparison(cmp: dict[str, Any]) -> str:
    """A plain-text table of a comparison."""
    a, b = cmp["a"], cmp["b"]
    lines = [f"A: {a['scenario']} on {a['backend']} (pass={a['pass']})   "
             f"B: {b['scenario']} on {b['backend']} (pass={b['pass']})",
             f"{'stage':>5} {'region':<6} {'period':<11} {'red. A':>7} {'red. B':>7} {'B-A pp':>7} "
             f"{'held':>5} {'pass':>5}"]
    for c in cmp["cells"]:
        diff = "   -   " if c["diff_pp"] is None else f"{c['diff_pp']:+7.2f}"
        lines.append(f"{c['stage']:>5} {c['region']:<6} {c['period']:<11} {_fmt(c['reduction_a'])} "
                     f"{_fmt(c['reduction_b'])} {diff} {'=' if c['held_agree'] else 'DIFF':>5} "
                     f"{'=' if c['pass_agree'] else 'DIFF':>5}")
    n = cmp["cells_compared"]
    mx = cmp["max_abs_diff_pp"]
    lines.append(f"{n} cells compared; max |B-A| {'-' if mx is None else f'{mx:.2f}'} pp "
                 f"(threshold {cmp['max_diff_pp']:g} pp); held agree {cmp['held_agree']}/{n}, "
                 f"pass agree {cmp['pass_agree']}/{n}; "
                 f"{'WITHIN' if cmp['within'] else 'NOT WITHIN'} threshold")
    if cmp["cells_only_in_a"] or cmp["cells_only_in_b"]:
        lines.append(f"cells only in A: {len(cmp['cells_only_in_a'])}, "
                     f"only in B: {len(cmp['cells_only_in_b'])}")
    return "\n".join(lines)
