"""The ``openflow`` back-end: keeps every integration bridge in the state the model asks for.

Changes from the API (plug-in hooks) and from the switches (OpenFlow connections, OVSDB chassis
reports) only note what changed and wake one worker; the worker updates the desired state of the
switches that change reaches (apps/incremental.py: only the affected pieces, on only the switches
hosting the network), sends each switch its delta with a barrier, asks OVSDB for the tunnels
that are now needed, and reports the status of the ports concerned back to the core. Bursts of
changes coalesce into one pass, and API calls never wait for switches.

A switch that (re)connects, or sent an error, or any switch after a pass that failed, gets a
full resync instead of a delta: its flows are read back (flow stats, by cookie) and only the
difference from its whole desired state is sent, so a restarted controller changes nothing on a
switch that is already right: traffic keeps flowing (switches run with fail_mode=secure). A
failed pass also starts the desired state over from the model. Meters are read back too (meter
config), so a restart rewrites no meter either.

Bandwidth limits are meters (apps/meters.py) in a port's local piece: a QoS policy change marks
the ports it applies to as changed, and their meters are modified in place. Their counters are
read on demand for the API (``port_stats``).
"""
import gc
import logging
import ssl
import time

import netaddr
from os_ken.app.ofctl import api as ofctl
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import (CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER,
                                       set_ev_cls)
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from apps import dhcp, meters, ofmsg
from apps import pipeline as pl
from apps.chassis import ChassisError, ChassisMonitor, EventChassisChanged
from apps.chassis_model import chassis_problems
from apps.ovsdb_manager import common_name
from apps.incremental import DesiredState
from apps.model import LogicalModel
from controller import errors
from controller.plugin import Plugin

LOG = logging.getLogger(__name__)
#: A pass with this many flow/group changes freezes what survived it (see ``reconcile``).
FREEZE_AFTER_CHANGES = 10000
#: Source MAC of the controller's DHCP replies (locally administered, outside fa:16:3e).
DHCP_SERVER_MAC = "02:71:6e:65:74:01"


class OpenFlowPlugin(Plugin):
    """The plug-in half: mirrors the logical model and wakes the controller app."""

    name = "openflow"
    # apps.chassis comes in as a context of apps.openflow
    osken_apps = ("os_ken.app.ofctl.service", "apps.openflow")

    def __init__(self):
        self.model = LogicalModel()
        self.app = None
        self.resync_grace = 0
        self.registered_only = False

    def configure(self, config):
        self.resync_grace = config.resync_grace
        self.registered_only = config.hypervisors == "registered"

    def start(self, core):
        super().start(core)
        self.model = LogicalModel.load(core)

    def osken_args(self, config):
        host, port = config.split(config.ovsdb_listen)
        tls = config.tls()
        return ["--ovsdb-address", host, "--ovsdb-port", str(port),
                *(["--chassis-registered-only"] if self.registered_only else []),
                *(["--ovsdb-private-key", tls[0], "--ovsdb-certificate", tls[1],
                   "--ovsdb-ca-certificate", tls[2]] if tls else [])]

    def bind_apps(self, apps):
        self.app = next(a for a in apps.values() if isinstance(a, QnetController))
        if self.registered_only:
            self.app.monitor.admit = self.core.hypervisor_registered
        self.app.attach(self)

    def topology(self):
        if self.app is None:
            raise errors.NotFound("The OpenFlow controller is not running.")
        return self.app.describe()

    def notify(self, change):
        self.model.apply(change)
        if self.app is not None:
            self.app.changed(change)

    def port_stats(self, port):
        """The port's meters as configured and their counters, read from its switch now."""
        view = self.model.ports.get(port.id)
        where = self.app.where(port.id) if self.app and view else None
        if where is None:
            return {"bound": False, "meters": []}
        chassis_id, ofport = where
        wanted = meters.port_meters(ofport, self.model.limits_of(view))
        replies = self.app.meter_stats(chassis_id, [m.meter_id for m in wanted.values()])
        return {"bound": True, "chassis": chassis_id, "ofport": ofport,
                "meters": meter_stats_view(wanted, replies)}


