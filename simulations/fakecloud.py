"""A cloud of in-process switches driven by the real controller (apps/openflow.py).

Each hypervisor is a SwitchModel behind a ModelDatapath (apps/ofmodel) plus the OVSDB rows
a real one would report (Open_vSwitch, br-int, its Ports and Interfaces). Its reports go through
``apps.chassis_model.build_chassis`` -- the function the real ChassisMonitor applies to OVSDB --
and reach the controller as ``EventChassisChanged``, so ports bind exactly as on real switches: an
interface with ``external_ids:iface-id`` appears on br-int, the controller binds the port whose
attachment it is. Tunnel ports the controller asks for (``ensure_tunnels``) appear in the next
report with an ofport, as ovs-vswitchd would give them.

What is replaced, and only that: the transport. ``CloudController`` is the real QnetController
whose request/reply (barriers, flow and group stats) is answered synchronously by the fake
switch, and whose worker loop is ``FakeCloud.settle()`` (running the worker's own ``run_pass``)
instead of a hub thread; switch errors are delivered to its real error handler.
"""
import dataclasses
import ipaddress
import itertools
import struct
import time
from types import SimpleNamespace

from os_ken.controller import ofp_event
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.chassis import EventChassisChanged
from apps.chassis_model import build_chassis, plan_tunnels
from apps.incremental import Counters
from apps.ofmodel import ModelDatapath, SwitchModel
from apps.ofmodel.datapath import read_messages
from apps.openflow import QnetController
from controller.binding import PROJECT_KEY
from simulations.fixtures import network, port


class AnsweredAtOnce:
    """Mixed into a real controller app (apps/reconcile.py): its requests are answered at once
    by in-process switches."""

    def _begin(self, dp, msg, reply_cls, multi=False):
        """Send ``msg``; the switch has answered it (and everything sent before) at once.
        Error replies go to the controller's error handler, as os-ken would deliver them."""
        dp.send_msg(msg)
        replies, dp.replies = dp.replies, []
        for r in replies:
            if isinstance(r, parser.OFPErrorMsg):
                self._switch_error(ofp_event.EventOFPErrorMsg(r))
        replies = [r for r in replies if isinstance(r, reply_cls)]
        result = replies if multi else (replies[-1] if replies else None)
        return lambda timeout=None: result


def settle(controller, publish, max_passes=10):
    """Run ``publish()`` (switch reports) and the controller's passes (what its worker thread
    does on a real hub) until it has nothing left to do. Returns the work done: the passes'
    counters summed, and the flow-, group- and meter-mods sent."""
    work, sent = Counters(), controller.sent
    for _ in range(max_passes):
        publish()
        if not controller.wake.is_set():
            return work, controller.sent - sent
        controller.wake.clear()
        controller.run_pass()
        for field in dataclasses.fields(Counters):
            setattr(work, field.name, getattr(work, field.name) +
                    getattr(controller.desired.counters, field.name))
    raise RuntimeError("the controller did not settle")


class CloudController(AnsweredAtOnce, QnetController):
    """The real overlay controller on in-process switches."""


class Simulated:
    """CPU seconds spent simulating switches and their OVSDB (not the controller's time), so
    benchmarks can tell the controller's CPU from the simulation's. The same clock as the
    process's own (``time.process_time``), so the controller's share is a plain difference;
    nested sections count once."""

    seconds = 0.0
    depth = 0

    def __enter__(self):
        Simulated.depth += 1
        if Simulated.depth == 1:
            self.start = time.process_time()

    def __exit__(self, *exc):
        Simulated.depth -= 1
        if Simulated.depth == 0:
            Simulated.seconds += time.process_time() - self.start


class TimedSwitch(SwitchModel):
    """A SwitchModel whose time on messages counts as ``Simulated``."""

    __slots__ = ()

    def apply(self, msg):
        with Simulated():
            return super().apply(msg)


class NullSwitch(TimedSwitch):
    """Takes flow-mods and group-mods and keeps nothing: a cloud of these measures the
    controller's own memory, without millions of simulated flow entries beside it."""

    __slots__ = ()

    def apply(self, msg):
        if isinstance(msg, (parser.OFPFlowMod, parser.OFPGroupMod)):
            self.msg_count += 1
            return []
        return super().apply(msg)


class TimedDatapath(ModelDatapath):
    """A model datapath whose reading of the bytes it is sent (os-ken's parser, as a switch
    reads its socket) and applying them count as ``Simulated``."""

    __slots__ = ()

    def send(self, buf, close_socket=False):
        with Simulated():
            return super().send(buf, close_socket)


