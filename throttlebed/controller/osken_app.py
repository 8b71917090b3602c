"""The os-ken adapter: the only module speaking OpenFlow 1.3 through os-ken's app API.

Glue only: on a switch's features reply it deletes every flow and meter, then installs the plan
(so a reconnecting switch or a restarted controller ends up with exactly the plan); it applies
plan diffs (meter ADD/MODIFY/DELETE, flow ADD/MODIFY_STRICT/DELETE_STRICT) followed by barriers;
a scheduler thread re-applies at period boundaries of the emulated clock and a poller thread asks
for flow and meter statistics. Just before a meter modify/delete it asks for meter statistics on the
same connection: the switch handles a connection's messages in order, so that reply is the old
meter's last reading (its *closing reading*, which makes an interval spanning the change exact).
The decisions live in ``plan``, ``scheduler`` and ``stats``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from throttlebed.controller.plan import Flow, Meter, PlanDiff, SwitchPlan, plan_diff
from throttlebed.controller.scheduler import sleep_until_s
from throttlebed.controller.state import ControllerState
from throttlebed.controller.stats import sum_by_cookie

LOG = logging.getLogger("throttlebed.controller")


def _ipv4_masked(prefix: str) -> tuple[str, str]:
    from ipaddress import IPv4Network

    net = IPv4Network(prefix)
    return str(net.network_address), str(net.netmask)


class ThrottlebedApp(app_manager.OSKenApp):
    """Meters and flows from the plan, period switching, counters."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    state: ControllerState | None = None  # set by the launcher before the app is instantiated

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        assert self.state is not None, "ThrottlebedApp.state must be set before start"
        self.st: ControllerState = self.state
        self.datapaths: dict[int, Any] = {}
        self._apply_lock = threading.RLock()
        self._barriers: dict[tuple[int, int], threading.Event] = {}
        self._multipart: dict[tuple[int, str], list[Any]] = {}
        self._meter_gen: dict[tuple[int, int], int] = {}  # (dpid, meter id) -> adds/modifies/deletes sent
        # (dpid, xid) of a meter stats request -> (datapath asked, generations then, closing reading?)
        self._meter_req: dict[tuple[int, int], tuple[Any, dict[int, int], bool]] = {}
        self._stop = threading.Event()
        self.st.reapply = self.apply_all

    def start(self):
        thread = super().start()
        hub.spawn(self._scheduler_loop)
        hub.spawn(self._poll_loop)
        return thread

    def stop(self) -> None:
        """End the scheduler and poller threads."""
        self._stop.set()
        super().stop()

    # ---- messages -----------------------------------------------------------------------

    @staticmethod
    def _meter_mod(dp: Any, command: int, meter: Meter | None, meter_id: int) -> Any:
        ofp, parser = dp.ofproto, dp.ofproto_parser
        if meter is None:
            return parser.OFPMeterMod(dp, command=command, flags=0, meter_id=meter_id, bands=[])
        bands = [parser.OFPMeterBandDrop(rate=meter.rate_kbps, burst_size=meter.burst_kbits)]
        flags = ofp.OFPMF_KBPS | ofp.OFPMF_BURST | ofp.OFPMF_STATS
        return parser.OFPMeterMod(dp, command=command, flags=flags, meter_id=meter.meter_id, bands=bands)

    @staticmethod
    def _match(dp: Any, flow: Flow) -> Any:
        fields: dict[str, Any] = {}
        for name, value in flow.match:
            fields[name] = _ipv4_masked(str(value)) if name in ("ipv4_src", "ipv4_dst") else value
        return dp.ofproto_parser.OFPMatch(**fields)

    def _flow_mod(self, dp: Any, command: int, flow: Flow) -> Any:
        ofp, parser = dp.ofproto, dp.ofproto_parser
        inst = []
        if flow.meter_id is not None:
            inst.append(parser.OFPInstructionMeter(flow.meter_id, ofp.OFPIT_METER))
        inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                                 [parser.OFPActionOutput(ofp.OFPP_NORMAL, 0)]))
        return parser.OFPFlowMod(dp, cookie=flow.cookie, table_id=0, command=command,
                                 priority=flow.priority, match=self._match(dp, flow),
                                 instructions=inst if command != ofp.OFPFC_DELETE_STRICT else [],
                                 out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY)

    def _ask_meters(self, dp: Any, closing: bool) -> None:
        """Send a meter stats request for all meters, tagged with their generations (apply lock held)."""
        ofp, parser = dp.ofproto, dp.ofproto_parser
        req = parser.OFPMeterStatsRequest(dp, 0, ofp.OFPM_ALL)
        dp.set_xid(req)
        gens = {m: g for (d, m), g in self._meter_gen.items() if d == dp.id}
        self._meter_req[(dp.id, req.xid)] = (dp, gens, closing)
        dp.send_msg(req)

    def _new_generation(self, dpid: int, meter_id: int) -> None:
        """The meter's counters (re)start from zero on the switch: added, modified or deleted."""
        self._meter_gen[(dpid, meter_id)] = self._meter_gen.get((dpid, meter_id), 0) + 1

    def _send_diff(self, dp: Any, diff: PlanDiff) -> None:
        ofp = dp.ofproto
        if diff.meters_modify or diff.meters_delete:  # the closing reading of the meters about to reset
            self._ask_meters(dp, closing=True)
        for m in diff.meters_add:
            dp.send_msg(self._meter_mod(dp, ofp.OFPMC_ADD, m, m.meter_id))
            self._new_generation(dp.id, m.meter_id)
        for m in diff.meters_modify:
            dp.send_msg(self._meter_mod(dp, ofp.OFPMC_MODIFY, m, m.meter_id))
            self._new_generation(dp.id, m.meter_id)  # OVS zeroes meter counters on modify
        for f in diff.flows_add:
            dp.send_msg(self._flow_mod(dp, ofp.OFPFC_ADD, f))
        for f in diff.flows_modify:
            dp.send_msg(self._flow_mod(dp, ofp.OFPFC_MODIFY_STRICT, f))
        for f in diff.flows_delete:
            dp.send_msg(self._flow_mod(dp, ofp.OFPFC_DELETE_STRICT, f))
        for meter_id in diff.meters_delete:
            dp.send_msg(self._meter_mod(dp, ofp.OFPMC_DELETE, None, meter_id))
            self._new_generation(dp.id, meter_id)

    def _reset_switch(self, dp: Any) -> None:
        """Delete every flow of every table and every meter."""
        ofp, parser = dp.ofproto, dp.ofproto_parser
        dp.send_msg(parser.OFPFlowMod(dp, table_id=ofp.OFPTT_ALL, command=ofp.OFPFC_DELETE,
                                      out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
                                      match=parser.OFPMatch()))
        dp.send_msg(parser.OFPMeterMod(dp, command=ofp.OFPMC_DELETE, flags=0, meter_id=ofp.OFPM_ALL))
        for key in [k for k in self._meter_req if k[0] == dp.id]:  # asked on an earlier connection
            del self._meter_req[key]
        for dpid, meter_id in [k for k in self._meter_gen if k[0] == dp.id]:
            self._new_generation(dpid, meter_id)

    def _barrier(self, dp: Any) -> threading.Event:
        msg = dp.ofproto_parser.OFPBarrierRequest(dp)
        dp.set_xid(msg)
        ev = threading.Event()
        self._barriers[(dp.id, msg.xid)] = ev
        dp.send_msg(msg)
        return ev

    # ---- applying the plan --------------------------------------------------------------

    def _apply(self, dp: Any, current: SwitchPlan | None, wanted: SwitchPlan, local) -> tuple[PlanDiff, Any]:
        diff = plan_diff(current, wanted)
        if diff.empty:
            return diff, None
        self._send_diff(dp, diff)
        ev = self._barrier(dp)
        self.st.installed[dp.id] = wanted
        self.st.record_applied(dp.id, local, diff, wanted)
        LOG.info("%s switch %#x (%s) period %s: %s; rates %s", local.isoformat(timespec="seconds"),
                 dp.id, wanted.region, wanted.period, diff.summary(),
                 {m.meter_id: m.rate_kbps for m in wanted.meters})
        return diff, ev

    def apply_all(self, wait: bool = True) -> dict[int, PlanDiff]:
        """Bring every connected switch to the plan of now; wait for the barriers."""
        local = self.st.local_now()
        diffs: dict[int, PlanDiff] = {}
        events = []
        with self._apply_lock, self.st.lock:
            for dpid, dp in sorted(self.datapaths.items()):
                if dpid not in self.st.installed:
                    continue
                diff, ev = self._apply(dp, self.st.installed[dpid], self.st.wanted(dpid, local), local)
                diffs[dpid] = diff
                if ev is not None:
                    events.append(ev)
        if wait:
            deadline = time.monotonic() + self.st.settings.barrier_timeout_s
            for ev in events:
                if not ev.wait(max(0.0, deadline - time.monotonic())):
                    self.st.errors.append("barrier reply timed out")
        return diffs

    # ---- events -------------------------------------------------------------------------

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features(self, ev: Any) -> None:
        """A switch connected: wipe it, then install the plan of now."""
        dp = ev.msg.datapath
        with self._apply_lock, self.st.lock:
            self.datapaths[dp.id] = dp
            self.st.switch_connected(dp.id)
            self._reset_switch(dp)
            local = self.st.local_now()
            self._apply(dp, None, self.st.wanted(dp.id, local), local)
        LOG.info("switch %#x connected (region %s)", dp.id, self.st.region_map.region_of(dp.id))

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def state_change(self, ev: Any) -> None:
        """Forget a switch that went away."""
        dp = ev.datapath
        if ev.state == DEAD_DISPATCHER and dp.id is not None and self.datapaths.get(dp.id) is dp:
            with self._apply_lock:
                self.datapaths.pop(dp.id, None)
                self.st.switch_gone(dp.id)
                for key in [k for k in self._meter_req if k[0] == dp.id]:
                    del self._meter_req[key]
                for key in [k for k in self._barriers if k[0] == dp.id]:
                    self._barriers.pop(key).set()  # nobody will answer: do not keep waiters waiting
                for key in [k for k in self._multipart if k[0] == dp.id]:
                    del self._multipart[key]
            LOG.info("switch %#x disconnected", dp.id)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def barrier_reply(self, ev: Any) -> None:
        """Wake whoever waits for this barrier."""
        done = self._barriers.pop((ev.msg.datapath.id, ev.msg.xid), None)
        if done is not None:
            done.set()

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def error_msg(self, ev: Any) -> None:
        """Log errors the switch reports (a rejected meter or flow)."""
        msg = ev.msg
        text = f"switch {msg.datapath.id:#x}: OpenFlow error type={msg.type} code={msg.code}"
        self.st.errors.append(text)
        LOG.warning(text)

    def _collect(self, ev: Any, kind: str) -> list[Any] | None:
        """The whole body of a (possibly multi-part) stats reply, once its last part arrived."""
        msg = ev.msg
        key = (msg.datapath.id, kind)
        parts = self._multipart.setdefault(key, [])
        parts.extend(msg.body)
        if msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE:
            return None
        return self._multipart.pop(key)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def flow_stats_reply(self, ev: Any) -> None:
        """Flow byte counters -> measurement rows."""
        mono_s = self.st.mono()
        body = self._collect(ev, "flow")
        if body is None:
            return
        counts = sum_by_cookie((s.cookie, s.byte_count) for s in body if s.table_id == 0)
        self.st.record_flow_counts(ev.msg.datapath.id, counts, mono_s)

    @set_ev_cls(ofp_event.EventOFPMeterStatsReply, MAIN_DISPATCHER)
    def meter_stats_reply(self, ev: Any) -> None:
        """Meter counters of a poll, or the closing reading of meters about to be modified/deleted.

        Each meter's reading carries the generation its counters had when asked: the switch answered
        before it applied any later modify. A reply to a request this connection did not send (the
        switch reconnected meanwhile) is ignored.
        """
        dp = ev.msg.datapath
        body = self._collect(ev, f"meter-{ev.msg.xid}")
        if body is None:
            return
        with self._apply_lock:
            tag = self._meter_req.pop((dp.id, ev.msg.xid), None)
        if tag is None or tag[0] is not dp:
            return
        _, gens, closing = tag
        record = self.st.record_closing_meter if closing else self.st.record_meter
        for s in body:
            if s.meter_id not in gens:
                continue  # not a meter this controller installed
            packets = sum(b.packet_band_count for b in s.band_stats)
            nbytes = sum(b.byte_band_count for b in s.band_stats)
            record(dp.id, s.meter_id, s.byte_in_count, packets, nbytes, gens[s.meter_id])

    # ---- threads ------------------------------------------------------------------------

    def _scheduler_loop(self) -> None:
        """Re-apply the plan at each period boundary of the emulated clock."""
        while not self._stop.is_set():
            try:
                self.apply_all(wait=True)
            except Exception as e:  # keep switching periods whatever one switch did
                self.st.errors.append(f"scheduler: {type(e).__name__}: {e}")
                LOG.exception("scheduler")
            local = self.st.local_now()
            self._stop.wait(sleep_until_s(self.st.directive, local, self.st.settings.time_scale))

    def _poll_loop(self) -> None:
        """Ask every regional switch for flow and meter statistics each poll interval."""
        interval_s = self.st.settings.poll_interval_s
        next_s = time.monotonic()
        while not self._stop.is_set():
            for dpid, dp in list(self.datapaths.items()):
                if self.st.region_map.region_of(dpid) is None:
                    continue
                ofp, parser = dp.ofproto, dp.ofproto_parser
                try:
                    # meters first: the flow reply then finds this poll's meter readings; under the
                    # apply lock so that no meter change slips between tagging and sending
                    with self._apply_lock:
                        self._ask_meters(dp, closing=False)
                        dp.send_msg(parser.OFPFlowStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY,
                                                               ofp.OFPG_ANY, 0, 0, parser.OFPMatch()))
                except Exception as e:
                    self.st.errors.append(f"poll {dpid:#x}: {type(e).__name__}: {e}")
            next_s += interval_s
            self._stop.wait(max(0.0, next_s - time.monotonic()))
