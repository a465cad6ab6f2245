"""Fabric mode is incremental like overlay: on in-process switches wired as a mesh with loops,
driven by the real fabric controller and a real core.

After any sequence of API operations (ports moving between security groups among them),
links going down and up and switches disconnecting and coming back, every switch holds exactly what a from-scratch compilation
(``fabric_flows.compile_fabric`` over the whole model, the fabric and the routes) says, and
every port's status is right; and a port change only reaches the switches on its network's
paths.
"""
from unittest import mock

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps import fabric, fabric_flows, ofmsg
from apps.fabric import FabricPlugin
from controller.context import Context
from controller.core import Core
from simulations.fabric_sim import FabricCloud

ADMIN = Context.admin()
TENANT = Context("tenant")
#: a ring of four switches with a chord (two loops); a fifth switch hangs off switch 4
TOPOLOGY = [(1, 2), (2, 3), (3, 4), (4, 1), (1, 3), (4, 5)]
SWITCHES = 5


class World:
    """The API, the fabric and what the test did to them."""

    def __init__(self):
        self.plugin = FabricPlugin()
        self.core = Core.from_url("sqlite://", self.plugin)
        self.cloud = FabricCloud(self.plugin, nx.Graph(TOPOLOGY), host_ports=3)
        for dpid in range(1, SWITCHES + 1):
            self.cloud.connect(dpid)
        self.networks, self.ports = [], []
        self.web_id = None

    def do(self, op, a, b):
        getattr(self, op)(a, b)
        return self.cloud.settle()

    def profile(self, a, b):
        dpid = 1 + b % SWITCHES
        return {"datapath_id": dpid, "port_name": self.cloud.host_ports(dpid)[a % 3]}

    # API operations
    def network(self, a, b):
        if len(self.networks) < 3:
            net = self.core.networks.create(TENANT, {"name": f"n{a}"})
            self.core.subnets.create(TENANT, {"network_id": net["id"], "enable_dhcp": b != 0,
                                              "cidr": f"10.{len(self.networks)}.0.0/24"})
            self.networks.append(net["id"])

    def port(self, a, b):
        if self.networks:
            port = self.core.ports.create(ADMIN, {
                "network_id": self.networks[a % len(self.networks)], "tenant_id": "tenant",
                "port_security_enabled": b != 1, "binding:profile": self.profile(a, b)})
            self.ports.append(port["id"])

    def unbound_port(self, a, b):
        if self.networks:
            port = self.core.ports.create(TENANT, {
                "network_id": self.networks[a % len(self.networks)]})
            self.ports.append(port["id"])

    def rebind(self, a, b):
        if self.ports:
            self.core.ports.update(ADMIN, self.ports[a % len(self.ports)],
                                   {"binding:profile": self.profile(a + b, b + 1)})

    def port_admin(self, a, b):
        if self.ports:
            port_id = self.ports[a % len(self.ports)]
            up = self.core.ports.get(ADMIN, port_id)["admin_state_up"]
            self.core.ports.update(ADMIN, port_id, {"admin_state_up": not up})

    def regroup(self, a, b):
        """A port with port security moves to group web (whose rule names the default
        group: its switch then needs default's members, though it is none of them), to no
        group, or back to default."""
        if self.ports:
            port_id = self.ports[a % len(self.ports)]
            if self.core.ports.get(ADMIN, port_id)["port_security_enabled"]:
                groups = ([self.web()], [], [self.default()])[b % 3]
                self.core.ports.update(ADMIN, port_id, {"security_groups": groups})

    def default(self):
        return next(g["id"] for g in self.core.security_groups.list(TENANT)[0]
                    if g["name"] == "default")

    def web(self):
        if self.web_id is None:
            self.web_id = self.core.security_groups.create(TENANT, {"name": "web"})["id"]
            self.core.security_group_rules.create(TENANT, {
                "security_group_id": self.web_id, "direction": "ingress",
                "remote_group_id": self.default()})
        return self.web_id

    def delete_port(self, a, b):
        if self.ports:
            self.core.ports.delete(ADMIN, self.ports.pop(a % len(self.ports)))

    def network_admin(self, a, b):
        if self.networks:
            net_id = self.networks[a % len(self.networks)]
            up = self.core.networks.get(ADMIN, net_id)["admin_state_up"]
            self.core.networks.update(ADMIN, net_id, {"admin_state_up": not up})

    # the fabric's events
    def link_down(self, a, b):
        self.cloud.cable(*TOPOLOGY[a % len(TOPOLOGY)], up=False)

    def link_up(self, a, b):
        self.cloud.cable(*TOPOLOGY[a % len(TOPOLOGY)], up=True)

    def switch_down(self, a, b):
        if self.cloud.switches[1 + b % SWITCHES].is_active:
            self.cloud.disconnect(1 + b % SWITCHES)

    def switch_up(self, a, b):
        if not self.cloud.switches[1 + b % SWITCHES].is_active:
            self.cloud.connect(1 + b % SWITCHES)


