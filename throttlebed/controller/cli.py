"""``throttlebed controller``: the os-ken OpenFlow 1.3 controller on its own, with its HTTP API."""

from __future__ import annotations

import click

from throttlebed.controller.launcher import LaunchOptions, run


@click.command("controller")
@click.option("--directive", "directive", type=click.Path(dir_okay=False), default=None,
              help="Directive file (YAML/JSON). Without it: forwarding and counting only (baseline).")
@click.option("--directive-store", type=click.Path(dir_okay=False), default=None,
              help="File where the active directive is kept: each accepted PUT is written there, "
                   "and a restart without --directive starts from it.")
@click.option("--ofp-port", type=int, default=6653, show_default=True, help="OpenFlow listen port.")
@click.option("--ofp-listen", default="127.0.0.1", show_default=True,
              help="Address OpenFlow listens on (0.0.0.0 for every interface).")
@click.option("--api", default="127.0.0.1:8080", show_default=True, help="HTTP API address HOST:PORT.")
@click.option("--token-file", type=click.Path(dir_okay=False), default=None,
              help="File holding the bearer token for PUT /directive (without it PUT is refused); "
                   "refused unless only its owner may open it (chmod 600).")
@click.option("--time-scale", type=float, default=1.0, show_default=True,
              help="Emulated seconds per real second.")
@click.option("--clock-start", default=None,
              help="Emulated local (UTC+5) start: HH:MM today or an ISO date-time. Default: now.")
@click.option("--rate-scale", type=float, default=1.0, show_default=True,
              help="Wire kbit/s per directive kbit/s.")
@click.option("--burst-s", type=float, default=1.0, show_default=True,
              help="Meter burst in seconds of its rate.")
@click.option("--poll-interval-s", type=float, default=1.0, show_default=True,
              help="Real seconds between statistics polls.")
@click.option("--confirm-timeout-s", type=float, default=2.0, show_default=True,
              help="Seconds every switch has to confirm a directive change before it is undone (502).")
@click.option("--stats-out", type=click.Path(dir_okay=False), default=None,
              help="CSV file the measurements are appended to.")
@click.option("--audit-log", type=click.Path(dir_okay=False), default=None,
              help="JSON-lines file of directive changes (created mode 0600); the key naming tokens "
                   "in it is kept beside it in <file>.key.")
@click.option("--region-map", type=click.Path(dir_okay=False), default=None,
              help='JSON {"<dpid>": "KZ-75", ...} overriding the dpid scheme 0x10NN.')
@click.option("--platform-prefix", "platform_prefixes", multiple=True,
              help="Platform prefix to count when no directive is given (repeatable).")
@click.option("--uplink-port", type=int, default=None,
              help="Port of each regional switch toward the core: splits other traffic into down/up.")
@click.option("--log-level", default="INFO", show_default=True, help="Log level.",
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], case_sensitive=False))
def controller(**kwargs) -> None:
    """Run the OpenFlow 1.3 controller: meters per region and period, counters, HTTP API."""
    run(LaunchOptions(**kwargs))
