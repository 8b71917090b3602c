"""The ``throttlebed`` command line. Exit codes: 0 success, 2 bad input, 1 internal failure.

Each command lives in the package that owns it and is imported only when used, so that
``throttlebed deadline`` does not pay for os-ken or Dask.
"""

from __future__ import annotations

import gc
import importlib
import sys

import click

from throttlebed.errors import InputError, RunFailure
from throttlebed.interrupts import latch_interrupts, was_interrupted

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, attribute)
    "directive": ("throttlebed.directive.cli", "directive"),
    "deadline": ("throttlebed.directive.case_cli", "deadline"),
    "timeline": ("throttlebed.directive.case_cli", "timeline"),
    "case": ("throttlebed.directive.case_cli", "case"),
    "topology": ("throttlebed.experiments.topology_cli", "topology"),
    "controller": ("throttlebed.controller.cli", "controller"),
    "emulation": ("throttlebed.emulation.cli", "emulation"),
    "run": ("throttlebed.experiments.cli", "run"),
    "sweep": ("throttlebed.experiments.cli", "sweep"),
    "compare": ("throttlebed.experiments.cli", "compare"),
    "validate": ("throttlebed.experiments.cli", "validate"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(module_name):
                return None  # that part of the project is not built yet
            raise
        return getattr(module, attr, None)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="throttlebed")
def cli() -> None:
    """Testbed for traffic-restriction directives under Order 267-NK (Kazakhstan)."""


def fail_input(err: InputError) -> None:
    """Print a one-line bad-input error and exit 2."""
    click.echo(f"throttlebed: error: {err}", err=True)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: map errors to exit codes and one-line messages."""
    latch_interrupts()
    try:
        cli.main(args=argv, prog_name="throttlebed", standalone_mode=False)
    except InputError as e:
        fail_input(e)
    except click.exceptions.Abort:
        click.echo("throttlebed: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        msg = e.format_message().replace("\n", " ")
        click.echo(f"throttlebed: error: {msg}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("throttlebed: interrupted", err=True)
        sys.exit(130)
    except RunFailure as e:  # the run broke: no verdict, and not a fault of the program
        click.echo(f"throttlebed: run failed: {e}", err=True)
        sys.exit(1)
    except Exception as e:  # an internal failure, not the user's input
        click.echo(f"throttlebed: internal error: {type(e).__name__}: {e}", err=True)
        sys.exit(1)
    if was_interrupted():  # its exception was swallowed somewhere (a ctypes callback)
        click.echo("throttlebed: interrupted", err=True)
        sys.exit(130)
    sys.exit(0)


def console_main() -> None:
    """The ``throttlebed`` program: :func:`main`, ending without the interpreter's last garbage
    collections over every imported module's objects (~0.7 s after a run has loaded pandas, scipy,
    numba and matplotlib; the exit frees that memory anyway). Exit handlers still run."""
    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    console_main()