OPERATIONS = st.lists(st.tuples(
    st.sampled_from(["network", "port", "port", "port", "unbound_port", "rebind", "port_admin",
                     "regroup", "delete_port", "network_admin", "link_down", "link_up",
                     "switch_down", "switch_up"]),
    st.integers(0, 7), st.integers(0, SWITCHES - 1)), max_size=25)


def encoded(dp, groups):
    return {gid: [b.to_jsondict() for b in ofmsg.group_mod(dp, g, 0).buckets]
            for gid, g in groups.items()}


def check(world):
    ctl, model = world.cloud.controller, world.plugin.model
    bound = fabric_flows.bind_ports(model, ctl.fabric)
    assert ctl.desired.bound == bound
    hosted = fabric_flows.hosted_networks(model, bound)
    assert {n: r.members for n, r in ctl.routes.routes.items()} == hosted
    full = fabric_flows.compile_fabric(model, ctl.fabric, bound, ctl.routes.routes)
    assert set(full) == {d for d, dp in world.cloud.switches.items() if dp.is_active}
    for dpid, state in full.items():
        incremental = ctl.desired.state(dpid)
        assert set(incremental.flows) == set(state.flows)
        assert incremental.groups == state.groups and incremental.meters == state.meters
        dp = world.cloud.switches[dpid]
        assert {e.cookie for e in dp.switch.iter_flows()} == set(state.flows)
        assert {g.group_id: [b.to_jsondict() for b in g.buckets]
                for g in dp.switch.group_desc()} == encoded(dp, state.groups)
        assert set(dp.switch.meters) == set(state.meters)
        assert dp.switch.errors == []
    for port_id in world.ports:
        port = world.core.ports.get(ADMIN, port_id)
        where = bound.get(port_id)
        if where is not None and port["admin_state_up"]:
            assert (port["status"], port["binding:host_id"]) == ("ACTIVE", f"{where[0]:016x}")
        else:
            assert port["status"] == "DOWN"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_switches_hold_what_a_full_compilation_says_after_any_operations(ops):
    # pruning is allowed at once after a (re)connection (LINK_TIMEOUT is for real LLDP)
    with mock.patch.object(fabric, "LINK_TIMEOUT", 0):
        world = World()
        for op, a, b in [("network", 0, 1), ("port", 0, 0), ("port", 1, 2)] + ops:
            world.do(op, a, b)
            check(world)


def test_a_port_change_reaches_only_the_switches_on_its_networks_paths():
    with mock.patch.object(fabric, "LINK_TIMEOUT", 0):
        world = World()
        world.do("network", 0, 1)
        world.do("network", 1, 1)
        world.do("port", 0, 0)          # network 0 on switches 1 and 2 (adjacent)
        world.do("port", 0, 1)
        world.do("port", 1, 3)          # network 1 on switches 4 and 5
        world.do("port", 1, 4)
        before = {d: dp.sent_count() for d, dp in world.cloud.switches.items()}
        work, sent = world.do("port", 2, 0)   # one more port of network 0 on switch 1
        check(world)
        reached = {d for d, dp in world.cloud.switches.items() if dp.sent_count() > before[d]}
        assert reached == {1, 2} and sent > 0
        assert work.switches_visited == 2 and work.switches_touched == 2


def test_a_reconnected_switch_keeps_stale_flows_until_the_links_had_time_to_be_found():
    """After a (controller or switch) restart nothing is deleted from a fabric switch before
    LINK_TIMEOUT: until LLDP has found every link its desired state may be partial."""
    from apps import flows as fl
    world = World()
    world.do("network", 0, 1)
    world.do("port", 0, 0)
    dp = world.cloud.switches[1]
    stale = fl.flow("l2_lookup", fl.PRIO_NORMAL, {"eth_dst": "fa:16:3e:99:99:99"},
                    fl.apply(("output", 1)))
    dp.send_msg(ofmsg.add_flow(dp, stale))
    world.cloud.disconnect(1)
    world.cloud.settle()
    world.cloud.connect(1)
    world.do("port", 1, 0)                           # a new port on switch 1 meanwhile
    held = {e.cookie for e in dp.switch.iter_flows()}
    assert stale.cookie in held and set(world.cloud.controller.desired.state(1).flows) <= held
    world.cloud.controller.switches[1].connected_at -= fabric.LINK_TIMEOUT   # time passes
    world.cloud.controller.kick()                    # what the timer after LINK_TIMEOUT does
    world.cloud.settle()
    check(world)
    assert stale.cookie not in {e.cookie for e in dp.switch.iter_flows()}