class NullDatapath(TimedDatapath):
    """The datapath of a NullSwitch: counts the messages in the bytes it is sent and decodes
    one in ``SAMPLE`` (so encoding errors still show), without keeping any."""

    __slots__ = ()
    SAMPLE = 1000

    def send(self, buf, close_socket=False):
        with Simulated():
            offset = 0
            while offset < len(buf):
                msg_len = struct.unpack_from("!H", buf, offset + 2)[0]
                self.switch.msg_count += 1
                self.sent_counts["bytes"] += msg_len
                if self.switch.msg_count % self.SAMPLE == 0:
                    for msg in read_messages(self, buf[offset:offset + msg_len]):
                        self.switch.apply(msg)
                offset += msg_len
            return True


class FakeHypervisor:
    """One hypervisor: a fake integration bridge and the OVSDB rows that describe it."""

    def __init__(self, system_id, tunnel_ip, dpid, record=False, null=False):
        self.system_id, self.tunnel_ip, self.dpid = system_id, tunnel_ip, dpid
        self.dp = NullDatapath(NullSwitch(dpid), record=record) if null else \
            TimedDatapath(TimedSwitch(dpid), record=record)
        self.ports = {}            # name -> Interface row (each on its own Port)
        self.tunnel_names = set()  # names of the qnet tunnel ports
        self.mappings = {}         # physical network -> bridge (qnet-bridge-mappings)
        self._ofports = itertools.count(1)

    def plug(self, name, iface_id, project=None):
        """A VM interface appears on br-int carrying ``iface_id`` (an attachment binds only
        with the ``project`` it is declared for: controller/binding.py); returns its ofport."""
        ofport = next(self._ofports)
        external_ids = {"iface-id": iface_id}
        if project is not None:
            external_ids[PROJECT_KEY] = project
        self.ports[name] = {"name": name, "ofport": ofport, "type": "", "options": {},
                            "external_ids": external_ids}
        self.dp.switch.add_port(ofport, name)
        return ofport

    def unplug(self, name):
        row = self.ports.pop(name)
        self.dp.switch.remove_port(row["ofport"])

    def set_tunnels(self, wanted):
        """What ensure_tunnels does in OVSDB: add, fix and remove qnet VXLAN ports."""
        interfaces = {n: SimpleNamespace(qnet_tunnel=True, type="vxlan",
                                         remote_ip=self.ports[n]["options"]["remote_ip"],
                                         local_ip=self.ports[n]["options"].get("local_ip"),
                                         key="flow") for n in self.tunnel_names}
        plan = plan_tunnels(interfaces, wanted, self.tunnel_ip)
        for name in plan.remove:
            self.unplug(name)
            self.tunnel_names.discard(name)
        for name, ip in {**plan.add, **plan.update}.items():
            if name in self.ports:
                self.ports[name]["options"].update(remote_ip=ip, local_ip=self.tunnel_ip)
                continue
            ofport = next(self._ofports)
            self.ports[name] = {"name": name, "ofport": ofport, "type": "vxlan",
                                "options": {"remote_ip": ip, "key": "flow",
                                            "local_ip": self.tunnel_ip},
                                "external_ids": {"qnet-tunnel": "true"}}
            self.dp.switch.add_port(ofport, name)
            self.tunnel_names.add(name)
        return plan

    def map_physical(self, physnet):
        """A bridge mapping for ``physnet``: br-ex joined to br-int by a patch pair, as an
        admin sets it up (docs/l3.md); returns the br-int end's ofport."""
        name = f"patch-{physnet}"
        ofport = next(self._ofports)
        self.ports[name] = {"name": name, "ofport": ofport, "type": "patch",
                            "options": {"peer": f"{name}-ex"}, "external_ids": {}}
        self.dp.switch.add_port(ofport, name)
        self.mappings[physnet] = "br-ex"
        return ofport

    def tables(self):
        """The OVSDB rows build_chassis reads (references as uuid strings)."""
        ports = {f"port-{n}": {"name": n, "interfaces": [f"if-{n}"],
                               "external_ids": ({"qnet-tunnel": "true"}
                                                if n in self.tunnel_names else {})}
                 for n in self.ports}
        peers = {f"port-{row['options']['peer']}": {"name": row["options"]["peer"],
                                                    "interfaces": [f"if-{row['options']['peer']}"],
                                                    "external_ids": {}}
                 for row in self.ports.values() if row["type"] == "patch"}
        ext = {"system-id": self.system_id, "qnet-tunnel-ip": self.tunnel_ip}
        if self.mappings:
            ext["qnet-bridge-mappings"] = ",".join(f"{k}:{v}" for k, v in self.mappings.items())
        return {
            "Open_vSwitch": {"ovs": {"external_ids": ext}},
            "Bridge": {"br-int": {"name": "br-int", "datapath_id": f"{self.dpid:016x}",
                                  "other_config": {}, "ports": list(ports),
                                  "fail_mode": "secure"},
                       **({"br-ex": {"name": "br-ex", "ports": list(peers)}} if peers else {})},
            "Port": {**ports, **peers},
            "Interface": {**{f"if-{n}": row for n, row in self.ports.items()},
                          **{f"if-{p['name']}": {"name": p["name"], "type": "patch",
                                                 "ofport": 1, "options": {}, "external_ids": {}}
                             for p in peers.values()}},
        }

    def report(self):
        """What the ChassisMonitor makes of this hypervisor's OVSDB (reading the rows is the
        simulation's time, build_chassis the controller's)."""
        with Simulated():
            tables = self.tables()
        return build_chassis(self.system_id, tables)


