"""Two runs of one scenario (e.g. on sim and on mininet) compared cell by cell.

Cells are matched on (stage, region, period). For each: the difference of the reduction achieved
in percentage points (B - A), and whether ``held`` and ``pass`` agree. The comparison is
``within`` a threshold when every matched cell's |difference| is at most ``max_diff_pp`` and no
cell is missing from either run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from throttlebed.errors import InputError

DEFAULT_MAX_DIFF_PP = 5.0


def load_verdict(run_dir: str | Path) -> dict[str, Any]:
    """The verdict.json of a run directory."""
    p = Path(run_dir)
    path = p / "verdict.json" if p.is_dir() else p
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(e.strerror or "cannot read", source=str(path)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"not JSON: {e.msg}", source=str(path), where=f"line {e.lineno}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        raise InputError("not a verdict (no 'cells' list)", source=str(path))
    return doc


def _all_cells(doc: dict[str, Any]) -> dict[tuple[int, str, str], dict[str, Any]]:
    stages = doc.get("escalation") or [{"stage": doc.get("stage"), "cells": doc["cells"]}]
    out = {}
    for st in stages:
        for c in st["cells"]:
            out[(int(c.get("stage", st["stage"])), c["region"], c["period"])] = c
    return out


def compare_verdicts(a: dict[str, Any], b: dict[str, Any],
                     max_diff_pp: float = DEFAULT_MAX_DIFF_PP) -> dict[str, Any]:
    """Cell-by-cell comparison of two verdict documents."""
    ca, cb = _all_cells(a), _all_cells(b)
    cells = []
    for key in sorted(set(ca) & set(cb)):
        x, y = ca[key], cb[key]
        ra, rb = x.get("reduction_achieved"), y.get("reduction_achieved")
        diff = None if ra is None or rb is None else (rb - ra) * 100.0
        cells.append({
            "stage": key[0], "region": key[1], "period": key[2],
            "reduction_a": ra, "reduction_b": rb, "diff_pp": diff,
            "held_a": x.get("held"), "held_b": y.get("held"), "held_agree": x.get("held") == y.get("held"),
            "pass_a": x.get("pass"), "pass_b": y.get("pass"), "pass_agree": x.get("pass") == y.get("pass"),
            "within": diff is not None and abs(diff) <= max_diff_pp,
        })
    diffs = [abs(c["diff_pp"]) for c in cells if c["diff_pp"] is not None]
    only_a = [list(k) for k in sorted(set(ca) - set(cb))]
    only_b = [list(k) for k in sorted(set(cb) - set(ca))]
    return {
        "a": {"scenario": a.get("scenario"), "backend": a.get("backend"), "pass": a.get("pass")},
        "b": {"scenario": b.get("scenario"), "backend": b.get("backend"), "pass": b.get("pass")},
        "max_diff_pp": max_diff_pp,
        "cells_compared": len(cells),
        "cells_only_in_a": only_a,
        "cells_only_in_b": only_b,
        "max_abs_diff_pp": max(diffs) if diffs else None,
        "mean_abs_diff_pp": sum(diffs) / len(diffs) if diffs else None,
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
