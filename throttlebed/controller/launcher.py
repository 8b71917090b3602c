"""Start the controller: validate the options, serve the API, then run os-ken's AppManager.

os-ken 4.x ships no ``osken-manager``; this is the small launcher it needs. Usable as
``python -m throttlebed.controller.launcher [options]`` or ``throttlebed controller [options]``.
SIGTERM/SIGINT end it with exit code 0 after flushing the stats file.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from ipaddress import IPv4Network, ip_address
from pathlib import Path

from throttlebed.controller.api import parse_listen, serve_api
from throttlebed.controller.audit import (
    AuditLog,
    audit_record,
    load_token_id_key,
    token_id_key_file,
    use_token_id_key,
)
from throttlebed.controller.clock import EmulatedClock, kz_now, parse_clock_start
from throttlebed.controller.plan import check_enforceable, check_scale
from throttlebed.controller.region_map import load_region_map
from throttlebed.controller.state import ControllerState, Settings, StatsSink
from throttlebed.directive.schema import load_directive, save_directive
from throttlebed.errors import InputError
from throttlebed.fileio import read_private_text
from throttlebed.timescale import check_time_scale

LOG = logging.getLogger("throttlebed.controller")


@dataclass(frozen=True)
class LaunchOptions:
    """The controller's command-line options."""

    directive: str | None = None
    directive_store: str | None = None
    ofp_port: int = 6653
    ofp_listen: str = "127.0.0.1"
    api: str = "127.0.0.1:8080"
    token_file: str | None = None
    time_scale: float = 1.0
    clock_start: str | None = None
    rate_scale: float = 1.0
    burst_s: float = 1.0
    poll_interval_s: float = 1.0
    confirm_timeout_s: float = 2.0
    stats_out: str | None = None
    audit_log: str | None = None
    region_map: str | None = None
    platform_prefixes: tuple[str, ...] = ()
    uplink_port: int | None = None
    log_level: str = "INFO"


def _read_token(path: str) -> str:
    """The bearer token of ``--token-file``: a private file (no access for group or others), one word."""
    p = Path(path)
    token = read_private_text(p).strip()
    if len(token) < 8 or any(c.isspace() for c in token):
        raise InputError("the token must be one word of at least 8 characters", source=str(p))
    return token


def _check_file_path(path: Path, what: str) -> None:
    """``path`` can be written as a file: it is not a folder and nothing on its way is a file."""
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a file", where=what)
    for folder in path.parents:
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder} is not a folder", where=what)


def _check_listen_address(text: str) -> None:
    try:
        ip_address(text)
    except ValueError:
        raise InputError(f"{text!r} is not an IP address (e.g. 127.0.0.1, 0.0.0.0)",
                         where="--ofp-listen") from None


def _check_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise InputError(f"cannot listen on {host}:{port}: {e.strerror}", where=what) from None


def build_state(opts: LaunchOptions, mono_s: float | None = None) -> ControllerState:
    """Check every option and file; the state the controller starts with."""
    if not 0 < opts.ofp_port < 65536:
        raise InputError(f"port must be 1..65535, got {opts.ofp_port}", where="--ofp-port")
    parse_listen(opts.api)
    check_time_scale(opts.time_scale, "--time-scale")
    check_scale(opts.rate_scale, "--rate-scale")
    check_scale(opts.burst_s, "--burst-s")
    _check_listen_address(opts.ofp_listen)
    check_scale(opts.poll_interval_s, "--poll-interval-s")
    check_scale(opts.confirm_timeout_s, "--confirm-timeout-s")
    if opts.uplink_port is not None and not 0 < opts.uplink_port < 0xFFFFFF00:
        raise InputError(f"not an OpenFlow port number: {opts.uplink_port}", where="--uplink-port")
    prefixes = []
    for text in opts.platform_prefixes:
        try:
            prefixes.append(IPv4Network(text, strict=False))
        except ValueError:
            raise InputError(f"{text!r} is not an IPv4 prefix", where="--platform-prefix") from None
    path = _starting_path(opts)
    directive = (check_enforceable(load_directive(path), path, opts.rate_scale, opts.burst_s)
                 if path else None)
    for option, value in (("--directive-store", opts.directive_store), ("--stats-out", opts.stats_out),
                          ("--audit-log", opts.audit_log)):
        if value:
            _check_file_path(Path(value), option)
    store = Path(opts.directive_store) if opts.directive_store else None
    token = _read_token(opts.token_file) if opts.token_file else None
    region_map = load_region_map(opts.region_map)
    start_local = parse_clock_start(opts.clock_start) if opts.clock_start else kz_now()
    clock = EmulatedClock(start_local, time.monotonic() if mono_s is None else mono_s, opts.time_scale)
    settings = Settings(rate_scale=opts.rate_scale, burst_s=opts.burst_s, time_scale=opts.time_scale,
                        poll_interval_s=opts.poll_interval_s, platform_prefixes=tuple(prefixes),
                        uplink_port=opts.uplink_port, barrier_timeout_s=opts.confirm_timeout_s)
    audit = AuditLog(opts.audit_log)
    if opts.audit_log and token:  # token ids stay comparable across restarts while this key file is kept
        key_file = token_id_key_file(opts.audit_log)
        try:
            use_token_id_key(load_token_id_key(key_file))
        except OSError as e:
            raise InputError(f"cannot keep the token id key: {e.strerror}", source=str(key_file)) from None
    stats_sink = StatsSink(opts.stats_out)
    return ControllerState(settings, clock, region_map, directive, token, audit, stats_sink,
                           directive_store=store)