def meter_stats_view(wanted, stats):
    """API rows for a port's meters ({direction: Meter}) from OFPMeterStats (by meter id):
    what passed the meter and what its drop band dropped. A meter the switch does not report
    (not installed yet) shows null counters."""
    rows = []
    for direction, meter in wanted.items():
        stat = stats.get(meter.meter_id)
        band = stat.band_stats[0] if stat is not None and stat.band_stats else None
        rows.append({
            "direction": direction, "meter_id": meter.meter_id,
            "rate_kbps": meter.rate_kbps, "burst_kbits": meter.burst_kbits,
            "packets": stat.packet_in_count if stat else None,
            "bytes": stat.byte_in_count if stat else None,
            "dropped_packets": band.packet_band_count if band else None,
            "dropped_bytes": band.byte_band_count if band else None,
        })
    return rows


class Switch:
    """One connected integration bridge; ``synced``: it holds its desired state, so deltas
    suffice (False: read it back and resync on the next pass); ``unpruned``: resynced while
    settling after a restart, so it may still hold stale flows (resync again once settled)."""

    def __init__(self, dp):
        self.dp = dp
        self.synced = False
        self.unpruned = False
        # With TLS: the CN of its certificate, which must be its chassis' system-id.
        sock = getattr(dp, "socket", None)
        self.common_name = common_name(sock) if isinstance(sock, ssl.SSLSocket) else None
        self.impostor_logged = False


