"""Appendix 1-3 documents: every field in every language and format; DOCX opened; HTML in Chromium."""

from __future__ import annotations

import io
import re
from pathlib import Path

import docx
import pytest
import yaml

from tests import browser
from tests.cli_util import run_cli
from throttlebed.directive.case import case_from_data
from throttlebed.directive.documents import (
    format_kbps,
    parse_markup,
    plain_text,
    render_document,
)
from throttlebed.directive.schema import directive_from_data
from throttlebed.errors import InputError

CASE = {
    "platform": "ExampleTube",
    "address": "1 Example Way, Dublin",
    "phone": "+353 1 555 0100",
    "email": "legal@example.test",
    "detected": "2025-03-19",
    "notification_number": "05-1/311",
    "notified": "2025-03-27",
    "user_data": "user sample_user (id 4242)",
    "norms_violated": "Law on mass media, art. 14 p. 3",
    "violation_kind": "propaganda of suicide",
    "materials_location": "https://example.test/v/123",
    "attachments": ["https://example.test/v/123", "screenshot-1.png"],
    "committee_email": "info@example.gov.kz",
    "committee_fax": "+7 7172 00 00 00",
}
DIRECTIVE = {
    "platform": "ExampleTube",
    "stage": 10,
    "directive_number": "17-4/2025",
    "directive_date": "2025-12-12",
    "notification_number": "05-1/311",
    "rows": [
        {"region": "KZ-75", "period": "00:00-07:00", "peak_kbps": 120000, "cap_kbps": 108000},
        {"region": "KZ-75", "period": "07:00-00:00", "peak_kbps": 913580.5, "cap_kbps": 822222},
        {"region": "KZ-71", "period": "22:00-02:00", "peak_kbps": 50000, "cap_kbps": 45000},
    ],
}
REGION_NAMES = {  # KZ-75, KZ-71 in the regions table
    "kk": ("Алматы қаласы", "Астана қаласы"),
    "ru": ("город Алматы", "город Астана"),
    "en": ("Almaty", "Astana"),
}
DATES = {"kk": "12.12.2025", "ru": "12.12.2025", "en": "12 December 2025"}
TABLE_HEAD = {"kk": "(Кбит/с)", "ru": "(Кбит/с)", "en": "(kbit/s)"}
LANGS = ("kk", "ru", "en")


def case_fields(appendix: int) -> list[str]:
    base = [CASE["platform"], CASE["address"], CASE["phone"], CASE["email"], CASE["materials_location"],
            CASE["committee_email"], CASE["committee_fax"]]
    if appendix == 1:
        base += [CASE["user_data"], CASE["norms_violated"], CASE["violation_kind"], *CASE["attachments"]]
    return base


def appendix3_fields(lang: str) -> list[str]:
    caps = [format_kbps(r["cap_kbps"], lang) for r in DIRECTIVE["rows"]]
    return ["ExampleTube", "17-4/2025", "05-1/311", DATES[lang], *REGION_NAMES[lang], *caps,
            "00:00-07:00", "22:00-02:00", TABLE_HEAD[lang]]


def render(appendix: int, lang: str, fmt: str, **kw):
    c = case_from_data(kw.pop("case", CASE))
    d = directive_from_data(kw.pop("directive", DIRECTIVE)) if appendix == 3 else None
    return render_document(appendix, lang, fmt, case=c, directive=d, case_source="case.yaml",
                           directive_source="d.yaml")


def docx_text(data: bytes) -> tuple[str, list[list[str]]]:
    document = docx.Document(io.BytesIO(data))
    paras = "\n".join(p.text for p in document.paragraphs)
    tables = [[c.text for c in row.cells] for t in document.tables for row in t.rows]
    return paras, tables


def test_number_format() -> None:
    assert format_kbps(822222, "en") == "822,222"
    assert format_kbps(822222, "ru") == "822\u00a0222"
    assert format_kbps(45, "kk") == "45"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("appendix", [1, 2])
def test_notices_carry_every_field(appendix: int, lang: str) -> None:
    md = render(appendix, lang, "md")
    text = "\n".join(plain_text(ln) for b in parse_markup(md) for ln in b.lines)
    for value in case_fields(appendix):
        assert value in text, value
    paras, _ = docx_text(render(appendix, lang, "docx"))
    for value in case_fields(appendix):
        assert value in paras, value
    assert f"{appendix}" in md.splitlines()[0] or f"{appendix}-" in md


def test_kazakh_wording_of_the_order() -> None:
    md = render(2, "kk", "md")
    assert "бір жүз мыңнан астам пайдаланушыны" in md  # Art. 9 p. 1 recital
    assert "алты сағат ішінде" in md  # six hours
    a3 = render(3, "kk", "md")
    assert "Нұсқамалар береді:" in a3
    assert "10 тәулік ішінде Комитетке хабарлау қажет" in a3
    assert "41-1-бабының 1-1-тармағын" in a3


