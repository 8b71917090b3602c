"""The Prometheus text exposition of the controller's state. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from throttlebed.controller.plan import SwitchPlan, meter_direction
from throttlebed.controller.stats import StatsRow


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_esc(str(v))}"' for k, v in labels.items()) + "}"


def _num(v: float) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def metrics_text(plans: Mapping[int, SwitchPlan], latest: Iterable[StatsRow],
                 drops: Mapping[tuple[int, int], tuple[int, int]], connected: int,
                 rate_scale: float, time_scale: float, last_confirm_s: float | None = None,
                 changes_rolled_back: int = 0) -> str:
    """Gauges and counters in the Prometheus text format (version 0.0.4).

    ``plans`` are the plans the switches confirmed; ``last_confirm_s`` the time from the last
    accepted directive change to the last switch's confirmation (Appendix 3 item 1, "immediately").
    """
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{labels} {_num(v)}" for labels, v in samples)

    family("throttlebed_switches_connected", "gauge", "OpenFlow switches connected.",
           [("", connected)])
    family("throttlebed_rate_scale", "gauge", "Wire rate per model kbit/s.", [("", rate_scale)])
    family("throttlebed_time_scale", "gauge", "Emulated seconds per real second.", [("", time_scale)])
    family("throttlebed_directive_confirm_seconds", "gauge",
           "Accepted directive change to the last switch's confirmation, seconds.",
           [("", last_confirm_s)] if last_confirm_s is not None else [])
    family("throttlebed_directive_changes_rolled_back_total", "counter",
           "Directive changes undone because a switch did not confirm them.", [("", changes_rolled_back)])
    rate, cap = [], []
    for dpid, plan in sorted(plans.items()):
        if plan.region is None:
            continue
        for m in plan.meters:
            direction = meter_direction(m.meter_id)
            lab = _labels(region=plan.region, direction=direction or str(m.meter_id), dpid=f"{dpid:#x}")
            rate.append((lab, m.rate_kbps))
            cap.append((lab, plan.caps_kbps.get(direction or "", 0)))
    family("throttlebed_meter_rate_kbps", "gauge", "Meter rate on the wire, kbit/s.", rate)
    family("throttlebed_cap_kbps", "gauge", "Cap in force, model kbit/s.", cap)
    rows = sorted(latest, key=lambda r: (r.traffic, r.region, r.direction))
    family("throttlebed_platform_kbps", "gauge", "Platform throughput last interval, model kbit/s.",
           [(_labels(region=r.region, direction=r.direction), r.kbps) for r in rows
            if r.traffic == "platform"])
    family("throttlebed_platform_wire_kbps", "gauge", "Platform throughput last interval, wire kbit/s.",
           [(_labels(region=r.region, direction=r.direction), r.wire_kbps) for r in rows
            if r.traffic == "platform"])
    family("throttlebed_platform_offered_wire_kbps", "gauge",
           "Platform traffic reaching the meter last interval, wire kbit/s.",
           [(_labels(region=r.region, direction=r.direction), r.offered_wire_kbps) for r in rows
            if r.traffic == "platform" and r.offered_wire_kbps is not None])
    family("throttlebed_other_kbps", "gauge", "Non-platform throughput last interval, model kbit/s.",
           [(_labels(region=r.region, direction=r.direction), r.kbps) for r in rows
            if r.traffic == "other"])
    region_of = {d: p.region for d, p in plans.items()}
    dp, db = [], []
    for (dpid, meter_id), (packets, nbytes) in sorted(drops.items()):
        region = region_of.get(dpid)
        if region is None:
            continue
        lab = _labels(region=region, direction=meter_direction(meter_id) or str(meter_id))
        dp.append((lab, packets))
        db.append((lab, nbytes))
    family("throttlebed_meter_band_drops_total", "counter", "Packets dropped by meter bands.", dp)
    family("throttlebed_meter_band_drop_bytes_total", "counter", "Bytes dropped by meter bands.", db)
    return "\n".join(out) + "\n"
