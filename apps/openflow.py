"""The ``openflow`` back-end in overlay mode: every hypervisor's integration bridge, with VXLAN
tunnels between them, kept in the state the model asks for.

The switch sessions, the worker, read-back, deltas, barriers, errors, DHCP and port status are
the shared core's (apps/reconcile.py). What overlay mode adds is its placement: ports bind where
a hypervisor's OVSDB reports an interface carrying their attachment as ``iface-id`` (chassis
reports, apps/chassis.py), and the tunnels between hypervisors that share a network. Its desired
state is apps/incremental.py's ``DesiredState``: a change recomputes only the pieces it reaches,
on only the switches hosting the network; after each pass the tunnel ports now needed are asked
of OVSDB.

After a restart, stale flows are only pruned once every hypervisor that had active ports is back
(or ``resync_grace`` ran out): see ``_still_settling``.

Bandwidth limits are meters (apps/meters.py) in a port's local piece: a QoS policy change marks
the ports it applies to as changed, and their meters are modified in place. Their counters are
read on demand for the API (``port_stats``).
"""
import logging
import ssl
import time

from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, set_ev_cls
from os_ken.lib import hub

from apps import icmp_errors, meters, neighbors, trace
from apps import pipeline as pl
from apps.chassis import ChassisError, ChassisMonitor, EventChassisChanged
from apps.chassis_model import chassis_problems
from apps.incremental import DesiredState
from apps.model import LogicalModel
from apps.ovsdb_manager import common_name
from apps.reconcile import Reconciler, read_installed
from controller import errors
from controller.plugin import Plugin

LOG = logging.getLogger(__name__)


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
        if change.action == "status":
            return        # our own report on a port (apps/reconcile.py): nothing to redo
        self.model.apply(change)
        if self.app is not None:
            self.app.changed(change)

    def committed(self):
        if self.app is not None:
            self.app.run_soon()

    def trace(self, query, describe, live=False):
        """apps/trace.py on the controller's desired state; ``live`` reads back the flows of
        every switch the packet crosses."""
        if self.app is None:
            raise errors.TraceNotAvailable(plugin=self.name)
        return trace.Tracer(self.app.desired, self.model, describe,
                            self.app.held_cookies if live else None).run(query)

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


def certificate_name(dp):
    """The CN of a TLS switch's certificate (None without TLS)."""
    sock = getattr(dp, "socket", None)
    return common_name(sock) if isinstance(sock, ssl.SSLSocket) else None


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


