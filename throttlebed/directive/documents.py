"""The documents of Order 267-NK: Appendix 1 (removal notice), 2 (legal-representative notice) and
3 (directive to the State Technical Service), in Kazakh, Russian and English, as Markdown, HTML or DOCX.

The wording lives in Jinja2 templates (``throttlebed/templates/appendixN.LANG.md.j2``) written in
a small Markdown subset: blocks separated by blank lines; ``#``/``##`` headings (centred);
``>`` lines (right-aligned address block); ``|`` lines (a table, first row the header);
any other block a paragraph whose lines are kept as line breaks; ``**bold**``. Values are escaped
before they reach a template. The rendered text is parsed into blocks, and each format is written
from the blocks, so the three formats always say the same thing.
"""

from __future__ import annotations

import io
import re
from calendar import month_name
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import click
import jinja2
import yaml

from throttlebed.directive.case import Case
from throttlebed.directive.regions import get_region
from throttlebed.directive.schema import Directive
from throttlebed.errors import InputError
from throttlebed.fileio import atomic_write_bytes, atomic_write_text
from throttlebed.template_cache import template_cache

LANGS = ("kk", "ru", "en")
FORMATS = ("md", "html", "docx")
APPENDICES = (1, 2, 3)

# Fields each appendix needs; a missing one is an InputError naming it, never a blank.
REQUIRED: dict[int, tuple[str, ...]] = {
    1: ("platform", "address", "phone", "email", "user_data", "norms_violated", "violation_kind",
        "materials_location", "committee_email", "committee_fax", "attachments"),
    2: ("platform", "address", "phone", "email", "materials_location", "committee_email", "committee_fax"),
    3: ("platform", "notification_number", "directive_number", "directive_date", "as_of"),
}
# Case data a directive file may also carry (directive field: case field); the two must agree.
SHARED_WITH_DIRECTIVE: dict[str, str] = {
    "platform": "platform",
    "notification_number": "notification_number",
    "notification_date": "notified",
    "directive_number": "directive_number",
    "directive_date": "directive_date",
}

Run = tuple[str, bool]  # (text, bold)
Line = list[Run]


@dataclass
class Block:
    """One block of a document: heading, right-aligned lines, paragraph lines or a table."""

    kind: str  # heading | right | para | table
    lines: list[Line] = field(default_factory=list)
    level: int = 1
    header: list[Line] = field(default_factory=list)
    rows: list[list[Line]] = field(default_factory=list)
    numeric_col: int = 0  # 1-based column of numbers (right-aligned), 0 for none


# ---- values -------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\*_|<>\[\]`#])")


