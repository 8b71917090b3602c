"""The os-ken adapter: the only module speaking OpenFlow 1.3 through os-ken's app API.

Glue only (the decisions live in ``core``, ``service``, ``scheduler`` and ``stats``): it turns the
core's plain messages into OpenFlow messages carrying the core's xids, and OpenFlow events (switch
features, barrier replies, errors, stats replies, disconnections) into core events. A scheduler
thread ticks the core (period boundaries, retries) and a poller thread asks for flow and meter
statistics. A second connection claiming a dpid that is already connected is refused and logged.
Just before a meter modify/delete the core asks for meter statistics on the same connection: the
switch handles a connection's messages in order, so that reply is the old meter's last reading (its
*closing reading*, which makes an interval spanning the change exact).
"""

from __future__ import annotations

import logging
import threading
import time
from ipaddress import IPv4Network
from typing import Any

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from throttlebed.controller.core import (
    BarrierMsg,
    FlowMsg,
    FoundFlow,
    Message,
    MeterMsg,
    ReadMetersMsg,
    ReadSwitchMsg,
)
from throttlebed.controller.plan import Flow, Meter
from throttlebed.controller.scheduler import sleep_until_s
from throttlebed.controller.state import ControllerState
from throttlebed.controller.stats import sum_by_cookie

LOG = logging.getLogger("throttlebed.controller")
TICK_S = 1.0  # the scheduler ticks at least this often (retries of switches that failed)
IPV4_FIELDS = ("ipv4_src", "ipv4_dst")


def _ipv4_masked(prefix: str) -> tuple[str, str]:
    net = IPv4Network(prefix)
    return str(net.network_address), str(net.netmask)


def _ipv4_prefix(value: Any) -> str:
    """os-ken's ``'a.b.c.d'`` or ``('a.b.c.d', 'mask')`` -> ``'a.b.c.d/len'``."""
    text = "/".join(value) if isinstance(value, tuple) else str(value)
    return str(IPv4Network(text, strict=False))