class FakeMonitor:
    """What the controller uses of apps.chassis.ChassisMonitor, fed by fake hypervisors."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.chassis = {}

    def ensure_tunnels(self, system_id, wanted, timeout=None):
        hv = self.cloud.hypervisors[system_id]
        plan = hv.set_tunnels(wanted)
        self.cloud.reported.add(system_id)      # the new ofports arrive with the next report
        return plan


class FakeCloud:
    """Hypervisors, the real controller and plug-in, and a loop that runs them to quiescence.

    ``plugin`` is an apps.openflow.OpenFlowPlugin (its ``core`` may be the real one, for API
    driven tests, or anything with ``ports.report_status``)."""

    def __init__(self, plugin, null_switches=False):
        self.plugin = plugin
        self.null_switches = null_switches
        self.hypervisors = {}
        self.reported = set()     # hypervisors whose rows changed since their last report
        self.lost = set()         # hypervisors whose OVSDB connection is down
        self.monitor = FakeMonitor(self)
        self.controller = CloudController(chassis_monitor=self.monitor)
        plugin.bind_apps({"controller": self.controller})

    @classmethod
    def on_core(cls, hypervisors=2):
        """A cloud behind a real core (in-memory SQLite) with the overlay plug-in, and
        ``hypervisors`` connected hypervisors hv1, hv2, ... (tunnel 172.16.0.N, datapath N):
        what API-driven tests start from. The core is ``cloud.plugin.core``. Imported here, not
        at the top: the scale bench uses this module without a database, and SQLAlchemy alone
        costs it ~18 MiB."""
        from apps.openflow import OpenFlowPlugin
        from controller.core import Core
        plugin = OpenFlowPlugin()
        Core.from_url("sqlite://", plugin)
        cloud = cls(plugin)
        for h in range(1, hypervisors + 1):
            cloud.add_hypervisor(f"hv{h}", f"172.16.0.{h}", h)
        return cloud

    def add_hypervisor(self, system_id, tunnel_ip, dpid, connect=True):
        hv = self.hypervisors[system_id] = FakeHypervisor(system_id, tunnel_ip, dpid,
                                                          null=self.null_switches)
        self.reported.add(system_id)
        if connect:
            self.connect(system_id)
        return hv

    def connect(self, system_id):
        """The switch's OpenFlow connection comes up (features reply handled by the app)."""
        dp = self.hypervisors[system_id].dp
        dp.is_active = True
        self.controller._switch_connected(SimpleNamespace(msg=SimpleNamespace(datapath=dp)))

    def disconnect(self, system_id):
        dp = self.hypervisors[system_id].dp
        dp.is_active = False
        self.controller._switch_gone(SimpleNamespace(datapath=dp))

    def plug(self, system_id, name, iface_id, project=None):
        ofport = self.hypervisors[system_id].plug(name, iface_id, project)
        self.reported.add(system_id)
        return ofport

    def unplug(self, system_id, name):
        self.hypervisors[system_id].unplug(name)
        self.reported.add(system_id)

    def publish(self):
        """Hypervisors whose rows changed report, as the ChassisMonitor would emit them."""
        reported, self.reported = self.reported - self.lost, self.reported & self.lost
        for system_id in sorted(reported):
            chassis = self.hypervisors[system_id].report()
            if self.monitor.chassis.get(system_id) != chassis:
                self.monitor.chassis[system_id] = chassis
                self.controller._chassis_changed(EventChassisChanged(chassis))

    def lose_chassis(self, system_id):
        """The hypervisor's OVSDB connection drops: the monitor keeps its last report, marked
        disconnected, and hears nothing more until ``regain_chassis``."""
        self.lost.add(system_id)
        chassis = self.monitor.chassis.get(system_id)
        if chassis is not None:
            self.monitor.chassis[system_id] = dataclasses.replace(chassis, connected=False)
            self.controller._chassis_changed(EventChassisChanged(self.monitor.chassis[system_id]))

    def regain_chassis(self, system_id):
        self.lost.discard(system_id)
        self.reported.add(system_id)

    def settle(self, max_passes=10):
        """Deliver reports and run controller passes until nothing is left to do. Returns the
        work done: the passes' counters summed, and ``sent``, the flow- and group-mods."""
        return settle(self.controller, self.publish, max_passes)

    def flows_of(self, system_id):
        """{cookie: (table_id, priority, canonical match)} a fake switch holds."""
        return {e.cookie: (e.table_id, e.priority, e.match)
                for e in self.hypervisors[system_id].dp.switch.iter_flows()}


