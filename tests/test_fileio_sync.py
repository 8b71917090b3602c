"""Atomic writes reach the disk (file and folder synced, seen with strace); the umask is never changed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.controller_util import REPO

WRITE = "from throttlebed.fileio import atomic_write_text; atomic_write_text({path!r}, 'new text')"


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_atomic_write_syncs_the_file_before_the_rename_and_the_folder_after(tmp_path):
    target = tmp_path / "out" / "report.json"
    target.parent.mkdir()
    target.write_text("old text")
    trace = tmp_path / "trace.txt"
    subprocess.run(["strace", "-f", "-y", "-s", "4096", "-e", "trace=fsync,rename,renameat,renameat2",
                    "-o", str(trace), sys.executable, "-c", WRITE.format(path=str(target))],
                   cwd=REPO, check=True, timeout=60)
    assert target.read_text() == "new text"
    calls = [line.split(None, 1)[1] for line in trace.read_text().splitlines()
             if re.match(r"\d+ +(fsync|rename)", line)]
    rename = next(i for i, c in enumerate(calls) if c.startswith("rename") and "report.json" in c)
    synced_before = [c for c in calls[:rename] if c.startswith("fsync")]
    synced_after = [c for c in calls[rename + 1:] if c.startswith("fsync")]
    assert any(re.search(r"/out/\.report\.json\.[^/>]+\.tmp>", c) for c in synced_before), calls
    assert any(c.split("<", 1)[1].startswith(f"{target.parent}>") for c in synced_after), calls


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_umask_is_read_without_being_set(tmp_path):
    trace = tmp_path / "trace.txt"
    code = (f"from throttlebed import fileio; fileio.atomic_write_text({str(tmp_path / 'f')!r}, 'x'); "
            "print(oct(fileio._UMASK))")
    out = subprocess.run(["sh", "-c", 'umask 027 && exec "$@"', "sh", "strace", "-f", "-e", "trace=umask",
                          "-o", str(trace), sys.executable, "-c", code],
                         cwd=REPO, check=True, capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "0o27"
    assert "umask(" not in trace.read_text()
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640


def test_nothing_but_fileio_touches_the_umask():
    package = Path(REPO) / "throttlebed"
    callers = sorted(str(p.relative_to(REPO)) for p in package.rglob("*.py") if "umask(" in p.read_text())
    assert callers == ["throttlebed/fileio.py"]
