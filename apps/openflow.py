"""The ``openflow`` back-end: keeps every integration bridge in the state the model asks for.

Changes from the API (plug-in hooks) and from the switches (OpenFlow connections, OVSDB chassis
reports) only mark the world dirty and wake one worker; the worker recomputes placement and each
switch's desired state (pure functions in apps/flows.py), sends the difference with a barrier,
asks OVSDB for the tunnels the placement needs, and reports port status back to the core. Bursts
of changes coalesce into one pass, and API calls never wait for switches.

On (re)connect a switch's flows are read back (flow stats, by cookie) before anything is sent,
so a restarted controller changes nothing on a switch that is already right: traffic keeps
flowing (switches run with fail_mode=secure).
"""
import logging
import time

import netaddr
from os_ken.app.ofctl import api as ofctl
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import (CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER,
                                       set_ev_cls)
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from apps import dhcp, flows, ofmsg
from apps import pipeline as pl
from apps.chassis import ChassisError, ChassisMonitor, EventChassisChanged
from apps.model import LogicalModel, Placement, place
from controller import errors
from controller.context import Context
from controller.plugin import Plugin
from tunnel.mesh import wanted_tunnels

LOG = logging.getLogger(__name__)
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

    def configure(self, config):
        self.resync_grace = config.resync_grace

    def start(self, core):
        super().start(core)
        self.model = LogicalModel.load(core, Context.admin())

    def osken_args(self, config):
        host, port = config.split(config.ovsdb_listen)
        return ["--ovsdb-address", host, "--ovsdb-port", str(port)]

    def bind_apps(self, apps):
        self.app = next(a for a in apps.values() if isinstance(a, QnetController))
        self.app.attach(self)

    def topology(self):
        if self.app is None:
            raise errors.NotFound("The OpenFlow controller is not running.")
        return self.app.describe()

    def notify(self, change):
        self.model.apply(change)
        if self.app is not None:
            self.app.kick()


class Switch:
    """One connected integration bridge and what qnet believes it holds (None: not read yet)."""

    def __init__(self, dp):
        self.dp = dp
        self.installed = None


class Reconciling:
    """What both controllers (overlay, fabric) share: events only mark the world dirty and
    kick one worker, which runs ``reconcile()``; a rejected message makes the next pass read
    the switch back. Mixed into an OSKenApp that keeps ``self.switches`` (dpid -> Switch)."""

    def init_worker(self):
        self.plugin = None
        self.wake = hub.Event()
        self.passes = 0               # reconcile passes run (for tests and benchmarks)
        self.reported = {}            # port id -> status tuple last written to the core

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
        self.kick()

    def kick(self):
        self.wake.set()

    def _worker(self):
        while True:
            self.wake.wait()
            self.wake.clear()
            if not self.is_active:
                return
            try:
                self.reconcile()
            except Exception:
                LOG.exception("reconcile pass failed; retrying on the next change")
            self.passes += 1

    def report_status(self, model, bound, synced, datapath_of):
        """ACTIVE: bound (``bound[port id] = (host, ofport)``) and the flows of its switch
        (``datapath_of(host)``) are installed; DOWN otherwise."""
        for port in list(model.ports.values()):
            where = bound.get(port.id)
            if where is not None and where[0] in synced and port.admin_up:
                host, ofport = where
                status = ("ACTIVE", str(host) if isinstance(host, str) else f"{host:016x}",
                          f"{datapath_of(host):016x}", ofport)
            else:
                status = ("DOWN", "", None, None)
            if self.reported.get(port.id) != status:
                self.plugin.core.ports.report_status(port.id, *status)
                self.reported[port.id] = status

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def _switch_error(self, ev):
        msg = ev.msg
        LOG.error("switch %016x rejected a message: type=%s code=%s", msg.datapath.id,
                  msg.type, msg.code)
        switch = self.switches.get(msg.datapath.id)
        if switch is not None:
            switch.installed = None  # re-read what it really holds on the next pass
            self.kick()


