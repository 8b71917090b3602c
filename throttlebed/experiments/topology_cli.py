"""``throttlebed topology show SCENARIO [--json] [--png FILE]``: the CMS-TN graph of a scenario."""

from __future__ import annotations

import json
from pathlib import Path

import click

from throttlebed.errors import InputError
from throttlebed.topology import graph as tg


def graph_of_scenario(path: str | Path, hosts_per_region: int | None = None):
    """The graph a scenario's mininet backend builds (its regions, hosts per region, prefixes)."""
    from throttlebed.experiments.scenario import load_scenario

    sc = load_scenario(path)
    try:
        opts = tg.TopologyOptions(
            hosts_per_region=sc.backend.hosts_per_region if hosts_per_region is None else hosts_per_region,
            platform_prefix=str(sc.platform.prefixes[0]),
            other_prefix=str(sc.other_service.prefixes[0]),
        )
        return tg.build_graph(sc.region_list(), opts), sc
    except InputError as e:
        raise e.located(str(path)) from None


@click.group("topology")
def topology() -> None:
    """The CMS-TN topology: core/gateway, regional objects, platform and other services, users."""


@topology.command("show")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the graph as one JSON document.")
@click.option("--png", "png", type=click.Path(dir_okay=False), default=None,
              help="Draw the graph into this file (.png or .svg).")
@click.option("--hosts-per-region", type=click.IntRange(1, tg.MAX_HOSTS_PER_REGION), default=None,
              help="User hosts per region (default: the scenario's backend.hosts_per_region).")
def show(scenario: str, as_json: bool, png: str | None, hosts_per_region: int | None) -> None:
    """Show the graph SCENARIO's emulation builds: nodes, dpids, addresses, links."""
    if png:
        from throttlebed.fileio import check_output_file

        if Path(png).suffix.lower() not in (".png", ".svg"):
            raise InputError(f"{png}: the picture is written as .png or .svg (by its suffix)", where="--png")
        check_output_file(png, "--png")
    g, sc = graph_of_scenario(scenario, hosts_per_region)
    if png:
        from throttlebed.topology.plot import draw_graph

        draw_graph(g, png, title=f"{sc.name}: CMS-TN of {len(sc.region_list())} regional objects")
    if as_json:
        click.echo(json.dumps({"scenario": sc.name, **tg.graph_to_data(g)}, ensure_ascii=False))
        return
    counts = tg.summary(g)
    click.echo(f"scenario {sc.name}: {counts['region']} regional objects, {counts['user']} user hosts, "
               f"{counts['platform']} platform and {counts['service']} other-service hosts, "
               f"{counts['links']} links")
    click.echo(f"  core  dpid 0x1  platform {g.graph['platform_prefix']}  other {g.graph['other_prefix']}")
    for sw in tg.nodes_of_kind(g, "region"):
        d = g.nodes[sw]
        users = tg.user_hosts(g, d["region"])
        first, last = g.nodes[users[0]]["ip"], g.nodes[users[-1]]["ip"]
        click.echo(f"  {sw:<4} {d['region']}  dpid {d['dpid']:#06x}  users {len(users)} ({first}..{last})")
    if png:
        click.echo(f"picture: {png}")
