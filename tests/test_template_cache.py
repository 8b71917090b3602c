"""Compiled templates kept between processes: the second environment compiles nothing and renders
the same text; an unsafe or vanished cache directory never stops a rendering."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest

from throttlebed.template_cache import template_cache

TEMPLATES = {"t.j2": "{% for r in rows %}{{ r.region }}: {{ '{:,}'.format(r.cap) }} kbit/s\n{% endfor %}"}
ROWS = [{"region": "KZ-75", "cap": 1_234_567}, {"region": "KZ-11", "cap": 89}]


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary directory of this test's own, and no cache chosen before it."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    template_cache.cache_clear()
    yield tmp_path
    template_cache.cache_clear()


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    compile_source = jinja2.Environment.compile

    def counted(self: jinja2.Environment, source: str, name: str | None = None, *args: object,
                **kwargs: object) -> object:
        names.append(str(name))
        return compile_source(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    return names


def _render(cache: jinja2.BytecodeCache | None) -> str:
    env = jinja2.Environment(loader=jinja2.DictLoader(TEMPLATES), bytecode_cache=cache)
    return env.get_template("t.j2").render(rows=ROWS)


def test_second_environment_loads_what_the_first_compiled(temp_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = _compiles(monkeypatch)
    cache = template_cache()
    assert cache is not None
    first = _render(cache)
    assert compiled == ["t.j2"]
    cache_dir = temp_dir / f"_jinja2-cache-{os.getuid()}"
    assert len(list(cache_dir.glob("*.cache"))) == 1
    assert _render(cache) == first == "KZ-75: 1,234,567 kbit/s\nKZ-11: 89 kbit/s\n"
    assert compiled == ["t.j2"]  # not compiled again


def test_unsafe_directory_means_no_cache(temp_dir: Path) -> None:
    elsewhere = temp_dir / "elsewhere"
    elsewhere.mkdir()
    (temp_dir / f"_jinja2-cache-{os.getuid()}").symlink_to(elsewhere)  # not a directory of its own
    assert template_cache() is None
    assert _render(template_cache()).startswith("KZ-75: 1,234,567")


def test_vanished_directory_does_not_stop_rendering(temp_dir: Path) -> None:
    cache = template_cache()
    assert cache is not None
    cache_dir = temp_dir / f"_jinja2-cache-{os.getuid()}"
    cache_dir.rmdir()
    assert _render(cache).endswith("KZ-11: 89 kbit/s\n")
    assert not cache_dir.exists()