def record_start(state: ControllerState, directive_file: str | None) -> None:
    """Once the controller listens: keep the starting directive in the store and audit its loading.

    ``directive_file`` is the ``--directive`` given; without it the directive came from the store.
    """
    directive, store = state.directive, state.directive_store
    if directive is None:
        return
    if directive_file is None:
        directive_file = str(store)
    elif store is not None:
        try:
            save_directive(directive, store)
        except OSError as e:
            raise InputError(f"cannot write: {e.strerror}", source=str(store)) from None
    state.audit.append(audit_record("load-directive", {"client": "command-line", "token_id": None},
                                    directive.digest(), None,
                                    {"platform": directive.platform, "stage": directive.stage,
                                     "rows": len(directive.rows), "file": directive_file}))


def _starting_path(opts: LaunchOptions) -> str | None:
    """The file the controller starts from: ``--directive``, else a kept one in ``--directive-store``."""
    if opts.directive:
        return opts.directive
    if opts.directive_store and Path(opts.directive_store).is_file():
        return opts.directive_store
    return None


def run(opts: LaunchOptions) -> int:
    """Run until SIGTERM/SIGINT; 0 on a clean stop. Bad options raise InputError before anything runs."""
    logging.basicConfig(level=getattr(logging, opts.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    # os-ken 4.x runs its hub on native threads by default; the API server, the locks and the
    # barrier waits rely on that, so an inherited OSKEN_HUB_TYPE=eventlet must not switch it.
    os.environ["OSKEN_HUB_TYPE"] = "native"
    state = build_state(opts)
    host, port = parse_listen(opts.api)
    _check_port_free(opts.ofp_listen, opts.ofp_port, "--ofp-port")
    try:
        api = serve_api(state, host, port)
    except OSError as e:
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror}", where="--api") from None
    record_start(state, opts.directive)

    import os_ken.base.app_manager as app_manager  # registers options; before the controller
    import os_ken.controller.controller  # noqa: F401 - registers --ofp-tcp-listen-port
    from os_ken import cfg

    from throttlebed.controller.osken_app import ThrottlebedApp

    cfg.CONF(args=[], project="os_ken")
    cfg.CONF.set_override("ofp_tcp_listen_port", opts.ofp_port)
    cfg.CONF.set_override("ofp_listen_host", opts.ofp_listen)
    ThrottlebedApp.state = state
    manager = app_manager.AppManager.get_instance()
    manager.load_apps(["throttlebed.controller.osken_app", "os_ken.controller.ofp_handler"])
    contexts = manager.create_contexts()
    manager.instantiate_apps(**contexts)
    LOG.info("controller up: OpenFlow 1.3 on %s port %d, API on http://%s:%d, local time %s x%g, "
             "rate scale %g, burst %g s, directive %s", opts.ofp_listen, opts.ofp_port, host, port,
             state.local_now().isoformat(timespec="seconds"), opts.time_scale, opts.rate_scale,
             opts.burst_s, state.directive.digest()[:12] if state.directive else "none (baseline)")

    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stop.wait(0.5):
        pass
    LOG.info("stopping")
    api.shutdown()
    state.stats_sink.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # os-ken's native hub threads (OpenFlow server, datapath loops) cannot be killed: leave now.
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """``python -m throttlebed.controller.launcher``: the same options as ``throttlebed controller``."""
    from throttlebed.cli import main as cli_main

    cli_main(["controller", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
