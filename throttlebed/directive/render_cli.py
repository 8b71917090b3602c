"""``throttlebed directive render``: the Appendix 3 document of a directive."""

from __future__ import annotations

from pathlib import Path

import click

from throttlebed.directive.case import load_case
from throttlebed.directive.documents import emit_document, render_document
from throttlebed.directive.schema import load_directive
from throttlebed.fileio import check_output_file


@click.command()
@click.argument("path", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--lang", required=True, type=click.Choice(["kk", "ru", "en"]), help="language of the document")
@click.option("--format", "fmt", required=True, type=click.Choice(["md", "html", "docx"]),
              help="output format")
@click.option("--case", "case_path", type=click.Path(path_type=Path),
              help="case file (YAML) with data the directive does not carry")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="write to FILE instead of stdout")
def render(path: Path, lang: str, fmt: str, case_path: Path | None, output: Path | None) -> None:
    """Render the Appendix 3 directive of FILE (YAML or JSON) with its case data."""
    if output is not None:
        check_output_file(output, "-o", inputs=[p for p in (path, case_path) if p is not None])
    d = load_directive(path)
    c = load_case(case_path) if case_path is not None else None
    content = render_document(3, lang, fmt, case=c, directive=d, directive_source=str(path),
                              case_source=str(case_path) if case_path else None)
    emit_document(content, fmt, output)