class QnetController(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"chassis_monitor": ChassisMonitor}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.monitor = kwargs["chassis_monitor"]
        self.plugin = None
        self.switches = {}            # dpid -> Switch
        self.desired = DesiredState()
        self.dirty_ports, self.dirty_networks, self.dirty_chassis = set(), set(), set()
        self.synced = set()           # chassis ids whose switch holds its desired state
        self.reported = {}            # port id -> status tuple last written to the core
        self.problems = {}            # chassis id -> its problems as last logged
        self.wake = hub.Event()
        self.passes = 0               # reconcile passes run (for tests and benchmarks)
        self.sent = 0                 # flow-mods and group-mods sent (for tests and benchmarks)
        self.settling = None          # while the view is partial: (deadline, chassis awaited)

    def start(self):
        thread = super().start()
        self.threads.append(hub.spawn(self._worker))
        return thread

    def stop(self):
        # The worker sleeps on ``wake``: without this it never sees the app stop and
        # AppManager.close() would wait for it forever (``qnet serve`` hanging on SIGTERM).
        self.is_active = False
        self.kick()
        super().stop()

    def attach(self, plugin):
        self.plugin = plugin
        if plugin.resync_grace > 0 and plugin.model.hosts_at_load:
            self.settling = (time.monotonic() + plugin.resync_grace,
                             frozenset(plugin.model.hosts_at_load))
            hub.spawn_after(plugin.resync_grace, self.kick)
        self.kick()

    def _still_settling(self, chassis):
        """After a restart, hypervisors reconnect one by one (OVSDB backs off for seconds).
        Until every chassis that had active ports is back, a switch's desired state misses
        the ports bound elsewhere: pruning then would cut working traffic. So, like
        Neutron's OVS agent, stale flows are only removed once the view is complete, or the
        grace period (``resync_grace``) has run out."""
        if self.settling is None:
            return False
        deadline, awaited = self.settling
        ready = {c.system_id for c in chassis if c.datapath_id in self.switches}
        if awaited <= ready or time.monotonic() >= deadline:
            missing = sorted(awaited - ready)
            LOG.info("resync complete%s: removing stale flows",
                     f" without {', '.join(missing)} (grace ran out)" if missing else "")
            self.settling = None
            return False
        return True

    def kick(self):
        self.wake.set()

    def changed(self, change):
        """Note what a committed API change touches, and wake the worker."""
        item = change.subject
        if change.resource in ("port", "interface"):
            self.dirty_ports.add(item.id)
        elif change.resource == "network":
            self.dirty_networks.add(item.id)
            if getattr(change.before, "qos_policy_id", None) != \
                    getattr(change.after, "qos_policy_id", None):
                self.dirty_ports.update(p.id for p in self.plugin.model.ports_on_network(item.id))
        elif change.resource == "qos_policy":
            self.dirty_ports.update(self.plugin.model.ports_with_policy(item.id))
        elif change.resource == "subnet":
            self.dirty_networks.add(item.network_id)
        self.kick()

    # -- events --------------------------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _switch_connected(self, ev):
        dp = ev.msg.datapath
        LOG.info("switch %016x connected", dp.id)
        self.switches[dp.id] = Switch(dp)
        self.kick()

    @set_ev_cls(ofp_event.EventOFPStateChange, DEAD_DISPATCHER)
    def _switch_gone(self, ev):
        switch = self.switches.get(ev.datapath.id)
        if switch is not None and switch.dp is ev.datapath:
            LOG.info("switch %016x disconnected", ev.datapath.id)
            del self.switches[ev.datapath.id]
            self.kick()       # its ports are reported DOWN

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def _switch_error(self, ev):
        msg = ev.msg
        LOG.error("switch %016x rejected a message: type=%s code=%s", msg.datapath.id,
                  msg.type, msg.code)
        switch = self.switches.get(msg.datapath.id)
        if switch is not None:
            switch.synced = False  # re-read what it really holds on the next pass
            self.kick()

    @set_ev_cls(EventChassisChanged)
    def _chassis_changed(self, ev):
        self.dirty_chassis.add(ev.chassis.system_id)
        self.kick()

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg = ev.msg
        port = self._port_at(msg.datapath.id, msg.match.get("in_port"))
        if port is not None:
            answer_dhcp(msg, self.plugin.model, port)

    # -- the worker ----------------------------------------------------------------------------
    def _worker(self):
        while True:
            self.wake.wait()
            self.wake.clear()
            if not self.is_active:
                return
            self.run_pass()

    def run_pass(self):
        """One pass of the worker; after one that fails, the next is a full resync."""
        try:
            self.reconcile()
        except Exception:
            LOG.exception("reconcile pass failed; full resync on the next change")
            self.start_over()
        self.passes += 1

    def start_over(self):
        """Forget the desired state and what switches hold: the next pass recomputes everything
        from the model and resyncs every switch against what it reads back (never a wipe)."""
        self.desired = DesiredState()
        for switch in self.switches.values():
            switch.synced = False

    def connected_chassis(self):
        return [c for c in self.monitor.chassis.values() if getattr(c, "connected", True)]

    def reconcile(self):
        """One pass, with Python's cyclic garbage collector paused: a cold start allocates
        millions of objects, and every full collection would walk all of them again (a
        third of the pass). After a pass that changed much, what survived is frozen
        (``gc.freeze``), so later collections -- during a port change -- skip it: with
        millions of long-lived flows a full collection takes seconds."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._reconcile()
        finally:
            if enabled:
                gc.enable()
            if self.desired.counters.changes >= FREEZE_AFTER_CHANGES:
                gc.freeze()

    def _reconcile(self):
        if self.plugin is None:
            return
        model = self.plugin.model
        chassis = {c.system_id: c for c in self.connected_chassis()}
        ports, self.dirty_ports = self.dirty_ports, set()
        networks, self.dirty_networks = self.dirty_networks, set()
        changed_chassis, self.dirty_chassis = self.dirty_chassis, set()
        deltas = self.desired.update(model, chassis.values(), ports, networks, changed_chassis)
        was_settling = self.settling is not None
        settling = self._still_settling(chassis.values())
        if was_settling and not settling:      # tunnels kept while settling may go now
            self.desired.tunnels_dirty |= set(chassis)
        self._request_tunnels(chassis, settling)
        synced = self._program(chassis, deltas, settling)
        self._report_status(model, chassis, synced)

    def _program(self, chassis, deltas, settling):
        """Send each switch its delta, or a full resync if it is not known to be in sync
        (unpruned while ``settling``). Returns the chassis ids whose switch now holds its
        desired state."""
        synced = set()
        in_view = {ch.datapath_id for ch in chassis.values()}
        for dpid, switch in self.switches.items():
            if dpid not in in_view:
                # Its chassis is out of view (OVSDB lost): its deltas are not sent, so what it
                # holds is no longer what we last sent. Read it back when the chassis returns.
                switch.synced = False
        for ch in chassis.values():
            switch = self.switch_of(ch)
            if switch is None:
                continue
            if not switch.synced or (switch.unpruned and not settling):
                delta = ofmsg.changes(read_installed(self._request, switch.dp),
                                      self.desired.state(ch.system_id), prune=not settling)
                switch.unpruned = settling
            else:
                delta = deltas.get(ch.system_id)
            switch.synced = True      # before sending: an error reply while we wait undoes it
            if delta:
                for msg in ofmsg.messages(switch.dp, delta):
                    switch.dp.send_msg(msg)
                parser = switch.dp.ofproto_parser
                self._request(switch.dp, parser.OFPBarrierRequest(switch.dp),
                              parser.OFPBarrierReply)
                self.sent += len(delta)
                LOG.debug("switch %016x: %d changes", switch.dp.id, len(delta))
            synced.add(ch.system_id)
        return synced

    def switch_of(self, ch):
        """The OpenFlow switch of chassis ``ch``: the one with its datapath id and, with TLS,
        a certificate for its system-id (another hypervisor's certificate claiming this
        datapath id gets nothing: logged once per connection). None if there is none."""
        switch = self.switches.get(ch.datapath_id)
        if switch is None or switch.common_name in (None, ch.system_id):
            return switch
        if not switch.impostor_logged:
            switch.impostor_logged = True
            LOG.warning("switch %016x refused: it is chassis %s's datapath but its certificate "
                        "is for %s", ch.datapath_id, ch.system_id, switch.common_name)
        return None

    def _request(self, dp, msg, reply_cls, multi=False):
        """Send a request and wait for its reply (a list of replies if ``multi``)."""
        return ofctl.send_msg(self, msg, reply_cls=reply_cls, reply_multi=multi)

    def _request_tunnels(self, chassis, settling):
        """Ask OVSDB for the tunnel ports now needed where they differ from what the chassis
        reports (so a hypervisor whose database was reset gets them back). While settling
        after a restart, tunnels to peers not back yet are kept, not removed."""
        dirty, self.desired.tunnels_dirty = self.desired.tunnels_dirty, set()
        for system_id in sorted(dirty):
            ch = chassis.get(system_id)
            if ch is None or not ch.tunnel_ip:
                continue
            have = {name: iface.remote_ip for name, iface in ch.tunnels.items()}
            wanted = self.desired.wanted_tunnels(system_id)
            if settling:
                wanted = {**have, **wanted}
            if have != wanted or any(i.local_ip != ch.tunnel_ip for i in ch.tunnels.values()):
                try:
                    self.monitor.ensure_tunnels(system_id, wanted)
                except ChassisError as exc:
                    LOG.warning("tunnels of %s not set up yet: %s", system_id, exc)
                    self.desired.tunnels_dirty.add(system_id)

    def meter_stats(self, chassis_id, meter_ids):
        """{meter id: OFPMeterStats} of ``meter_ids`` on ``chassis_id``'s switch (a round trip
        to the switch; empty if it is not connected)."""
        ch = self.monitor.chassis.get(chassis_id)
        switch = self.switch_of(ch) if ch is not None else None
        return read_meter_stats(self._request, switch.dp, meter_ids) if switch else {}

    def where(self, port_id):
        """(chassis id, ofport) where a port is bound, or None."""
        return self.desired.bound.get(port_id)

    def _report_status(self, model, chassis, synced):
        """ACTIVE: bound and the flows of its switch are installed; DOWN otherwise, and DOWN
        with the reason in ``binding_error`` (``binding:vif_type`` binding_failed, as Neutron
        shows a port its host cannot serve) while its chassis is misconfigured so that
        traffic would be lost (``chassis_problems``). Only for ports whose binding changed,
        whose switch got in or out of sync or whose chassis' problems changed."""
        ports = set(self.desired.ports_changed)
        for system_id in synced ^ self.synced:
            ports.update(self.desired.bound_on.get(system_id, ()))
        self.synced = synced
        broken = {}
        for system_id in self._check_chassis():
            ports.update(self.desired.bound_on.get(system_id, ()))
        for system_id, found in self.problems.items():
            reasons = [p.message for p in found if p.ports_down]
            if reasons:
                broken[system_id] = f"hypervisor {system_id}: " + "; ".join(reasons)
        for port_id in ports:
            port = model.ports.get(port_id)
            if port is None:
                self.reported.pop(port_id, None)
                continue
            where = self.desired.bound.get(port_id)
            if where is not None and where[0] in broken:
                status = ("DOWN", where[0], None, None, broken[where[0]][:255])
            elif where is not None and where[0] in synced and port.admin_up:
                host, ofport = where
                status = ("ACTIVE", host, f"{chassis[host].datapath_id:016x}", ofport)
            else:
                status = ("DOWN", "", None, None)
            if self.reported.get(port_id) != status:
                self.plugin.core.ports.report_status(port_id, *status)
                self.reported[port_id] = status

    def _check_chassis(self):
        """Update ``self.problems`` for every chassis ever seen and log each change once
        (a warning while something is wrong, info when it is fixed). Returns the ids of
        the chassis whose problems changed."""
        changed = []
        for ch in self.monitor.chassis.values():
            found = chassis_problems(ch, self.switch_of(ch) is not None)
            if found == self.problems.get(ch.system_id, ()):
                continue
            changed.append(ch.system_id)
            self.problems[ch.system_id] = found
            if found:
                LOG.warning("hypervisor %s is misconfigured: %s", ch.system_id,
                            "; ".join(p.message for p in found))
            else:
                LOG.info("hypervisor %s: no problems any more", ch.system_id)
        return changed

    def describe(self):
        """The overlay as the admin API shows it: hypervisors (chassis) with their bridge's
        interfaces, the tunnels between them, and where bound ports sit."""
        bound_at = {where: pid for pid, where in self.desired.bound.items()}
        switches = [{"chassis": ch.system_id, "connected": self.switch_of(ch) is not None,
                     "datapath_id": f"{ch.datapath_id:016x}" if ch.datapath_id else None,
                     "tunnel_ip": ch.tunnel_ip,
                     "problems": [p.message for p in chassis_problems(
                         ch, self.switch_of(ch) is not None)],
                     "ports": [{"number": i.ofport, "name": i.name,
                                "role": ("tunnel" if i.type == "vxlan" else "host"
                                         if (ch.system_id, i.ofport) in bound_at else "unused"),
                                "port_id": bound_at.get((ch.system_id, i.ofport))}
                               for i in sorted(ch.interfaces.values(), key=lambda i: i.name)]}
                    for ch in sorted(self.monitor.chassis.values(), key=lambda c: c.system_id)]
        tunnels = [{"from": a, "to": b, "port": port}
                   for a, peers in sorted(self.desired.tunnels.items())
                   for b, port in sorted(peers.items())]
        model = self.plugin.model
        ports = [{"port_id": pid, "network_id": model.ports[pid].network_id,
                  "mac_address": model.ports[pid].mac, "chassis": host, "port_number": no}
                 for pid, (host, no) in sorted(self.desired.bound.items())
                 if pid in model.ports]
        return {"mode": "overlay", "switches": switches, "links": [], "tunnels": tunnels,
                "ports": ports}

    # -- lookups --------------------------------------------------------------------------------
    def _port_at(self, dpid, ofport):
        chassis_id = next((c.system_id for c in self.connected_chassis()
                           if c.datapath_id == dpid), None)
        port_id = self.desired.port_at(chassis_id, ofport)
        return self.plugin.model.ports.get(port_id) if port_id is not None else None