@pytest.mark.parametrize("lang", LANGS)
def test_appendix3_markdown_and_docx(lang: str) -> None:
    md = render(3, lang, "md")
    for value in appendix3_fields(lang):
        assert value in md, value
    table = [b for b in parse_markup(md) if b.kind == "table"]
    assert len(table) == 1 and len(table[0].rows) == 3
    paras, rows = docx_text(render(3, lang, "docx"))
    assert len(rows) == 1 + 3
    almaty, astana = REGION_NAMES[lang]
    assert rows[1] == [almaty, format_kbps(108000, lang), "00:00-07:00"]
    assert rows[2] == [almaty, format_kbps(822222, lang), "07:00-24:00"]  # end of day written 24:00
    assert rows[3] == [astana, format_kbps(45000, lang), "22:00-02:00"]
    everything = paras + "\n" + "\n".join("\t".join(r) for r in rows)
    for value in appendix3_fields(lang):
        assert value in everything, value


def test_missing_field_is_named_never_blank() -> None:
    d = {k: v for k, v in DIRECTIVE.items() if k != "directive_number"}
    with pytest.raises(InputError, match=r"^d\.yaml: directive_number: missing, needed for Appendix 3$"):
        render(3, "kk", "md", directive=d)
    c = {k: v for k, v in CASE.items() if k != "address"}
    with pytest.raises(InputError, match=r"^case\.yaml: address: missing, needed for Appendix 1$"):
        render(1, "ru", "html", case=c)
    with pytest.raises(InputError, match="attachments: missing"):
        render(1, "en", "md", case={**CASE, "attachments": []})


def test_case_and_directive_must_agree() -> None:
    with pytest.raises(InputError, match="notification_number: the directive says 99, the case "):
        render(3, "en", "md", directive={**DIRECTIVE, "notification_number": "99"})
    with pytest.raises(InputError, match=r"^d\.yaml: notification_date: the directive says 2025-03-28, "
                                         r"the case \(notified\) says 2025-03-27$"):
        render(3, "en", "md", directive={**DIRECTIVE, "notification_date": "2025-03-28"})
    assert "05-1/311" in render(3, "en", "md", directive={**DIRECTIVE, "notification_date": "2025-03-27"})


def test_values_are_text_not_markup() -> None:
    c = {**CASE, "platform": "A|B **C** <script>x</script>"}
    md = render(1, "en", "md", case=c)
    blocks = parse_markup(md)
    assert any("A|B **C** <script>x</script>" in plain_text(ln) for b in blocks for ln in b.lines)
    html = render(1, "en", "html", case=c)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_directive_render_cli(tmp_path: Path) -> None:
    src = tmp_path / "d.yaml"
    src.write_text(yaml.safe_dump(DIRECTIVE, allow_unicode=True))
    out = tmp_path / "a3.docx"
    res = run_cli("directive", "render", src, "--lang", "kk", "--format", "docx", "-o", out)
    assert res.code == 0, res.err
    _, rows = docx_text(out.read_bytes())
    assert rows[1][0] == "Алматы қаласы"
    res = run_cli("directive", "render", src, "--lang", "ru", "--format", "md")
    assert res.code == 0 and "город Астана" in res.out
    res = run_cli("directive", "render", src, "--lang", "ru", "--format", "docx")
    assert res.code == 2 and res.err.strip().count("\n") == 0 and "-o" in res.err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({k: v for k, v in DIRECTIVE.items() if k != "directive_number"}))
    res = run_cli("directive", "render", bad, "--lang", "en", "--format", "html")
    assert res.code == 2
    assert res.err.strip() == f"throttlebed: error: {bad}: directive_number: missing, needed for Appendix 3"
    res = run_cli("directive", "render", src, "--lang", "de", "--format", "md")
    assert res.code == 2 and "'--lang'" in res.err


