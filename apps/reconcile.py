"""The switch-programming core both modes share: keep every connected switch holding its
desired state, and tell the core where ports are bound and whether they carry traffic.

A mode (overlay: apps/openflow.py, fabric: apps/fabric.py) contributes two things only:

* its *placement* -- where ports are bound (OVSDB iface-ids in overlay, binding:profile and
  the LLDP graph in fabric) and which switches are in view -- and
* its *desired state* -- an incremental object (apps/incremental.py) that folds in what
  changed and returns each touched switch's delta; its pieces are built by the families
  listed once in apps/pieces.py.

Everything else is here, once: the switch sessions, reading a switch back (flows by cookie,
groups, meters: never wiped), sending a delta followed by a barrier, per-switch timeouts (a
wedged switch is left unsynced and retried later while the others are programmed), the worker
(API calls and switch events only note what changed and wake it; bursts coalesce into one
pass; a failed pass starts the desired state over and resyncs every switch), switch errors
(read the switch back), DHCP answers to packet-ins, meter counters, and port status reports.

Resync after a controller restart: a switch that (re)connects, or rejected a message, or any
switch after a failed pass, is read back and only the difference from its whole desired state
is sent, so traffic keeps flowing (switches run with fail_mode=secure). Deletions wait until
the mode says its view is complete (``may_prune``); a switch resynced before that is resynced
again once it is.

In a cluster (controller/cluster.py) only the master writes, and only through a connection the
switch confirmed as master for its generation: the switch refuses a role request with an older
generation than one another instance announced, and refuses every write of a connection made a
slave by a newer master. A standby keeps its desired state current and writes nothing; when it
becomes master every switch is read back and only the difference is sent, which is nothing when
it was in step (flows are named by their content).
"""
import contextlib
import gc
import logging
import time

import netaddr
from os_ken.app.ofctl import event as ofctl_event
from os_ken.app.ofctl.exception import InvalidDatapath, OFError
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import (CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER,
                                       set_ev_cls)
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from apps import dhcp, ofmsg
from apps import pipeline as pl
from controller import metrics

LOG = logging.getLogger(__name__)
#: Seconds a switch has to answer a request (a barrier, a read-back) before it is taken as
#: wedged: left unsynced, and retried after RETRY_WEDGED while the others go on.
SWITCH_TIMEOUT = 10.0
RETRY_WEDGED = 5.0
#: A pass with this many flow/group changes freezes what survived it (see ``reconcile``).
FREEZE_AFTER_CHANGES = 10000
#: Source MAC of the controller's DHCP replies (locally administered, outside fa:16:3e).
DHCP_SERVER_MAC = "02:71:6e:65:74:01"
#: What a port that is not bound, or whose switch is not in sync, is reported as.
DOWN = ("DOWN", "", None, None)


class SwitchTimeout(Exception):
    """A switch did not answer a request within SWITCH_TIMEOUT."""


class NotMaster(Exception):
    """A switch did not confirm this instance as its master: another announced a newer
    generation."""


class Switch:
    """One connected switch. ``synced``: it holds its desired state, so deltas suffice
    (False: read it back and resync on the next pass); ``unpruned``: resynced while pruning
    was not allowed yet, so it may still hold stale flows (resync again once allowed);
    ``retry_at``: it timed out, leave it alone until then; ``role``: (role, generation) the
    switch confirmed for this connection (in a cluster), None until it did."""

    def __init__(self, dp):
        self.dp = dp
        self.role = None
        self.synced = False
        self.unpruned = False
        self.retry_at = 0.0
        self.connected_at = time.monotonic()