def read_installed(request, dp):
    """Flows (by cookie) and groups a switch holds: read back, never wiped. ``request(dp,
    msg, reply_cls, multi)`` sends a request and returns its replies."""
    parser, ofp = dp.ofproto_parser, dp.ofproto
    installed = ofmsg.Installed()
    req = parser.OFPFlowStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY,
                                     0, 0, parser.OFPMatch())
    for reply in request(dp, req, parser.OFPFlowStatsReply, multi=True) or []:
        for stat in reply.body:
            if stat.cookie & pl.COOKIE_PREFIX_MASK != pl.COOKIE_PREFIX:
                LOG.warning("switch %016x: removing a flow qnet did not install: %s",
                            dp.id, stat.match)
            installed.flows[stat.cookie] = (stat.table_id, stat.priority, stat.match)
    req = parser.OFPGroupDescStatsRequest(dp, 0)
    for reply in request(dp, req, parser.OFPGroupDescStatsReply, multi=True) or []:
        for stat in reply.body:
            installed.groups[stat.group_id] = None
    req = parser.OFPMeterConfigStatsRequest(dp, 0, ofp.OFPM_ALL)
    for reply in request(dp, req, parser.OFPMeterConfigStatsReply, multi=True) or []:
        for stat in reply.body:
            installed.meters[stat.meter_id] = ofmsg.meter_from_config(dp, stat)
    LOG.info("switch %016x holds %d flows, %d groups, %d meters", dp.id,
             len(installed.flows), len(installed.groups), len(installed.meters))
    return installed