def test_case_render_cli(tmp_path: Path) -> None:
    case_file = tmp_path / "case.yaml"
    case_file.write_text(yaml.safe_dump(CASE, allow_unicode=True))
    d = tmp_path / "d.yaml"
    d.write_text(yaml.safe_dump(DIRECTIVE, allow_unicode=True))
    for appendix in ("1", "2"):
        out = tmp_path / f"a{appendix}.html"
        res = run_cli("case", "render", "--appendix", appendix, "--case", case_file, "--lang", "kk",
                      "--format", "html", "-o", out)
        assert res.code == 0, res.err
        assert "ExampleTube" in out.read_text(encoding="utf-8")
    res = run_cli("case", "render", "--appendix", "3", "--case", case_file, "--directive", d, "--lang", "en",
                  "--format", "md")
    assert res.code == 0 and "Directive No. 17-4/2025" in res.out
    res = run_cli("case", "render", "--appendix", "3", "--case", case_file, "--lang", "en", "--format", "md")
    assert res.code == 2 and "--directive" in res.err
    res = run_cli("case", "timeline", case_file, "--json")
    assert res.code == 0 and '"notification_due": "2025-03-27"' in res.out


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGS)
def test_appendix3_html_in_chromium(lang: str, tmp_path: Path, artifacts_dir: Path) -> None:
    if not browser.available():
        pytest.skip(f"{browser.CHROMIUM} is not installed")
    page = tmp_path / f"appendix3.{lang}.html"
    page.write_text(render(3, lang, "html"), encoding="utf-8")
    png = browser.screenshot(page, artifacts_dir / f"case_appendix3_{lang}.png")
    assert png.stat().st_size > 10_000
    dom = browser.dump_dom(page)
    tbody = re.search(r"<tbody>(.*?)</tbody>", dom, re.S)
    assert tbody is not None
    rows = re.findall(r"<tr>(.*?)</tr>", tbody.group(1), re.S)
    assert len(rows) == len(DIRECTIVE["rows"])
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in rows]
    almaty, astana = REGION_NAMES[lang]
    assert [c[0] for c in cells] == [almaty, almaty, astana]
    assert [c[1].replace("&nbsp;", "\u00a0") for c in cells] == [
        format_kbps(v, lang) for v in (108000, 822222, 45000)]
    assert f'lang="{lang}"' in dom


# ---- issue 13 part 6: field by field against the Kazakh original -------------------------------

# shared/ lies beside the checkout (CI) or beside its parent (a git worktree)
ORIGINAL = next((p for p in (Path(__file__).resolve().parents[n] / "shared" / "spec" / "order-267-NK.kk.txt"
                             for n in (2, 3)) if p.exists()),
                Path(__file__).resolve().parents[2] / "shared" / "spec" / "order-267-NK.kk.txt")


def test_english_appendix1_labels_are_the_forms() -> None:
    # The form's captions: "пайдаланушының деректері", "заңнамалық актілердің нормалары",
    # "бұзушылықтың түрі".
    text = render(1, "en", "md").replace("\\", "")
    assert f"User data: {CASE['user_data']}" in text
    assert f"Norms of legislative acts: {CASE['norms_violated']}" in text
    assert f"Type of violation: {CASE['violation_kind']}" in text
    kk = render(1, "kk", "md").replace("\\", "")
    assert "Пайдаланушының деректері:" in kk and "Бұзушылықтың түрі:" in kk


@pytest.mark.parametrize(("lang", "term"), [("kk", "10 тәулік ішінде"), ("ru", "10 суток"),
                                            ("en", "within 10 twenty-four-hour periods (тәулік)")])
def test_report_term_is_24_hour_periods(lang: str, term: str) -> None:
    text = render(3, lang, "md")
    assert term in text and "within 10 days" not in text


@pytest.mark.parametrize(("lang", "mark"), [
    ("kk", "(Нөмірі мен күні 3-қосымшаның нысанына қосылды, нысанның өзінде олар жоқ.)"),
    ("ru", "(Номер и дата добавлены к форме приложения 3, в которой их нет.)"),
    ("en", "(Number and date added to the form of Appendix 3, which has neither.)"),
])
def test_appendix3_number_and_date_marked_as_additions(lang: str, mark: str) -> None:
    # One paragraph: the date, a line break, the mark.
    assert f"\n\n{DATES[lang]}\\\n{mark}\n\n" in render(3, lang, "md")


def test_translator_note_on_the_law_of_art_66() -> None:
    note = "Translator's note: this form cites paragraph 3 of Article 66 of \"the Law\""
    for appendix in (2, 3):
        assert note in render(appendix, "en", "md").replace("\\", "")
        assert "Translator" not in render(appendix, "kk", "md")
    assert note not in render(1, "en", "md").replace("\\", "")


def test_the_original_says_what_the_documents_render() -> None:
    if not ORIGINAL.exists():
        pytest.skip(f"{ORIGINAL} not present")
    original = " ".join(ORIGINAL.read_text(encoding="utf-8").split())
    # The phrases the renderings rest on, as the Kazakh original has them.
    for phrase in ("пайдаланушының деректері көрсетіледі", "заңнамалық актілердің нормалары келтіріледі",
                   "бұзушылықтың түрі көрсетіледі", "алған кезден бастап 10 тәулік ішінде",
                   "\"Ақпараттандыру туралы\" Заңның (бұдан әрі – Заң) 66-бабының",
                   "алған кезден бастап алты сағат ішінде", "бір жүз мыңнан астам пайдаланушыны"):
        assert phrase in original, phrase
    # The form of Appendix 3 has no number or date of its own: its first field is the "as of" date.
    appendix3 = original.split("3-қосымша", 1)[1]
    assert "Нұсқама №" not in appendix3 and "(күні) жағдай бойынша" in appendix3
