"""A run that broke is named as such (exit 1, one line), not as an internal error."""

import click
import pytest

from throttlebed import cli
from throttlebed.errors import RunFailure


@click.command("broken-run")
def broken_run() -> None:
    raise RunFailure("2 transfer(s) of the traffic agents failed")


def test_run_failure_exits_1_with_one_named_line(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "broken-run", (__name__, "broken_run"))
    with pytest.raises(SystemExit) as e:
        cli.main(["broken-run"])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["throttlebed: run failed: 2 transfer(s) of the traffic agents failed"]