def read_meter_stats(request, dp, meter_ids):
    """{meter id: OFPMeterStats} of ``meter_ids`` on ``dp`` (a round trip to the switch)."""
    parser = dp.ofproto_parser
    out = {}
    for meter_id in meter_ids:
        req = parser.OFPMeterStatsRequest(dp, 0, meter_id)
        for reply in request(dp, req, parser.OFPMeterStatsReply, multi=True) or []:
            out.update((stat.meter_id, stat) for stat in reply.body)
    return out


def answer_dhcp(msg, model, port):
    """Answer a DHCP packet-in from ``port`` out of the port it came in on."""
    lease = dhcp_lease(model, port)
    reply = dhcp.handle_dhcp(msg.data, lambda mac: lease if mac == port.mac else None) \
        if lease else None
    if reply is not None:
        dp = msg.datapath
        parser, ofp = dp.ofproto_parser, dp.ofproto
        dp.send_msg(parser.OFPPacketOut(
            dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
            actions=[parser.OFPActionOutput(msg.match["in_port"])], data=reply))


def dhcp_lease(model, port):
    """The DHCP answer for ``port``: its first IPv4 address and its subnet's options."""
    sub = model.dhcp_subnet(port)
    if sub is None:
        return None
    net = netaddr.IPNetwork(sub.cidr)
    server = sub.gateway or str(netaddr.IPAddress(net.first + 1))
    return dhcp.Lease(mac=port.mac, ip=port.ipv4[0], prefixlen=net.prefixlen,
                      gateway=sub.gateway, dns=sub.dns,
                      mtu=model.networks[port.network_id].mtu, host_routes=sub.routes,
                      server_ip=server, server_mac=DHCP_SERVER_MAC)
