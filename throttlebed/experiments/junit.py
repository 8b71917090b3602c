"""A verdict as JUnit XML, so a CI server shows which cell of a directive failed.

One ``<testsuite>`` per enforced stage; in it one ``<testcase>`` per (region, period) cell of the
directive and one for the collateral on other traffic. A failing cell carries a ``<failure>`` whose
message gives the figures: cap, measured maximum, the limit (cap with its tolerance), the reduction
achieved against the target and its tolerance. The user impact of the cell, when known, is in the
case's ``<system-out>``.

The input is a verdict document: ``verdict.json`` of ``run``, or the ``enforcement`` part of
``validation.json`` (the same fields).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from throttlebed.errors import InputError
from throttlebed.fileio import atomic_write_text, check_output_file


def _num(v: Any, unit: str = "", nd: int = 0) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}{unit}"


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _cell_failure(cell: dict[str, Any], tol: dict[str, Any]) -> str:
    """Why a cell failed, with its figures."""
    if cell.get("no_samples"):
        why = "no enforced samples in the cell"
    elif not cell.get("held"):
        why = f"not held: {cell.get('samples_over_cap')} sample(s) above the limit"
    else:
        why = "reduction outside the tolerance"
    return (f"{why}; cap {_num(cell.get('cap_kbps'), ' kbit/s')}, measured max "
            f"{_num(cell.get('measured_max_kbps'), ' kbit/s', 1)}, "
            f"limit {_num(cell.get('limit_kbps'), ' kbit/s', 1)} "
            f"(over_cap {_pct(tol.get('over_cap'))} + burst {_pct(tol.get('burst_allowance'))}); reduction "
            f"{_pct(cell.get('reduction_achieved'))} against target {_pct(cell.get('reduction_target'))} "
            f"+/- {_num(tol.get('reduction_pp'), ' pp', 1)}")


def _impact_text(impact: dict[str, Any] | None) -> str | None:
    if not impact:
        return None
    lines = []
    for traffic, f in impact.items():
        lines.append(f"impact on {traffic} sessions: {f.get('compared')} compared, "
                     f"{f.get('affected')} affected, "
                     f"median inflation {_num(f.get('median_inflation'), 'x', 2)}, p95 "
                     f"{_num(f.get('p95_inflation'), 'x', 2)}, slowed > 2x {_pct(f.get('share_slowed_2x'))}, "
                     f"abandoned {_pct(f.get('share_abandoned'))}")
    return "\n".join(lines)


def _collateral_failure(col: dict[str, Any]) -> str:
    hit = [f"{r.get('region')} {r.get('direction')}: mean {_pct(r.get('mean_change'))}"
           for r in col.get("regions", []) if r.get("unaffected") is False]
    return (f"other traffic dropped by more than {_pct(col.get('tolerance'))} "
            f"(largest drop {_pct(col.get('max_mean_drop'))}): " + "; ".join(hit))


def _suite(parent: ET.Element, name: str, stage_doc: dict[str, Any], tol: dict[str, Any],
           classname: str) -> tuple[int, int]:
    suite = ET.SubElement(parent, "testsuite", name=name)
    tests = failures = 0
    for cell in stage_doc.get("cells", []):
        case = ET.SubElement(suite, "testcase", classname=f"{classname}.{cell.get('region')}",
                             name=f"{cell.get('region')} {cell.get('period')}", time="0")
        tests += 1
        if not cell.get("pass"):
            failures += 1
            ET.SubElement(case, "failure", type="cell", message=_cell_failure(cell, tol))
        text = _impact_text(cell.get("impact"))
        if text:
            ET.SubElement(case, "system-out").text = text
    col = stage_doc.get("collateral") or {}
    case = ET.SubElement(suite, "testcase", classname=f"{classname}.collateral", name="collateral", time="0")
    tests += 1
    if col.get("unaffected") is False:
        failures += 1
        ET.SubElement(case, "failure", type="collateral", message=_collateral_failure(col))
    elif col.get("unaffected") is None:
        ET.SubElement(case, "skipped", message="no other traffic to judge")
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return tests, failures


def junit_xml(verdict: dict[str, Any]) -> str:
    """The JUnit XML text of a verdict document (one suite per stage)."""
    scenario = str(verdict.get("scenario") or "directive")
    backend = verdict.get("backend")
    tol = verdict.get("tolerance") or {}
    classname = f"throttlebed.{scenario}"
    stages = verdict.get("escalation") or [verdict]
    root = ET.Element("testsuites", name=f"throttlebed {scenario}")
    tests = failures = 0
    for st in stages:
        name = f"{scenario} stage {st.get('stage')}%" + (f" on {backend}" if backend else "")
        t, f = _suite(root, name, st, tol, f"{classname}.stage{st.get('stage')}")
        tests, failures = tests + t, failures + f
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def check_junit_path(path: Path) -> Path:
    """Refuse, before a run starts, a ``--junit`` path that cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory (expected a file name)", source=str(path), where="--junit")
    return check_output_file(path, "--junit")


def write_junit(verdict: dict[str, Any], path: Path) -> Path:
    """Write the verdict's JUnit XML to ``path`` atomically."""
    return atomic_write_text(path, junit_xml(verdict))