# -- a scale scenario ------------------------------------------------------------------------------
class StatusBoard:
    """Stands in for the core where only port status reports are needed (benchmarks): keeps
    the last status of each port."""

    def __init__(self):
        self.status = {}
        self.ports = self

    def report_status(self, port_id, status, host="", datapath=None, ofport=None, error=None):
        self.status[port_id] = status
        return True

    def report_statuses(self, reports):
        for port_id, status, *_ in reports:
            self.status[port_id] = status
        return len(reports)


def scale_port(i, k, host, attachment=None):
    """Port ``i`` (unique MAC) of network ``k`` with address 10.x.y.``host``."""
    return port(f"port-{i:07d}", f"net-{k:05d}",
                "fa:16:3e:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255),
                f"10.{k >> 8 & 255}.{k & 255}.{host}", attachment)


def scale_network(k, mtu=1450):
    """Network ``k`` (VNI 1000 + k) and its /24 10.x.y.0/24 subnet."""
    prefix = f"10.{k >> 8 & 255}.{k & 255}"
    return network(f"net-{k:05d}", 1000 + k, cidr=f"{prefix}.0/24", gateway=f"{prefix}.1",
                   mtu=mtu)


class Scenario:
    """N switches and P ports in networks of ``per_network`` ports (at most 250: one /24
    each, .2 to .251; .252 and up are free for ports added later); network k spans ``span`` consecutive switches, so a switch hosts about
    K*span/N networks and P/N ports, whatever N and P are.

    ``build()`` fills the model directly (not through the API: 100,000 API calls would time
    the database, not the controller), plugs every port's interface on its switch and creates
    the tunnel ports a switch needs, i.e. the cloud as a restarted controller finds it.
    """

    def __init__(self, switches, ports, per_network=100):
        self.n, self.p = switches, ports
        self.per_network = min(per_network, ports, 250)
        self.k = max(1, -(-ports // self.per_network))
        self.span = min(switches, max(10, -(-switches // self.k)))

    def switch_of(self, k, j):
        """The switch of the j-th port of network k."""
        return (k * self.span + j % self.span) % self.n

    def hosts(self, k):
        return {self.switch_of(k, j) for j in range(min(self.span, self.per_network))}

    @staticmethod
    def system_id(s):
        return f"hv{s:04d}"

    @staticmethod
    def tunnel_ip(s):
        """172.16.0.1, 172.16.0.2, ...: one distinct address per switch."""
        return str(ipaddress.IPv4Address("172.16.0.0") + s + 1)

    def build(self, plugin=None, null_switches=False):
        from apps.openflow import OpenFlowPlugin
        from tunnel.mesh import tunnel_port_name
        plugin = plugin or OpenFlowPlugin()
        if getattr(plugin, "core", None) is None:
            plugin.core = StatusBoard()
        cloud = FakeCloud(plugin, null_switches)
        for s in range(self.n):
            cloud.add_hypervisor(self.system_id(s), self.tunnel_ip(s), s + 1)
        peers = {s: set() for s in range(self.n)}
        for k in range(self.k):
            net, sub = scale_network(k)
            plugin.model.put(net)
            plugin.model.put(sub)
            hosts = self.hosts(k)
            for s in hosts:
                peers[s] |= hosts - {s}
        for i in range(self.p):
            k, j = divmod(i, self.per_network)
            plugin.model.put(scale_port(i, k, j + 2, f"vm-{i}"))
            cloud.hypervisors[self.system_id(self.switch_of(k, j))].plug(f"tap{i}", f"vm-{i}")
        for s, others in peers.items():
            cloud.hypervisors[self.system_id(s)].set_tunnels(
                {tunnel_port_name(self.tunnel_ip(o)): self.tunnel_ip(o) for o in others})
        return cloud
