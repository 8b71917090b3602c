"""``throttlebed emulation cleanup --tag TAG``: remove what a killed emulated run left behind."""

from __future__ import annotations

import json

import click

from throttlebed.errors import InputError


@click.group("emulation")
def emulation() -> None:
    """The emulation backend's own housekeeping."""


@emulation.command("cleanup")
@click.option("--tag", required=True, help="the run tag (in the run's emulation.json and progress log)")
@click.option("--json", "as_json", is_flag=True, help="print what was removed as one JSON document")
def cleanup_command(tag: str, as_json: bool) -> None:
    """Remove the bridges, interfaces, host namespaces and processes of run TAG, and nothing else."""
    from throttlebed.emulation.cleanup import cleanup, find_leftovers
    from throttlebed.emulation.mininet_net import check_tag
    from throttlebed.emulation.ovs_service import is_root

    try:
        check_tag(tag)
    except ValueError as e:
        raise InputError(str(e), where="--tag") from None
    if not is_root():
        raise InputError("needs root (it removes bridges, interfaces and processes)")
    removed = cleanup(tag)
    still = find_leftovers(tag)
    if not still.empty():
        raise RuntimeError(f"run {tag} still has {still.to_data()}")
    if as_json:
        click.echo(json.dumps({"removed": removed.to_data()}))
    else:
        d = removed.to_data()
        click.echo(f"run {tag}: removed {len(d['bridges'])} bridges, {len(d['interfaces'])} interfaces, "
                   f"{d['namespaces']} namespaces, {len(d['processes'])} processes")