def md_escape(text: str) -> str:
    """Escape a value so the template markup reads it as plain text."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\r", " ").replace("\n", " "))


def format_date(d: date, lang: str) -> str:
    """A date as documents in ``lang`` write it: 27.03.2025 (kk, ru), 27 March 2025 (en)."""
    return f"{d.day} {month_name[d.month]} {d.year}" if lang == "en" else d.strftime("%d.%m.%Y")


def format_kbps(kbps: int, lang: str) -> str:
    """A whole number of kbit/s with digit groups: 12 345 (kk, ru, no-break space), 12,345 (en)."""
    text = f"{kbps:,}"
    return text if lang == "en" else text.replace(",", "\u00a0")


def _check_choice(value: Any, allowed: tuple[Any, ...], where: str) -> None:
    if value not in allowed:
        raise InputError(f"must be one of {', '.join(map(str, allowed))}, got {value!r}", where=where)


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str | tuple | list) and len(v) == 0)


def document_fields(appendix: int, lang: str, *, case: Case | None = None, directive: Directive | None = None,
                    case_source: str | None = None, directive_source: str | None = None) -> dict[str, Any]:
    """The values an appendix needs, from the case and the directive, checked and formatted for ``lang``."""
    _check_choice(appendix, APPENDICES, "appendix")
    _check_choice(lang, LANGS, "lang")
    if appendix == 3 and directive is None:
        raise InputError("a directive is needed for Appendix 3 (its table)", where="--directive")
    if appendix != 3 and case is None:
        raise InputError(f"a case file is needed for Appendix {appendix}", where="--case")
    values: dict[str, Any] = dict(case.model_dump()) if case is not None else {}
    if case is not None:  # Appendix 3's "No." is the item 6 notice (Appendix 2), never the item 5 one
        values["notification_number"], values["notified"] = case.item6.number, case.item6.sent
    if directive is not None:
        for name, case_name in SHARED_WITH_DIRECTIVE.items():
            v = getattr(directive, name)
            if _empty(v):
                continue
            if case is not None and not _empty(values.get(case_name)) and values[case_name] != v:
                raise InputError(
                    f"the directive says {v!s}, the case ({case_name}) says {values[case_name]!s}",
                    source=directive_source, where=name)
            values[case_name] = v
    if appendix == 3 and _empty(values.get("as_of")) and not _empty(values.get("directive_date")):
        values["as_of"] = values["directive_date"]  # the day the directive states the facts
    for name in REQUIRED[appendix]:
        if _empty(values.get(name)):
            in_directive = directive is not None and name in SHARED_WITH_DIRECTIVE
            raise InputError(f"missing, needed for Appendix {appendix}",
                             source=directive_source if in_directive else case_source, where=name)
    out: dict[str, Any] = {"lang": lang, "appendix": appendix}
    for name in REQUIRED[appendix]:
        v = values[name]
        if isinstance(v, date):
            out[name] = md_escape(format_date(v, lang))
        elif isinstance(v, tuple | list):
            out[name] = [md_escape(str(x)) for x in v]
        else:
            out[name] = md_escape(str(v))
    if appendix == 3:
        assert directive is not None
        out["stage_pct"] = directive.stage
        out["rows"] = [
            {"region": md_escape(get_region(r.region).name(lang)), "cap": format_kbps(r.cap_kbps, lang),
             "period": md_escape(r.period)}
            for r in directive.rows
        ]
    return out


# ---- templates ----------------------------------------------------------------------------


@cache
def _env() -> jinja2.Environment:
    path = Path(str(resources.files("throttlebed").joinpath("templates")))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(path),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=template_cache(),
    )


@cache
def _titles() -> dict[str, dict[int, str]]:
    text = resources.files("throttlebed").joinpath("templates", "titles.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def document_title(appendix: int, lang: str) -> str:
    """The title of an appendix document in ``lang``."""
    return _titles()[lang][appendix]


def render_markup(appendix: int, lang: str, fields: dict[str, Any]) -> str:
    """The appendix text in the template markup, filled with ``fields``."""
    try:
        return _env().get_template(f"appendix{appendix}.{lang}.md.j2").render(**fields)
    except jinja2.UndefinedError as e:
        raise InputError(f"template needs a value that is missing: {e.message}",
                         where=f"appendix {appendix}") from None


# ---- markup -> blocks ---------------------------------------------------------------------


def parse_inline(text: str) -> Line:
    """Runs of plain and **bold** text; ``\\x`` is a literal x."""
    runs: Line = []
    buf: list[str] = []
    bold = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i + 1])
            i += 2
            continue
        if text.startswith("**", i):
            if buf:
                runs.append(("".join(buf), bold))
                buf = []
            bold = not bold
            i += 2
            continue
        buf.append(ch)
        i += 1
    if buf:
        runs.append(("".join(buf), bold))
    return runs


def _split_cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    cells, buf, i = [], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            buf.append(body[i:i + 2])
            i += 2
            continue
        if body[i] == "|":
            cells.append("".join(buf).strip())
            buf = []
        else:
            buf.append(body[i])
        i += 1
    cells.append("".join(buf).strip())
    return cells


def parse_markup(text: str) -> list[Block]:
    """Blocks of the template markup (see the module docstring)."""
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.rstrip() for ln in chunk.strip().splitlines() if ln.strip()]
        if not lines:
            continue
        first = lines[0]
        if first.startswith("#"):
            level = len(first) - len(first.lstrip("#"))
            blocks.append(Block("heading", [parse_inline(first[level:].strip())], level=level))
        elif all(ln.startswith(">") for ln in lines):
            blocks.append(Block("right", [parse_inline(ln[1:].strip()) for ln in lines]))
        elif all(ln.lstrip().startswith("|") for ln in lines):
            rows = [_split_cells(ln) for ln in lines if not re.fullmatch(r"\|?[\s|:-]+\|?", ln.strip())]
            header = [parse_inline(c) for c in rows[0]]
            body = [[parse_inline(c) for c in r] for r in rows[1:]]
            blocks.append(Block("table", header=header, rows=body, numeric_col=2 if len(header) == 3 else 0))
        else:
            blocks.append(Block("para", [parse_inline(ln) for ln in lines]))
    return blocks


def plain_text(line: Line) -> str:
    """The text of a line without formatting."""
    return "".join(t for t, _ in line)


# ---- blocks -> formats --------------------------------------------------------------------


def _md_line(line: Line, *, start: bool = True) -> str:
    out = "".join(f"**{md_escape(t)}**" if b else md_escape(t) for t, b in line)
    if start:
        out = re.sub(r"^(\d{1,9})([.)])(?=\s|$)", r"\1\\\2", out)  # "1. text" is not a list here
    return out


def to_markdown(blocks: list[Block]) -> str:
    """The document as CommonMark (hard line breaks as backslash-newline)."""
    parts: list[str] = []
    for b in blocks:
        if b.kind == "heading":
            parts.append("#" * b.level + " " + _md_line(b.lines[0], start=False))
        elif b.kind == "right":
            parts.append("\\\n".join("> " + _md_line(ln) for ln in b.lines))
        elif b.kind == "table":
            head = "| " + " | ".join(_md_line(c, start=False) for c in b.header) + " |"
            aligns = ("---:" if i + 1 == b.numeric_col else "---" for i in range(len(b.header)))
            sep = "|" + "|".join(aligns) + "|"
            rows = ["| " + " | ".join(_md_line(c, start=False) for c in r) + " |" for r in b.rows]
            parts.append("\n".join([head, sep, *rows]))
        else:
            parts.append("\\\n".join(_md_line(ln) for ln in b.lines))
    return "\n\n".join(parts) + "\n"


def to_html(blocks: list[Block], *, lang: str, title: str) -> str:
    """The document as one standalone HTML page."""
    tmpl = _env().get_template("document.html.j2")
    view = [
        {"kind": b.kind, "level": b.level, "numeric_col": b.numeric_col,
         "lines": [_runs_view(ln) for ln in b.lines],
         "header": [_runs_view(c) for c in b.header],
         "rows": [[_runs_view(c) for c in r] for r in b.rows]}
        for b in blocks
    ]
    return tmpl.render(blocks=view, lang=lang, title=title)


def _runs_view(line: Line) -> list[dict[str, Any]]:
    return [{"text": t, "bold": b} for t, b in line]


def to_docx(blocks: list[Block], *, lang: str, title: str) -> bytes:
    """The document as DOCX bytes (python-docx)."""
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(12)
    doc.core_properties.title = title
    doc.core_properties.language = {"kk": "kk-KZ", "ru": "ru-RU", "en": "en-GB"}[lang]
    for section in doc.sections:
        section.left_margin, section.right_margin = Cm(3), Cm(1.5)

    def add_runs(par: Any, line: Line, *, bold_all: bool = False) -> None:
        for t, b in line:
            par.add_run(t).bold = b or bold_all

    for b in blocks:
        if b.kind == "heading":
            par = doc.add_paragraph()
            par.alignment = WD_ALIGN_PARAGRAPH.CENTER
            add_runs(par, b.lines[0], bold_all=True)
        elif b.kind == "right":
            for ln in b.lines:
                par = doc.add_paragraph()
                par.paragraph_format.left_indent = Cm(8.5)
                par.paragraph_format.space_after = Pt(0)
                add_runs(par, ln)
            doc.add_paragraph()
        elif b.kind == "table":
            table = doc.add_table(rows=1 + len(b.rows), cols=len(b.header))
            table.style = "Table Grid"
            table.alignment = WD_TABLE_ALIGNMENT.CENTER
            rows = list(table.rows)  # python-docx walks the table for each row or cell asked by index
            for target, cell in zip(rows[0].cells, b.header, strict=True):
                add_runs(target.paragraphs[0], cell)
            for target_row, row in zip(rows[1:], b.rows, strict=True):
                for j, (target, cell) in enumerate(zip(target_row.cells, row, strict=True)):
                    par = target.paragraphs[0]
                    if j + 1 == b.numeric_col:
                        par.alignment = WD_ALIGN_PARAGRAPH.RIGHT
                    add_runs(par, cell)
        else:
            par = doc.add_paragraph()
            par.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY if len(b.lines) == 1 else WD_ALIGN_PARAGRAPH.LEFT
            if len(b.lines) == 1:
                par.paragraph_format.first_line_indent = Cm(1.25)
            for k, ln in enumerate(b.lines):
                if k:
                    par.add_run().add_break()
                add_runs(par, ln)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# ---- the whole -----------------------------------------------------------------------------


def render_document(appendix: int, lang: str, fmt: str, *, case: Case | None = None,
                    directive: Directive | None = None, case_source: str | None = None,
                    directive_source: str | None = None) -> str | bytes:
    """Appendix ``appendix`` in ``lang`` as ``fmt`` (md, html: str; docx: bytes)."""
    _check_choice(fmt, FORMATS, "format")
    fields = document_fields(appendix, lang, case=case, directive=directive, case_source=case_source,
                             directive_source=directive_source)
    blocks = parse_markup(render_markup(appendix, lang, fields))
    title = document_title(appendix, lang)
    if fmt == "md":
        return to_markdown(blocks)
    if fmt == "html":
        return to_html(blocks, lang=lang, title=title)
    return to_docx(blocks, lang=lang, title=title)


def write_document(content: str | bytes, path: str | Path) -> Path:
    """Write a rendered document atomically."""
    if isinstance(content, bytes):
        return atomic_write_bytes(path, content)
    return atomic_write_text(path, content)


def emit_document(content: str | bytes, fmt: str, output: Path | None) -> None:
    """Write to ``output`` (atomically) or print; DOCX needs a file."""
    if output is None:
        if isinstance(content, bytes):
            raise InputError(f"--format {fmt} writes a binary file: give -o FILE", where="-o")
        click.echo(content, nl=False)
        return
    write_document(content, output)
    click.echo(str(output))
