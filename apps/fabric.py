"""Fabric mode (``qnet serve --mode fabric``): a multi-switch OpenFlow fabric without tunnels.

The plug-in half is the overlay's (it mirrors the logical model); switch sessions, read-back,
deltas, barriers, DHCP and port status are the shared core's (apps/reconcile.py). What fabric
mode adds is its placement: it discovers the switches' links with its own LLDP (packet-out on
every port no binding claims, packet-in on the receiver), keeps them in a
topology.graph.FabricGraph, binds ports by their binding:profile, and keeps the routes of each
network (topology.graph.RouteTable).
Its desired state (apps/fabric_state.py) is incremental: a port change recomputes the pieces
on its network's paths only, a link event only the networks whose routes changed.

Links go down at once on port status (carrier lost, port disabled or deleted) and after
LINK_TIMEOUT seconds without LLDP; they come back with the next LLDP round, and then every
network is recomputed, so paths rebalance onto the restored link.

Hosts must not be able to make or move links (a host port taken for a link would carry other
networks' traffic): LLDP frames are signed with a per-run key (topology/lldp.py), none is sent
out of or accepted from a port a binding claims, and a link counts only once both of its ends
heard each other (topology/discovery.py).
"""
import logging
import time

from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub

from apps.fabric_state import FabricState
from apps.openflow import OpenFlowPlugin
from apps.reconcile import Reconciler
from controller import errors
from topology import lldp
from topology.discovery import Sightings
from topology.graph import FabricGraph, RouteTable

LOG = logging.getLogger(__name__)
LLDP_INTERVAL = 1.0           # seconds between LLDP rounds
LINK_TIMEOUT = 3.5            # a link not heard of for this long is down


class FabricPlugin(OpenFlowPlugin):
    """The ``openflow`` back-end in fabric mode: ports bind by binding:profile."""

    name = "fabric"
    osken_apps = ("os_ken.app.ofctl.service", "apps.fabric")

    def osken_args(self, config):
        return []

    def bind_apps(self, apps):
        self.app = next(a for a in apps.values() if isinstance(a, FabricController))
        self.app.attach(self)

    def check(self, change):
        """Refuse what fabric isolation cannot honour: routers and floating IPs (fabric mode
        routes nothing yet), a binding that tries to name a switch
        port and does not, and a MAC already used in another network (transit switches tell
        networks apart by source MAC, so it must be unique across the fabric)."""
        if change.resource in ("router", "floating_ip") and change.after is not None:
            raise errors.InvalidInput(error="fabric mode does not route: routers and "
                                            "floating IPs need overlay mode (docs/l3.md)")
        port = change.after
        if change.resource != "port" or port is None:
            return
        if port.binding.invalid is not None:
            raise errors.InvalidInput(error=port.binding.invalid)
        macs = {port.mac} | {m for m, _ in port.pairs}
        for other in self.model.ports.values():
            if other.id != port.id and other.network_id != port.network_id and \
                    macs & ({other.mac} | {m for m, _ in other.pairs}):
                raise errors.MacAddressInUse(net_id=other.network_id,
                                             mac=", ".join(sorted(macs)))

    def topology(self):
        if self.app is None:
            raise errors.NotFound("The fabric controller is not running.")
        return self.app.describe()