class QnetController(Reconciling, app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"chassis_monitor": ChassisMonitor}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.monitor = kwargs["chassis_monitor"]
        self.init_worker()
        self.switches = {}            # dpid -> Switch
        self.placement = Placement({}, {})
        self.settling = None          # while the view is partial: (deadline, chassis awaited)

    def attach(self, plugin):
        if plugin.resync_grace > 0 and plugin.model.hosts_at_load:
            self.settling = (time.monotonic() + plugin.resync_grace,
                             frozenset(plugin.model.hosts_at_load))
            hub.spawn_after(plugin.resync_grace, self.kick)
        super().attach(plugin)

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

    @set_ev_cls(EventChassisChanged)
    def _chassis_changed(self, ev):
        self.kick()

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg = ev.msg
        port = self._port_at(msg.datapath.id, msg.match.get("in_port"))
        if port is not None:
            answer_dhcp(msg, self.plugin.model, port)

    def connected_chassis(self):
        return [c for c in self.monitor.chassis.values() if getattr(c, "connected", True)]

    def reconcile(self):
        if self.plugin is None:
            return
        model = self.plugin.model
        chassis = self.connected_chassis()
        self.placement = place(model, chassis)
        self._request_tunnels(model, chassis)
        synced = set()
        settling = self._still_settling(chassis)
        for ch in chassis:
            switch = self.switches.get(ch.datapath_id)
            if switch is None:
                continue
            push(self, switch, flows.compile_chassis(ch.system_id, model, self.placement),
                 prune=not settling)
            synced.add(ch.system_id)
        datapaths = {c.system_id: c.datapath_id for c in chassis}
        self.report_status(model, self.placement.bound, synced, datapaths.get)

    def _request_tunnels(self, model, chassis):
        """Ask OVSDB for the tunnel ports the placement needs, where they differ from what
        the chassis reports (so a hypervisor whose database was reset gets them back)."""
        tunnel_ips = {c.system_id: c.tunnel_ip for c in chassis if c.tunnel_ip}
        wanted = wanted_tunnels(model, self.placement.bound, tunnel_ips)
        for ch in chassis:
            have = {name: iface.remote_ip for name, iface in ch.tunnels.items()}
            if ch.system_id in wanted and have != wanted[ch.system_id]:
                try:
                    self.monitor.ensure_tunnels(ch.system_id, wanted[ch.system_id])
                except ChassisError as exc:
                    LOG.warning("tunnels of %s not set up yet: %s", ch.system_id, exc)

    def describe(self):
        """The overlay as the admin API shows it: hypervisors (chassis) with their bridge's
        interfaces, the tunnels between them, and where bound ports sit."""
        bound_at = {where: pid for pid, where in self.placement.bound.items()}
        switches = [{"chassis": ch.system_id, "connected": ch.datapath_id in self.switches,
                     "datapath_id": f"{ch.datapath_id:016x}" if ch.datapath_id else None,
                     "tunnel_ip": ch.tunnel_ip,
                     "ports": [{"number": i.ofport, "name": i.name,
                                "role": ("tunnel" if i.type == "vxlan" else "host"
                                         if (ch.system_id, i.ofport) in bound_at else "unused"),
                                "port_id": bound_at.get((ch.system_id, i.ofport))}
                               for i in sorted(ch.interfaces.values(), key=lambda i: i.name)]}
                    for ch in sorted(self.connected_chassis(), key=lambda c: c.system_id)]
        tunnels = [{"from": a, "to": b, "port": port}
                   for a, peers in sorted(self.placement.tunnels.items())
                   for b, port in sorted(peers.items())]
        model = self.plugin.model
        ports = [{"port_id": pid, "network_id": model.ports[pid].network_id,
                  "mac_address": model.ports[pid].mac, "chassis": host, "port_number": no}
                 for pid, (host, no) in sorted(self.placement.bound.items())
                 if pid in model.ports]
        return {"mode": "overlay", "switches": switches, "links": [], "tunnels": tunnels,
                "ports": ports}

    # -- lookups --------------------------------------------------------------------------------
    def _port_at(self, dpid, ofport):
        chassis_id = next((c.system_id for c in self.connected_chassis()
                           if c.datapath_id == dpid), None)
        for port_id, where in self.placement.bound.items():
            if where == (chassis_id, ofport):
                return self.plugin.model.ports.get(port_id)
        return None


def push(app, switch, desired, prune=True):
    """Take ``switch`` to ``desired`` (a flows.SwitchState): read what it holds if unknown,
    send the difference (without removals unless ``prune``), wait for the barrier. Returns
    the number of messages sent."""
    if switch.installed is None:
        switch.installed = read_installed(app, switch.dp)
    msgs = ofmsg.diff(switch.dp, switch.installed, desired, prune=prune)
    if msgs:
        for msg in msgs[:-1]:
            switch.dp.send_msg(msg)
        ofctl.send_msg(app, msgs[-1], reply_cls=switch.dp.ofproto_parser.OFPBarrierReply)
        LOG.debug("switch %016x: %d messages", switch.dp.id, len(msgs))
    switch.installed = ofmsg.Installed.from_state(
        desired, kept=None if prune else switch.installed)
    return len(msgs)


def read_installed(app, dp):
    """Flows (by cookie) and groups a switch holds: read back, never wiped."""
    parser, ofp = dp.ofproto_parser, dp.ofproto
    installed = ofmsg.Installed()
    req = parser.OFPFlowStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY,
                                     0, 0, parser.OFPMatch())
    for reply in ofctl.send_msg(app, req, reply_cls=parser.OFPFlowStatsReply,
                                reply_multi=True) or []:
        for stat in reply.body:
            if stat.cookie & pl.COOKIE_PREFIX_MASK != pl.COOKIE_PREFIX:
                LOG.warning("switch %016x: removing a flow qnet did not install: %s",
                            dp.id, stat.match)
            installed.flows[stat.cookie] = (stat.table_id, stat.priority, stat.match)
    req = parser.OFPGroupDescStatsRequest(dp, 0)
    for reply in ofctl.send_msg(app, req, reply_cls=parser.OFPGroupDescStatsReply,
                                reply_multi=True) or []:
        for stat in reply.body:
            installed.groups[stat.group_id] = None
    LOG.info("switch %016x holds %d flows, %d groups", dp.id, len(installed.flows),
             len(installed.groups))
    return installed


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
    net = netaddr.IPNetwork(sub["cidr"])
    server = sub["gateway_ip"] or str(netaddr.IPAddress(net.first + 1))
    return dhcp.Lease(mac=port.mac, ip=port.ipv4[0], prefixlen=net.prefixlen,
                      gateway=sub["gateway_ip"], dns=tuple(sub["dns_nameservers"]),
                      mtu=model.networks[port.network_id].mtu,
                      host_routes=tuple((r["destination"], r["nexthop"])
                                        for r in sub["host_routes"]),
                      server_ip=server, server_mac=DHCP_SERVER_MAC)