class ThrottlebedApp(app_manager.OSKenApp):
    """Translates between the enforcement core and OpenFlow 1.3; sends; polls counters."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    state: ControllerState | None = None  # set by the launcher before the app is instantiated

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        assert self.state is not None, "ThrottlebedApp.state must be set before start"
        self.st: ControllerState = self.state
        self.datapaths: dict[int, Any] = {}
        self._multipart: dict[tuple[int, str, int], list[Any]] = {}
        # (dpid, xid) of a meter stats request -> (datapath asked, generations then, closing reading?)
        self._meter_req: dict[tuple[int, int], tuple[Any, dict[int, int], bool]] = {}
        # dpid -> (meter config xid, flow stats xid, meters read, flows read) of a reconcile read
        self._reads: dict[int, list[Any]] = {}
        self._stop = threading.Event()
        self.st.send = self.send_all

    def start(self):
        thread = super().start()
        hub.spawn(self._scheduler_loop)
        hub.spawn(self._poll_loop)
        return thread

    def stop(self) -> None:
        """End the scheduler and poller threads."""
        self._stop.set()
        super().stop()

    # ---- the core's messages -> OpenFlow ------------------------------------------------

    @staticmethod
    def _meter_mod(dp: Any, msg: MeterMsg) -> Any:
        ofp, parser = dp.ofproto, dp.ofproto_parser
        command = {"add": ofp.OFPMC_ADD, "modify": ofp.OFPMC_MODIFY, "delete": ofp.OFPMC_DELETE}[msg.command]
        if msg.meter is None:
            return parser.OFPMeterMod(dp, command=command, flags=0, meter_id=msg.meter_id, bands=[])
        bands = [parser.OFPMeterBandDrop(rate=msg.meter.rate_kbps, burst_size=msg.meter.burst_kbits)]
        flags = ofp.OFPMF_KBPS | ofp.OFPMF_BURST | ofp.OFPMF_STATS
        return parser.OFPMeterMod(dp, command=command, flags=flags, meter_id=msg.meter_id, bands=bands)

    @staticmethod
    def _match(dp: Any, flow: Flow) -> Any:
        fields: dict[str, Any] = {}
        for name, value in flow.match:
            fields[name] = _ipv4_masked(str(value)) if name in IPV4_FIELDS else value
        return dp.ofproto_parser.OFPMatch(**fields)

    def _flow_mod(self, dp: Any, msg: FlowMsg) -> Any:
        ofp, parser = dp.ofproto, dp.ofproto_parser
        if msg.command == "delete-table":
            return parser.OFPFlowMod(dp, table_id=msg.table_id, command=ofp.OFPFC_DELETE,
                                     out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=parser.OFPMatch())
        flow = msg.flow
        assert flow is not None
        command = {"add": ofp.OFPFC_ADD, "modify": ofp.OFPFC_MODIFY_STRICT,
                   "delete": ofp.OFPFC_DELETE_STRICT}[msg.command]
        inst = []
        if flow.meter_id is not None:
            inst.append(parser.OFPInstructionMeter(flow.meter_id, ofp.OFPIT_METER))
        inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                                 [parser.OFPActionOutput(ofp.OFPP_NORMAL, 0)]))
        return parser.OFPFlowMod(dp, cookie=flow.cookie, table_id=0, command=command,
                                 priority=flow.priority, match=self._match(dp, flow),
                                 instructions=inst if msg.command != "delete" else [],
                                 out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY)

    def _openflow(self, dp: Any, msg: Message) -> list[Any]:
        """One core message as OpenFlow messages (xids set); remembers what replies will mean."""
        ofp, parser = dp.ofproto, dp.ofproto_parser
        if isinstance(msg, MeterMsg):
            out = [(self._meter_mod(dp, msg), msg.xid)]
        elif isinstance(msg, FlowMsg):
            out = [(self._flow_mod(dp, msg), msg.xid)]
        elif isinstance(msg, BarrierMsg):
            out = [(parser.OFPBarrierRequest(dp), msg.xid)]
        elif isinstance(msg, ReadMetersMsg):
            self._meter_req[(dp.id, msg.xid)] = (dp, dict(msg.generations), msg.closing)
            out = [(parser.OFPMeterStatsRequest(dp, 0, ofp.OFPM_ALL), msg.xid)]
        else:
            assert isinstance(msg, ReadSwitchMsg)
            self._reads[dp.id] = [msg.meters_xid, msg.flows_xid, None, None]
            out = [(parser.OFPMeterConfigStatsRequest(dp, 0, ofp.OFPM_ALL), msg.meters_xid),
                   (parser.OFPFlowStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY, 0, 0,
                                               parser.OFPMatch()), msg.flows_xid)]
        for m, xid in out:
            m.set_xid(xid)
        return [m for m, _ in out]

    def send_all(self, msgs: dict[int, list[Message]]) -> None:
        """Send the core's messages to each connected switch, in order (state lock held)."""
        for dpid, items in msgs.items():
            dp = self.datapaths.get(dpid)
            if dp is None:
                continue
            for item in items:
                for m in self._openflow(dp, item):
                    dp.send_msg(m)

    # ---- OpenFlow events -> the core ------------------------------------------------------

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features(self, ev: Any) -> None:
        """A switch connected: the core reads what it holds, then reconciles."""
        dp = ev.msg.datapath
        with self.st.lock:
            held = self.datapaths.get(dp.id)
            if held is not None and held is not dp and held.is_active:
                text = (f"switch {dp.id:#x}: a second connection from {dp.address} claims a connected "
                        f"dpid (first from {held.address}): refused")
                self.st.errors.append(text)
                LOG.warning(text)
                dp.close()
                return
            self.datapaths[dp.id] = dp
            self._forget(dp.id)
            self.st.switch_connected(dp.id)
            self.send_all({dp.id: self.st.core.switch_up(dp.id)})
        LOG.info("switch %#x connected (region %s)", dp.id, self.st.region_map.region_of(dp.id))

    def _forget(self, dpid: int) -> None:
        for key in [k for k in self._meter_req if k[0] == dpid]:
            del self._meter_req[key]
        for key in [k for k in self._multipart if k[0] == dpid]:
            del self._multipart[key]
        self._reads.pop(dpid, None)

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def state_change(self, ev: Any) -> None:
        """Forget a switch that went away (not a refused second connection)."""
        dp = ev.datapath
        if ev.state == DEAD_DISPATCHER and dp.id is not None and self.datapaths.get(dp.id) is dp:
            with self.st.lock:
                self.datapaths.pop(dp.id, None)
                self._forget(dp.id)
                self.st.switch_gone(dp.id)
                self.st.period_switches.failed(dp.id)
            LOG.info("switch %#x disconnected", dp.id)

    def _ours(self, dp: Any) -> bool:
        return self.datapaths.get(dp.id) is dp

    @set_ev_cls(ofp_event.EventOFPBarrierReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def barrier_reply(self, ev: Any) -> None:
        """A batch is confirmed."""
        mono_s = self.st.mono()
        dp = ev.msg.datapath
        with self.st.lock:
            previous = self.st.core.confirmed(dp.id)
            if self._ours(dp) and self.st.core.barrier_reply(dp.id, ev.msg.xid):
                self.st.period_switches.confirmed(dp.id, ev.msg.xid, mono_s)
                plan = self.st.core.confirmed(dp.id)
                if plan is not None and plan != previous:
                    self.st.record_confirmed(dp.id, previous, plan)
                self.st.lock.notify_all()

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def error_msg(self, ev: Any) -> None:
        """The switch rejected a message: tell the core; log it."""
        msg = ev.msg
        dp = msg.datapath
        text = f"switch {dp.id:#x}: OpenFlow error type={msg.type} code={msg.code} (xid {msg.xid:#x})"
        self.st.errors.append(text)
        LOG.warning(text)
        with self.st.lock:
            if self._ours(dp) and self.st.core.error(dp.id, msg.xid, text):
                self._reads.pop(dp.id, None)
                self.st.period_switches.failed(dp.id)
                self.st.lock.notify_all()

    def _collect(self, ev: Any, kind: str) -> list[Any] | None:
        """The whole body of a (possibly multi-part) stats reply, once its last part arrived."""
        msg = ev.msg
        key = (msg.datapath.id, kind, msg.xid)
        parts = self._multipart.setdefault(key, [])
        parts.extend(msg.body)
        if msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE:
            return None
        return self._multipart.pop(key)

    def _read_part(self, dp: Any, xid: int, index: int, found: list[Any]) -> bool:
        """Keep one half of a reconcile read; when both are in, hand them to the core."""
        read = self._reads.get(dp.id)
        if read is None or read[index - 2] != xid:
            return False
        read[index] = found
        if read[2] is not None and read[3] is not None:
            del self._reads[dp.id]
            msgs = self.st.core.switch_contents(dp.id, read[0], read[2], read[3], self.st.mono())
            self.send_all({dp.id: msgs})
        return True

    @set_ev_cls(ofp_event.EventOFPMeterConfigStatsReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def meter_config_reply(self, ev: Any) -> None:
        """The meters a switch holds (a reconcile read)."""
        dp = ev.msg.datapath
        body = self._collect(ev, "meter-config")
        if body is None:
            return
        ofp = dp.ofproto
        ours = ofp.OFPMF_KBPS | ofp.OFPMF_BURST | ofp.OFPMF_STATS
        meters = []
        for c in body:
            bands = c.bands
            if c.flags == ours and len(bands) == 1 and bands[0].type == ofp.OFPMBT_DROP:
                meters.append(Meter(c.meter_id, bands[0].rate, bands[0].burst_size))
            else:  # not of our form: differs from any plan, so it is modified or deleted
                meters.append(Meter(c.meter_id, -1, -1))
        with self.st.lock:
            if self._ours(dp):
                self._read_part(dp, ev.msg.xid, 2, meters)

    @staticmethod
    def _found_flow(dp: Any, s: Any) -> FoundFlow:
        """A flow stats entry in the plan's form (meter -1 when its instructions are not ours)."""
        ofp = dp.ofproto
        match = tuple(sorted((k, _ipv4_prefix(v) if k in IPV4_FIELDS else v) for k, v in s.match.items()))
        meter_id, normal, other = None, False, False
        for inst in s.instructions:
            if inst.type == ofp.OFPIT_METER:
                meter_id = inst.meter_id
            elif (inst.type == ofp.OFPIT_APPLY_ACTIONS and len(inst.actions) == 1
                  and getattr(inst.actions[0], "port", None) == ofp.OFPP_NORMAL):
                normal = True
            else:
                other = True
        if other or not normal:
            meter_id = -1
        return FoundFlow(s.table_id, Flow(s.priority, match, meter_id, s.cookie))

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def flow_stats_reply(self, ev: Any) -> None:
        """Flow byte counters -> measurement rows; or the flows a switch holds (a reconcile read)."""
        mono_s = self.st.mono()
        dp = ev.msg.datapath
        body = self._collect(ev, "flow")
        if body is None:
            return
        with self.st.lock:
            read = self._reads.get(dp.id)
            if read is not None and read[1] == ev.msg.xid:
                if self._ours(dp):
                    self._read_part(dp, ev.msg.xid, 3, [self._found_flow(dp, s) for s in body])
                return
        counts = sum_by_cookie((s.cookie, s.byte_count) for s in body if s.table_id == 0)
        self.st.record_flow_counts(dp.id, counts, mono_s)

    @set_ev_cls(ofp_event.EventOFPMeterStatsReply, MAIN_DISPATCHER)
    def meter_stats_reply(self, ev: Any) -> None:
        """Meter counters of a poll, or the closing reading of meters about to be modified/deleted.

        Each meter's reading carries the generation its counters had when asked: the switch answered
        before it applied any later modify. A reply to a request this connection did not send (the
        switch reconnected meanwhile) is ignored.
        """
        dp = ev.msg.datapath
        body = self._collect(ev, "meter")
        if body is None:
            return
        with self.st.lock:
            tag = self._meter_req.pop((dp.id, ev.msg.xid), None)
        if tag is None or tag[0] is not dp:
            return
        _, gens, closing = tag
        record = self.st.record_closing_meter if closing else self.st.record_meter
        for s in body:
            if s.meter_id not in gens:
                continue  # not a meter this controller knows
            packets = sum(b.packet_band_count for b in s.band_stats)
            nbytes = sum(b.byte_band_count for b in s.band_stats)
            record(dp.id, s.meter_id, s.byte_in_count, packets, nbytes, gens[s.meter_id])

    # ---- threads ------------------------------------------------------------------------

    def tick(self) -> None:
        """Period changes and retries: whatever the core says now."""
        with self.st.lock:
            tick_mono_s = self.st.mono()
            out = self.st.core.tick(tick_mono_s)
            self.send_all(out)
            self.st.record_tick(tick_mono_s, out, self.st.mono())

    def _scheduler_loop(self) -> None:
        """Tick the core at each period boundary of the emulated clock, and at least every TICK_S."""
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as e:  # keep switching periods whatever one switch did
                self.st.errors.append(f"scheduler: {type(e).__name__}: {e}")
                LOG.exception("scheduler")
            local = self.st.local_now()
            wait_s = sleep_until_s(self.st.directive, local, self.st.settings.time_scale)
            self._stop.wait(min(TICK_S, wait_s))

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
                    # lock so that no meter change slips between tagging and sending
                    with self.st.lock:
                        self.send_all({dpid: [self.st.core.read_meters(dpid)]})
                        dp.send_msg(parser.OFPFlowStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY,
                                                               ofp.OFPG_ANY, 0, 0, parser.OFPMatch()))
                except Exception as e:
                    self.st.errors.append(f"poll {dpid:#x}: {type(e).__name__}: {e}")
            next_s += interval_s
            self._stop.wait(max(0.0, next_s - time.monotonic()))