class FabricController(Reconciler):
    """Fabric mode on the shared core: switches are keyed by datapath id; the placement is
    the LLDP graph (topology/graph.py) and the ports' binding:profile."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.desired = FabricState()
        self.fabric = FabricGraph()
        self.routes = RouteTable()
        self.lldp_key = lldp.new_key()
        self.sightings = Sightings()
        self.last_change = None       # when the last link event happened (monotonic)
        #: the most recent recomputations: [{"networks": n, "seconds": s, "cause": ...}]
        self.recomputes = []

    def new_desired_state(self):
        return FabricState()

    def start(self):
        thread = super().start()
        self.threads.append(hub.spawn(self._lldp_loop))
        return thread

    # -- switches and ports --------------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _switch_connected(self, ev):
        dp = ev.msg.datapath
        LOG.info("fabric switch %016x connected", dp.id)
        self.switches.pop(dp.id, None)
        dp.send_msg(dp.ofproto_parser.OFPPortDescStatsRequest(dp, 0))

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    def _port_desc(self, ev):
        dp = ev.msg.datapath
        ports = {p.port_no: p.name.decode(errors="replace") for p in ev.msg.body
                 if p.port_no <= dp.ofproto.OFPP_MAX}
        if dp.id in self.fabric.graph:
            self.fabric.graph.nodes[dp.id]["ports"].update(ports)
        else:
            self.fabric.add_switch(dp.id, ports)
        self.switch_up(dp)
        hub.spawn_after(LINK_TIMEOUT, self.kick)     # the pass that may prune
        self._link_event(up=True, cause=f"switch {dp.id:016x} joined")
        self._send_lldp(dp, ports)

    def switch_down(self, dpid):
        self.fabric.remove_switch(dpid)
        self._link_event(up=True, cause=f"switch {dpid:016x} left")

    def may_prune(self, switch):
        """Flows are only added, never removed, until LLDP had time to find the links
        (LINK_TIMEOUT): after a controller restart the switch keeps forwarding meanwhile."""
        return time.monotonic() >= switch.connected_at + LINK_TIMEOUT

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev):
        msg, dp = ev.msg, ev.msg.datapath
        ofp, port = dp.ofproto, ev.msg.desc
        if port.port_no > ofp.OFPP_MAX:         # the bridge's LOCAL port leads nowhere
            return
        down = (msg.reason == ofp.OFPPR_DELETE or port.state & ofp.OFPPS_LINK_DOWN or
                port.config & ofp.OFPPC_PORT_DOWN)
        if msg.reason != ofp.OFPPR_DELETE:
            self.fabric.set_port(dp.id, port.port_no, port.name.decode(errors="replace"))
        if down:
            peer = self.fabric.port_down(dp.id, port.port_no)
            if peer is not None:
                self._link_event(down=[(dp.id, peer)],
                                 cause=f"port {dp.id:016x}:{port.port_no} down")
        else:
            self._send_lldp(dp, {port.port_no: None})
        self.kick()           # a host port may have appeared or gone: bindings change

    def packet_in(self, msg):
        """LLDP from another switch: half a link. Frames we did not sign are not ours; ours
        received on or naming a host port prove nothing (a host replaying them)."""
        sender = lldp.parse(self.lldp_key, msg.data)
        if sender is None:
            return False
        receiver = (msg.datapath.id, msg.match.get("in_port"))
        if not self._host_port(*sender) and not self._host_port(*receiver):
            self._lldp_heard(sender, receiver)
        return True

    def _host_port(self, dpid, port_no):
        """Whether a port binding names this switch port (bound or waiting for it)."""
        return (dpid, port_no) in self.desired.claims

    # -- link discovery ------------------------------------------------------------------------
    def _send_lldp(self, dp, ports):
        """Signed LLDP out of ``ports``, but not out of host ports: a host must not get frames
        it could replay."""
        parser, ofp = dp.ofproto_parser, dp.ofproto
        for port_no in ports:
            if self._host_port(dp.id, port_no):
                continue
            dp.send_msg(parser.OFPPacketOut(
                dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                actions=[parser.OFPActionOutput(port_no)],
                data=lldp.build(self.lldp_key, dp.id, port_no)))

    def _lldp_heard(self, sender, receiver):
        """One direction of a link heard; the link comes up once the other was heard too."""
        (a, port_a), (b, port_b) = sender, receiver
        if a not in self.switches or b not in self.switches or \
                not self.sightings.hear(sender, receiver, time.monotonic()):
            return
        if self.fabric.link_up(a, port_a, b, port_b):
            LOG.info("fabric link %016x:%d <-> %016x:%d up", a, port_a, b, port_b)
            self._link_event(up=True, cause=f"link {a:016x}-{b:016x} up")

    def _lldp_loop(self):
        while self.is_active:
            hub.sleep(LLDP_INTERVAL)
            now = time.monotonic()
            for a, port_a, b, port_b, up in self.fabric.links():
                heard = self.sightings.last_proved((a, port_a), (b, port_b))
                if up and now - (now if heard is None else heard) > LINK_TIMEOUT:
                    self.fabric.link_down(a, b)
                    self._link_event(down=[(a, b)], cause=f"link {a:016x}-{b:016x} timed out")
            self.sightings.forget_before(now - LINK_TIMEOUT)
            for dpid, switch in list(self.switches.items()):
                self._send_lldp(switch.dp, self.fabric.port_names(dpid))

    def _link_event(self, down=(), up=False, cause=""):
        LOG.info("fabric: %s", cause)
        self.routes.links_changed(down=down, up=up)
        self.last_change = (time.monotonic(), cause)
        self.kick()

    # -- the pass ------------------------------------------------------------------------------
    def plan(self, model, ports, networks):
        """Bind ports, bring the routes up to date, and the desired state with them; every
        switch of the graph is in view."""
        deltas = self.desired.update(model, self.fabric, self.routes, ports, networks)
        return {dpid: dpid for dpid in self.fabric.switches()}, deltas

    def _reconcile(self):
        started, change, sent = time.monotonic(), self.last_change, self.sent
        super()._reconcile()
        rerouted = self.desired.rerouted
        if rerouted and change is not None:
            record = {"cause": change[1], "networks": len(rerouted),
                      "messages": self.sent - sent,
                      "seconds": round(time.monotonic() - change[0], 4),
                      "compute_seconds": round(time.monotonic() - started, 4)}
            LOG.info("fabric: %(networks)d networks rerouted after %(cause)s: %(messages)d "
                     "messages, flows acknowledged %(seconds).3f s after the event", record)
            self.recomputes = (self.recomputes + [record])[-20:]

    def host_name(self, dpid):
        return f"{dpid:016x}"

    def dpid_of(self, host):
        return int(host, 16)

    # -- the admin view --------------------------------------------------------------------------
    def describe(self):
        """Switches, links, bound ports and per-network routes, as plain JSON values."""
        model = self.plugin.model
        bound_at = {where: pid for pid, where in self.desired.bound.items()}
        switches = []
        for dpid in self.fabric.switches():
            fabric_ports = self.fabric.fabric_ports(dpid)
            switches.append({
                "datapath_id": f"{dpid:016x}", "connected": dpid in self.switches,
                "ports": [{"number": no, "name": name,
                           "role": ("fabric" if no in fabric_ports else
                                    "host" if (dpid, no) in bound_at else "unused"),
                           "port_id": bound_at.get((dpid, no))}
                          for no, name in sorted(self.fabric.port_names(dpid).items())]})
        links = [{"a": {"datapath_id": f"{a:016x}", "port": pa},
                  "b": {"datapath_id": f"{b:016x}", "port": pb},
                  "status": "UP" if up else "DOWN"}
                 for a, pa, b, pb, up in self.fabric.links()]
        ports = [{"port_id": pid, "network_id": model.ports[pid].network_id,
                  "mac_address": model.ports[pid].mac, "datapath_id": f"{dpid:016x}",
                  "port_number": no, "port_name": self.fabric.port_names(dpid).get(no)}
                 for pid, (dpid, no) in sorted(self.desired.bound.items())
                 if pid in model.ports]
        networks = [{"network_id": net_id,
                     "switches": [f"{s:016x}" for s in sorted(r.members)],
                     "transit": [f"{s:016x}" for s in sorted(r.carriers - r.members)],
                     "links": [[f"{a:016x}", f"{b:016x}"] for a, b in sorted(r.edges)]}
                    for net_id, r in sorted(self.routes.routes.items())]
        return {"mode": "fabric", "switches": switches, "links": links, "ports": ports,
                "networks": networks, "tunnels": [], "recomputes": self.recomputes}