class QnetController(Reconciler):
    """Overlay mode on the shared core: switches are keyed by their chassis' system-id."""

    _CONTEXTS = {"chassis_monitor": ChassisMonitor}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.monitor = kwargs["chassis_monitor"]
        self.desired = DesiredState()
        self.dirty_chassis = set()
        self.settling = None          # while the view is partial: (deadline, chassis awaited)
        self.pruning = True           # the view is complete: stale flows may go
        self.problems = {}            # chassis id -> its chassis_problems as last logged
        self.impostors = set()        # (dpid, certificate CN) refusals already logged
        self.dirty_neighbors = set()  # external networks whose learned neighbours changed

    def new_desired_state(self):
        return DesiredState()

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
        self.switch_up(ev.msg.datapath)

    @set_ev_cls(EventChassisChanged)
    def _chassis_changed(self, ev):
        self.dirty_chassis.add(ev.chassis.system_id)
        self.kick()

    def packet_in(self, msg):
        """Routing's packet-ins: a packet whose TTL runs out on a router is answered with
        ICMP time exceeded, one with no route with net unreachable (apps/icmp_errors.py); ARP from an external network's physical
        port teaches its sender's MAC, and a packet whose next hop there is unknown makes the
        controller ask for it out of that port (apps/neighbors.py). A neighbour solicitation
        for a router's IPv6 address is answered with an advertisement."""
        if msg.table_id == pl.TABLES["ip_routing"].number:
            return self._time_exceeded(msg)
        if msg.table_id == pl.TABLES["arp_responder"].number and self._advertise(msg):
            return True
        key = self.key_of(msg.datapath.id)
        physical = self.desired.mapped.get(key, {}) if key is not None else {}
        if not physical:
            return False
        physnet = next((n for n, ofport in physical.items()
                        if ofport == msg.match.get("in_port")), None)
        if physnet is not None:
            sender = neighbors.arp_sender(msg.data)
            for net_id in self.desired.external_networks(physnet) if sender else ():
                if self.desired.routing.learn(net_id, sender[2], sender[1]):
                    self.dirty_neighbors.add(net_id)
                    self.kick()
            return True
        net_id = self.desired.external_network_of(msg.match.get("metadata", 0) & pl.VNI_MASK)
        ask = neighbors.unresolved(msg.data, msg.match) if net_id else None
        ofport = physical.get(self.desired.networks[net_id].physical_network) if ask else None
        if ofport is None:
            return False
        dp = msg.datapath
        parser, ofp = dp.ofproto_parser, dp.ofproto
        dp.send_msg(parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER,
                                        in_port=ofp.OFPP_CONTROLLER,
                                        actions=[parser.OFPActionOutput(ofport)],
                                        data=neighbors.arp_request(*ask)))
        return True

    def _time_exceeded(self, msg):
        """Answer a packet ``ip_routing`` sent up for its TTL or for want of a route, from the router's address on
        the network it came from, out of the port it came in on."""
        leg = self.desired.router_leg(msg.match.get(pl.ROUTER_REG),
                                      msg.match.get("metadata", 0) & pl.VNI_MASK,
                                      icmp_errors.ip_version(msg.data))
        self._send_back(msg, icmp_errors.answer(msg.data, *leg) if leg else None)
        return True

    def _advertise(self, msg):
        """Answer a neighbour solicitation for a router's IPv6 address; False if ``msg`` is
        none (the external network's ARP, below)."""
        target = icmp_errors.solicited_target(msg.data)
        if target is None:
            return False
        mac = self.desired.router_mac(msg.match.get("metadata", 0) & pl.VNI_MASK, target)
        self._send_back(msg, icmp_errors.neighbor_advert(msg.data, mac) if mac else None)
        return True

    @staticmethod
    def _send_back(msg, reply):
        """``reply`` (bytes, or None: nothing) out of the port ``msg`` came in on."""
        if reply is None:
            return
        dp = msg.datapath
        parser, ofp = dp.ofproto_parser, dp.ofproto
        dp.send_msg(parser.OFPPacketOut(
            dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
            actions=[parser.OFPActionOutput(msg.match["in_port"])], data=reply))

    def _reconcile(self):
        """A pass, then what routing asks of switches besides flows (after them, so a
        flushed zone is not refilled by packets the old flows still NAT): gratuitous ARPs
        where a floating IP or gateway now lives, a new gateway's question for its next
        hop, and the conntrack zones of deleted routers flushed."""
        super()._reconcile()
        for chassis_id, net_id, mac, ip, target in self.desired.announce:
            switch = self.switches.get(self.dpid_of(chassis_id))
            net = self.desired.networks.get(net_id)
            ofport = self.desired.mapped.get(chassis_id, {}).get(
                net.physical_network) if net else None
            if switch is not None and ofport is not None:
                dp = switch.dp
                parser, ofp = dp.ofproto_parser, dp.ofproto
                dp.send_msg(parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER,
                                                in_port=ofp.OFPP_CONTROLLER,
                                                actions=[parser.OFPActionOutput(ofport)],
                                                data=neighbors.arp_request(mac, ip,
                                                                           target or ip)))
        for chassis_id, zones in self.desired.flush.items():
            switch = self.switches.get(self.dpid_of(chassis_id))
            for zone in sorted(zones) if switch is not None else ():
                switch.dp.send_msg(neighbors.flush_zone(switch.dp, zone))

    # -- the pass ------------------------------------------------------------------------------
    def connected_chassis(self):
        return [c for c in self.monitor.chassis.values() if getattr(c, "connected", True)]

    def plan(self, model, ports, networks):
        """Fold in the changes and the chassis reports; ask OVSDB for the tunnels now needed.
        Switches in view: those of the connected chassis."""
        chassis = {c.system_id: c for c in self.connected_chassis()}
        self.problems_changed |= self._check_chassis()
        changed_chassis, self.dirty_chassis = self.dirty_chassis, set()
        routers, self.dirty_routers = self.dirty_routers, set()
        fips, self.dirty_fips = self.dirty_fips, set()
        neighbors, self.dirty_neighbors = self.dirty_neighbors, set()
        deltas = self.desired.update(model, chassis.values(), ports, networks, changed_chassis,
                                     routers, fips, neighbors)
        was_settling = self.settling is not None
        settling = self._still_settling(chassis.values())
        if was_settling and not settling:      # tunnels kept while settling may go now
            self.desired.tunnels_dirty |= set(chassis)
        self.pruning = not settling
        if self.is_master():          # only the master writes tunnel ports (OVSDB)
            self._request_tunnels(chassis, settling)
        return {c: ch.datapath_id for c, ch in chassis.items()
                if self.switch_of(ch) is not None or ch.datapath_id not in self.switches}, deltas

    def may_prune(self, switch):
        return self.pruning

    def mastership_changed(self):
        """Tunnel ports too may differ from what a master last asked for: check them all."""
        self.desired.tunnels_dirty |= set(self.monitor.chassis)
        super().mastership_changed()

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

    # -- misconfigured hypervisors ----------------------------------------------------------------
    def switch_of(self, ch):
        """The OpenFlow switch of chassis ``ch``: the one with its datapath id and, with TLS,
        a certificate for its system-id (another hypervisor's certificate claiming this
        datapath id gets nothing; logged once per connection). None if there is none."""
        switch = self.switches.get(ch.datapath_id)
        name = certificate_name(switch.dp) if switch is not None else None
        if name in (None, ch.system_id):
            return switch
        if (id(switch), name) not in self.impostors:
            self.impostors.add((id(switch), name))
            LOG.warning("switch %016x refused: it is chassis %s's datapath but its certificate "
                        "is for %s", ch.datapath_id, ch.system_id, name)
        return None

    def _check_chassis(self):
        """Update ``self.problems`` for every chassis ever seen and log each change once (a
        warning while something is wrong, info once it is fixed). Returns the ids of the
        chassis whose problems changed."""
        changed = set()
        for ch in self.monitor.chassis.values():
            found = chassis_problems(ch, self.switch_of(ch) is not None)
            if found == self.problems.get(ch.system_id, ()):
                continue
            changed.add(ch.system_id)
            self.problems[ch.system_id] = found
            if found:
                LOG.warning("hypervisor %s is misconfigured: %s", ch.system_id,
                            "; ".join(p.message for p in found))
            else:
                LOG.info("hypervisor %s: no problems any more", ch.system_id)
        return changed

    def host_problem(self, key):
        """Ports on a chassis whose problems lose traffic are DOWN with binding:vif_type
        binding_failed and the reason in binding_error, as Neutron shows a port its host
        cannot serve, instead of ACTIVE while traffic is lost (docs/hypervisors.md)."""
        reasons = [p.message for p in self.problems.get(key, ()) if p.ports_down]
        return f"hypervisor {key}: " + "; ".join(reasons) if reasons else None

    # -- lookups --------------------------------------------------------------------------------
    def dpid_of(self, host):
        ch = self.monitor.chassis.get(host)
        return ch.datapath_id if ch is not None else None

    def held_cookies(self, host):
        """The cookies of the flows ``host``'s switch holds now (read back), or None when
        it is not connected."""
        switch = self.switches.get(self.dpid_of(host))
        if switch is None:
            return None
        return set(read_installed(self._request, switch.dp).flows)

    def key_of(self, dpid):
        return next((c.system_id for c in self.connected_chassis() if c.datapath_id == dpid),
                    None)

    def describe(self):
        """The overlay as the admin API shows it: hypervisors (chassis) with their bridge's
        interfaces, the tunnels between them, and where bound ports sit."""
        bound_at = {where: pid for pid, where in self.desired.bound.items()}
        switches = [{"chassis": ch.system_id, "connected": self.switch_of(ch) is not None,
                     "datapath_id": f"{ch.datapath_id:016x}" if ch.datapath_id else None,
                     "tunnel_ip": ch.tunnel_ip,
                     "flows": len(self.desired.switches[ch.system_id].flows)
                     if ch.system_id in self.desired.switches else 0,
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