class Reconciler(app_manager.OSKenApp):
    """The skeleton of a mode's controller app (see the module doc). A mode sets
    ``self.desired`` and implements ``plan`` (and the small lookups below it)."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plugin = None
        self.desired = None
        self.switches = {}            # dpid -> Switch
        self.dirty_ports, self.dirty_networks = set(), set()
        self.dirty_routers, self.dirty_fips = set(), set()   # routers, floating IPs (ids)
        self.synced = set()           # keys of the switches holding their desired state
        self.reported = {}            # port id -> status tuple last written to the core
        self.problems_changed = set()  # keys whose ``host_problem`` changed: re-report
        self.wake = hub.Event()
        self.passes = 0               # reconcile passes run (for tests and benchmarks)
        self.sent = 0                 # flow-, group- and meter-mods sent (same)
        self.in_pass = False
        #: controller/cluster.py's Mastership in a cluster; None: this is the only instance
        self.mastership = None
        self.refusals = 0             # messages switches refused because we are not master
        self.took_over_at = None      # time.time() this instance became master, until in step

    # -- what a mode provides ---------------------------------------------------------------
    def new_desired_state(self):
        """A fresh, empty desired state (the first update takes in everything)."""
        raise NotImplementedError

    def plan(self, model, ports, networks):
        """Fold the changed ``ports`` and ``networks`` (ids) and the mode's own events into
        ``self.desired``; return ({switch key: dpid} of the switches in view, {key: Delta})."""
        raise NotImplementedError

    def may_prune(self, switch):
        """Whether stale flows may be deleted from ``switch`` now (the view is complete)."""
        return True

    def host_name(self, key):
        """How the core names the host of a port bound on switch ``key`` (binding:host_id)."""
        return key

    def dpid_of(self, host):
        """The datapath id of the switch named ``host`` by ``host_name``, or None."""
        raise NotImplementedError

    def host_problem(self, key):
        """Why the ports bound on switch ``key`` cannot carry their traffic, or None. Such
        ports are reported DOWN with it as their binding_error; a mode that computes it adds
        ``key`` to ``problems_changed`` when it changes."""
        return None

    # -- life cycle ---------------------------------------------------------------------------
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

    def run_soon(self):
        """Let a woken worker run its pass now, before the API request that woke it builds
        its answer: the flows leave a response's time earlier (port-up, docs/benchmarks.md).
        Two yields: in the first the worker computes the deltas and queues the messages, in
        the second the switches' send loops, woken by those, write them to their sockets.
        Not from inside a pass (the worker's own status writes)."""
        if self.wake.is_set() and not self.in_pass:
            hub.sleep(0)
            hub.sleep(0)

    # -- mastership (controller/cluster.py) -----------------------------------------------------
    def is_master(self):
        return self.mastership is None or self.mastership.is_master()

    def mastership_changed(self):
        """Became master, stopped being it, or a new generation is known: tell every switch
        our role; whatever switches hold is unknown now (read them back before writing)."""
        if self.is_master() and self.took_over_at is None:
            self.took_over_at = time.time()
        for switch in self.switches.values():
            switch.synced = False
            switch.role = None
            self.announce_role(switch.dp)
        self.kick()

    def announce_role(self, dp):
        """Tell switch ``dp`` our role with the current generation (a no-op outside a
        cluster). A switch refuses a generation older than one it saw."""
        if self.mastership is None or not self.mastership.generation:
            return
        ofp, parser = dp.ofproto, dp.ofproto_parser
        role = ofp.OFPCR_ROLE_MASTER if self.is_master() else ofp.OFPCR_ROLE_SLAVE
        dp.send_msg(parser.OFPRoleRequest(dp, role, self.mastership.generation))

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
        elif change.resource == "security_group":
            # its members (their rules) and the members of the groups its rules name (the
            # ways their addresses are looked for)
            named = {r.remote_group_id for g in (change.before, change.after) if g is not None
                     for r in g.rules if r.remote_group_id is not None}
            for gid in named | {item.id}:
                self.dirty_ports.update(self.plugin.model.ports_in_group(gid))
        elif change.resource == "subnet":
            self.dirty_networks.add(item.network_id)
        elif change.resource == "router":
            self.dirty_routers.add(item.id)
        elif change.resource == "floating_ip":
            self.dirty_fips.add(item.id)
        self.kick()

    # -- switch events --------------------------------------------------------------------------
    def switch_up(self, dp):
        """A switch is ready to be programmed (a new session: it is read back first)."""
        LOG.info("switch %016x connected", dp.id)
        self.switches[dp.id] = Switch(dp)
        self.announce_role(dp)
        self.kick()

    @set_ev_cls(ofp_event.EventOFPStateChange, DEAD_DISPATCHER)
    def _switch_gone(self, ev):
        switch = self.switches.get(ev.datapath.id)
        if switch is not None and switch.dp is ev.datapath:
            LOG.info("switch %016x disconnected", ev.datapath.id)
            del self.switches[ev.datapath.id]
            self.switch_down(ev.datapath.id)
            self.kick()       # its ports are reported DOWN

    def switch_down(self, dpid):
        """A mode's hook for a switch whose session ended."""

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def _switch_error(self, ev):
        msg = ev.msg
        if self._refused_as_master(msg):
            return
        LOG.error("switch %016x rejected a message: type=%s code=%s", msg.datapath.id,
                  msg.type, msg.code)
        switch = self.switches.get(msg.datapath.id)
        if switch is not None:
            switch.synced = False  # re-read what it really holds on the next pass
            self.kick()

    def _refused_as_master(self, msg):
        """A switch refused our role (a newer generation exists) or a write (we are a slave
        there): another instance is master. Stand by; True if ``msg`` was such a refusal."""
        ofp = msg.datapath.ofproto
        if (msg.type, msg.code) not in ((ofp.OFPET_ROLE_REQUEST_FAILED, ofp.OFPRRFC_STALE),
                                        (ofp.OFPET_BAD_REQUEST, ofp.OFPBRC_IS_SLAVE)):
            return False
        self.refusals += 1
        switch = self.switches.get(msg.datapath.id)
        if switch is not None:
            switch.role = None
        metrics.SWITCH_REFUSALS.labels(
            "stale_role" if msg.type == ofp.OFPET_ROLE_REQUEST_FAILED else "is_slave").inc()
        LOG.warning("switch %016x refused %s from this instance: another is master",
                    msg.datapath.id, "our role" if msg.type == ofp.OFPET_ROLE_REQUEST_FAILED
                    else "a write")
        if self.mastership is not None:
            self.mastership.refused(self.mastership.generation)
        return True

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg = ev.msg
        metrics.PACKET_INS.inc()
        if not self.is_master():      # a standby answers nothing (a switch may still send)
            return
        if self.packet_in(msg):
            return
        port = self.port_at(msg.datapath.id, msg.match.get("in_port"))
        if port is not None:
            answer_dhcp(msg, self.plugin.model, port)

    def packet_in(self, msg):
        """A mode's own packet-ins (LLDP in fabric); True if it took ``msg``."""
        return False

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
        self.in_pass = True
        try:
            with metrics.PASS_DURATION.time():
                self.reconcile()
        except Exception:
            LOG.exception("reconcile pass failed; full resync on the next change")
            metrics.PASS_FAILURES.inc()
            self.start_over()
        finally:
            self.in_pass = False
        self.passes += 1

    def start_over(self):
        """Forget the desired state and what switches hold: the next pass recomputes everything
        from the model and resyncs every switch against what it reads back (never a wipe)."""
        self.desired = self.new_desired_state()
        for switch in self.switches.values():
            switch.synced = False

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
        ports, self.dirty_ports = self.dirty_ports, set()
        networks, self.dirty_networks = self.dirty_networks, set()
        targets, deltas = self.plan(model, ports, networks)
        if not self.is_master():      # a standby: desired state kept current, nothing written
            for switch in self.switches.values():
                switch.synced = False
            self.synced = set()
            return
        synced = self._program(targets, deltas)
        if self.took_over_at is not None and synced:
            LOG.info("master of %d switches: read back and in step %.3f s after taking over",
                     len(synced), time.time() - self.took_over_at)
            self.took_over_at = None
        self._report_status(model, targets, synced)

    # -- programming switches -----------------------------------------------------------------
    def _program(self, targets, deltas):
        """Send each switch in view its delta, or a full resync if it is not known to be in
        sync, then wait for their barriers together. ``targets``: {key: dpid}. Returns the keys
        of the switches that now hold their desired state.

        Every delta leaves before the first read-back and before any barrier is awaited, and
        the barriers share one deadline (SWITCH_TIMEOUT): a switch that does not answer in
        time, or goes away, is left out (unsynced; a wedged one is retried after
        RETRY_WEDGED) and delays the others' programming by nothing, their pass by at most
        the deadline."""
        in_view = set(targets.values())
        for dpid, switch in self.switches.items():
            if dpid not in in_view:
                # Out of view (its chassis or its ports not known): its deltas are not sent, so
                # what it holds is no longer what we last sent. Read it back when it returns.
                switch.synced = False
        now = time.monotonic()
        todo = [(key, self.switches[dpid]) for key, dpid in targets.items()
                if dpid in self.switches and self.switches[dpid].retry_at <= now]
        todo.sort(key=lambda item: self._needs_resync(item[1]))   # deltas first
        waiting = []
        for key, switch in todo:
            with self._leaving_out(switch):
                waiting.append((key, switch, self._send(switch, key, deltas.get(key))))
        deadline = time.monotonic() + SWITCH_TIMEOUT
        synced = set()
        for key, switch, barrier in waiting:
            with self._leaving_out(switch):
                if barrier is not None:
                    barrier(max(0.0, deadline - time.monotonic()))
                synced.add(key)
        return synced

    def _needs_resync(self, switch):
        return not switch.synced or (switch.unpruned and self.may_prune(switch))

    @contextlib.contextmanager
    def _leaving_out(self, switch):
        """Leave out a switch that does not answer in time or went away."""
        try:
            yield
        except SwitchTimeout:
            LOG.warning("switch %016x did not answer within %.0f s: left out, retried in "
                        "%.0f s", switch.dp.id, SWITCH_TIMEOUT, RETRY_WEDGED)
            switch.synced = False
            switch.retry_at = time.monotonic() + RETRY_WEDGED
            hub.spawn_after(RETRY_WEDGED, self.kick)
        except InvalidDatapath:
            # The connection closed under the pass: the switch is gone (or already back with
            # a new session that reads it back).
            LOG.warning("switch %016x went away during the pass", switch.dp.id)
            switch.synced = False
        except NotMaster:
            LOG.warning("switch %016x did not take us as master: nothing written to it",
                        switch.dp.id)
            switch.synced = False

    def _send(self, switch, key, delta):
        """Send one switch what takes it to its desired state (read back first if needed),
        followed by a barrier; returns the barrier's ``wait(timeout)``, or None if nothing
        was sent."""
        prune = self.may_prune(switch)
        if self._needs_resync(switch):
            delta = ofmsg.changes(read_installed(self._request, switch.dp),
                                  self.desired.state(key), prune=prune)
            switch.unpruned = not prune
            metrics.RESYNCS.inc()
        switch.synced = True      # before sending: an error reply while we wait undoes it
        if not delta:
            return None
        self._claim_master_role(switch)
        for chunk in ofmsg.wire(switch.dp, delta):
            switch.dp.send(chunk)
        parser = switch.dp.ofproto_parser
        barrier = self._begin(switch.dp, parser.OFPBarrierRequest(switch.dp),
                              parser.OFPBarrierReply)
        self.sent += len(delta)
        metrics.count_sent(delta)
        LOG.debug("switch %016x: %d changes", switch.dp.id, len(delta))
        return barrier

    def _claim_master_role(self, switch):
        """In a cluster, write to a switch only through a connection it confirmed as master
        for our generation; raise NotMaster if it did not. A refused role request leaves a
        fresh connection EQUAL, and the switch would take an EQUAL connection's writes: so the
        writes wait for the reply, one round trip per connection and generation. A connection
        it confirmed and later made a slave (a newer master) has its writes refused."""
        if self.mastership is None:
            return
        dp = switch.dp
        if not self.is_master():      # refused by another switch earlier in this pass
            raise NotMaster(dp.id)
        ofp, parser = dp.ofproto, dp.ofproto_parser
        wanted = (ofp.OFPCR_ROLE_MASTER, self.mastership.generation)
        if switch.role == wanted:
            return
        try:
            reply = self._request(dp, parser.OFPRoleRequest(dp, *wanted), parser.OFPRoleReply)
        except OFError:      # refused as stale: _switch_error has made us stand by
            reply = None
        if reply is None or (reply.role, reply.generation_id) != wanted:
            raise NotMaster(dp.id)
        switch.role = wanted

    def _begin(self, dp, msg, reply_cls, multi=False):
        """Send a request through os-ken's ofctl service; returns ``wait(timeout)``, which
        returns its reply (a list of replies if ``multi``) or raises SwitchTimeout."""
        req = ofctl_event.SendMsgRequest(msg=msg, reply_cls=reply_cls, reply_multi=multi)
        req.sync = True
        req.reply_q = hub.Queue()
        self.send_event(req.dst, req)

        def wait(timeout=SWITCH_TIMEOUT):
            try:
                reply = req.reply_q.get(timeout=timeout)
            except hub.QueueEmpty:
                raise SwitchTimeout(dp.id) from None
            return reply()
        return wait

    def _request(self, dp, msg, reply_cls, multi=False):
        """Send a request and wait for its reply at most SWITCH_TIMEOUT seconds."""
        return self._begin(dp, msg, reply_cls, multi)()

    # -- port status ---------------------------------------------------------------------------
    def _report_status(self, model, targets, synced):
        """ACTIVE: bound and the flows of its switch are installed; DOWN otherwise, with the
        reason as binding_error while its host has a ``host_problem``. Only for ports whose
        binding changed, whose switch got in or out of sync or whose host's problem changed; a status is
        written to the core (``report_statuses``, which emits a Change per port) only when it
        differs from the one last reported."""
        ports = set(self.desired.ports_changed)
        for key in (synced ^ self.synced) | self.problems_changed:
            ports.update(self.desired.bound_on.get(key, ()))
        self.synced, self.problems_changed = synced, set()
        reports = []
        for port_id in ports:
            port = model.ports.get(port_id)
            if port is None:
                self.reported.pop(port_id, None)
                continue
            where = self.desired.bound.get(port_id)
            problem = self.host_problem(where[0]) if where is not None else None
            if problem:
                status = ("DOWN", self.host_name(where[0]), None, None, problem[:255])
            elif where is not None and where[0] in synced and port.admin_up:
                key, ofport = where
                status = ("ACTIVE", self.host_name(key), f"{targets[key]:016x}", ofport)
            else:   # with why an interface that claims it may not bind it (binding.py)
                status = (*DOWN, self.desired.binding_errors.get(port_id))
            if self.reported.get(port_id) != status:
                reports.append((port_id, *status, None)[:6])
                self.reported[port_id] = status
        if reports:     # a cold start reports every port: in a few large transactions
            self.plugin.core.ports.report_statuses(reports)

    # -- lookups ---------------------------------------------------------------------------------
    def where(self, port_id):
        """(host name, ofport) where a port is bound, or None."""
        where = self.desired.bound.get(port_id)
        return (self.host_name(where[0]), where[1]) if where else None

    def port_at(self, dpid, ofport):
        """The model's port bound to ``ofport`` of switch ``dpid``, or None."""
        key = self.key_of(dpid)
        port_id = self.desired.port_at(key, ofport) if key is not None else None
        return self.plugin.model.ports.get(port_id) if port_id is not None else None

    def key_of(self, dpid):
        """The desired state's key of switch ``dpid``, or None."""
        return dpid

    def meter_stats(self, host, meter_ids):
        """{meter id: OFPMeterStats} of ``meter_ids`` on ``host``'s switch (a round trip
        to the switch; empty if it is not connected)."""
        switch = self.switches.get(self.dpid_of(host))
        return read_meter_stats(self._request, switch.dp, meter_ids) if switch else {}


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
        metrics.DHCP_REPLIES.inc()
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
