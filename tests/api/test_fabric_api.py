"""Fabric mode through the API: GET /v2.0/qnet/topology, binding:profile checks, unique MACs.

The fabric controller runs in-process without switches: its graph is filled as LLDP would,
and one reconcile pass binds the ports (no switch is connected, so nothing is sent).
"""
import pytest

from apps.fabric import FabricController, FabricPlugin
from controller.core import Core, CoreConfig
from rest.app import build_app
from tests.conftest import Client, snapshot

V2 = "/v2.0"
TOPOLOGY = f"{V2}/qnet/topology"


@pytest.fixture
def fabric(tmp_path):
    plugin = FabricPlugin()
    core = Core.from_url(f"sqlite:///{tmp_path}/qnet.sqlite", plugin, CoreConfig())
    app = FabricController()
    app.attach(plugin)
    plugin.app = app
    for dpid in (1, 2, 3):
        app.fabric.add_switch(dpid, {1: f"s{dpid}-eth1", 2: f"s{dpid}-eth2",
                                     3: f"s{dpid}-eth3"})
    app.fabric.link_up(1, 1, 2, 1)
    app.fabric.link_up(2, 2, 3, 1)
    client = Client(build_app(core, auth="noauth"))
    yield core, app, client.as_project("ops", admin=True), client.as_project("alice")
    core.close()


def make(admin, project="alice"):
    code, net = admin.post(f"{V2}/networks", {"network": {"name": "web",
                                                          "tenant_id": project}})
    assert code == 201, net
    code, sub = admin.post(f"{V2}/subnets", {"subnet": {"network_id": net["network"]["id"],
                                                        "cidr": "10.0.0.0/24",
                                                        "ip_version": 4,
                                                        "tenant_id": project}})
    assert code == 201, sub
    return net["network"]["id"]


def test_noop_plugin_has_no_topology(api):
    code, body = api.as_project("ops", admin=True).get(TOPOLOGY)
    assert code == 404 and "noop plug-in has no topology" in body["NeutronError"]["message"]


def test_topology_is_admin_only(fabric, api):
    _, _, _, alice = fabric
    assert alice.get(TOPOLOGY)[0] == 403
    assert api.get(TOPOLOGY)[0] == 403


def test_topology_shows_switches_links_and_bound_ports(fabric):
    core, app, admin, _ = fabric
    net = make(admin)
    app.wake.clear()
    code, port = admin.post(f"{V2}/ports", {"port": {
        "network_id": net, "tenant_id": "alice",
        "binding:profile": {"datapath_id": "0000000000000003", "port_name": "s3-eth2"}}})
    assert code == 201, port
    code, other = admin.post(f"{V2}/ports", {"port": {
        "network_id": net, "tenant_id": "alice",
        "binding:profile": {"datapath_id": 1, "port_number": 2}}})
    assert code == 201
    assert app.wake.is_set()            # the API change woke the controller's worker
    app.reconcile()
    code, body = admin.get(TOPOLOGY)
    assert code == 200
    topo = body["topology"]
    assert [s["datapath_id"] for s in topo["switches"]] == [f"{i:016x}" for i in (1, 2, 3)]
    s3 = {p["name"]: p for p in topo["switches"][2]["ports"]}
    assert s3["s3-eth1"]["role"] == "fabric" and s3["s3-eth3"]["role"] == "unused"
    assert s3["s3-eth2"] == {"number": 2, "name": "s3-eth2", "role": "host",
                             "port_id": port["port"]["id"]}
    assert [(link["a"]["datapath_id"][-1], link["b"]["datapath_id"][-1], link["status"])
            for link in topo["links"]] == [("1", "2", "UP"), ("2", "3", "UP")]
    assert {p["port_id"]: (p["datapath_id"][-1], p["port_number"]) for p in topo["ports"]} == \
        {port["port"]["id"]: ("3", 2), other["port"]["id"]: ("1", 2)}
    (route,) = topo["networks"]
    assert route["network_id"] == net and route["transit"] == [f"{2:016x}"]
    # bound, but no switch is connected to take its flows: not ACTIVE yet
    assert admin.get(f"{V2}/ports/{port['port']['id']}")[1]["port"]["status"] == "DOWN"


@pytest.mark.parametrize("profile", [{"datapath_id": "nothex", "port_number": 1},
                                     {"datapath_id": 1},
                                     {"datapath_id": 1, "port_number": 0}])
def test_bad_binding_profile_is_400_and_changes_nothing(fabric, profile):
    core, _, admin, _ = fabric
    net = make(admin)
    before = snapshot(core)
    code, body = admin.post(f"{V2}/ports", {"port": {"network_id": net,
                                                     "binding:profile": profile}})
    assert code == 400 and "binding:profile" in body["NeutronError"]["message"]
    assert snapshot(core) == before


def test_binding_profile_is_admin_only(fabric):
    _, _, admin, alice = fabric
    net = make(admin)
    code, _ = alice.post(f"{V2}/ports", {"port": {"network_id": net, "binding:profile": {
        "datapath_id": 1, "port_number": 2}}})
    assert code == 403


def test_a_mac_used_in_another_network_is_refused(fabric):
    core, _, admin, _ = fabric
    a, b = make(admin, "alice"), make(admin, "bob")
    code, port = admin.post(f"{V2}/ports", {"port": {"network_id": a}})
    assert code == 201
    before = snapshot(core)
    code, body = admin.post(f"{V2}/ports", {"port": {"network_id": b, "tenant_id": "bob",
                                                     "mac_address": port["port"]["mac_address"]}})
    assert code == 409 and body["NeutronError"]["type"] == "MacAddressInUse"
    assert snapshot(core) == before


def test_overlay_topology_shows_hypervisors_tunnels_and_bound_ports(tmp_path):
    """The same URL in overlay mode: chassis as OVSDB reports them, and the tunnel mesh."""
    from types import SimpleNamespace

    from apps.openflow import OpenFlowPlugin, QnetController
    from tests.unit.overlay_fixtures import two_hypervisors

    model, chassis = two_hypervisors()
    plugin = OpenFlowPlugin()
    core = Core.from_url(f"sqlite:///{tmp_path}/qnet.sqlite", plugin, CoreConfig())
    try:
        plugin.model = model
        app = QnetController(chassis_monitor=SimpleNamespace(
            chassis={c.system_id: c for c in chassis}))
        app.plugin, plugin.app = plugin, app
        app.desired.update(model, chassis)
        admin = Client(build_app(core, auth="noauth")).as_project("ops", admin=True)
        code, body = admin.get(TOPOLOGY)
        assert code == 200
        topo = body["topology"]
        assert topo["mode"] == "overlay"
        assert [s["chassis"] for s in topo["switches"]] == ["hv1", "hv2"]
        assert {p["name"]: p["role"] for p in topo["switches"][0]["ports"]} == \
            {"tap1": "host", "qvx1": "tunnel"}
        assert topo["tunnels"] == [{"from": "hv1", "to": "hv2", "port": 5},
                                   {"from": "hv2", "to": "hv1", "port": 7}]
        assert {p["port_id"]: p["chassis"] for p in topo["ports"]} == {"p1": "hv1", "p2": "hv2"}
    finally:
        core.close()


def test_qos_limits_become_meters_on_the_edge_switch(fabric):
    """The overlay's per-port meters, reused at the fabric's edge: classify goes through the
    egress meter; the transit switch holds none. qnet-stats tells where the port is bound."""
    from apps import fabric_flows, meters
    core, app, admin, _ = fabric
    net = make(admin)
    code, policy = admin.post(f"{V2}/qos/policies", {"policy": {"name": "10M"}})
    assert code == 201
    pol = policy["policy"]["id"]
    assert admin.post(f"{V2}/qos/policies/{pol}/bandwidth_limit_rules", {
        "bandwidth_limit_rule": {"max_kbps": 10000, "direction": "egress"}})[0] == 201
    code, port = admin.post(f"{V2}/ports", {"port": {
        "network_id": net, "qos_policy_id": pol,
        "binding:profile": {"datapath_id": 3, "port_number": 2}}})
    assert code == 201, port
    admin.post(f"{V2}/ports", {"port": {"network_id": net, "binding:profile": {
        "datapath_id": 1, "port_number": 2}}})
    app.reconcile()
    states = fabric_flows.compile_fabric(core.plugin.model, app.fabric, app.desired.bound,
                                         app.routes.routes)
    def bandwidth(state):      # not the packet-in meters every switch has
        return [m for m in state.meters.values() if m.meter_id < meters.PACKET_IN_METERS]

    (meter,) = bandwidth(states[3])
    assert (meter.meter_id, meter.rate_kbps) == (4, 10000)     # ofport 2, egress
    classify = [f for f in states[3].flows.values()
                if f.table == "classify" and dict(f.match).get("in_port") == 2]
    assert [i for i in classify[0].instructions if i[0] == "meter"] == [("meter", 4)]
    assert bandwidth(states[2]) == [] and bandwidth(states[1]) == []
    code, stats = admin.get(f"{V2}/ports/{port['port']['id']}/qnet-stats")
    assert code == 200, stats
    body = stats[next(iter(stats))]
    assert body["bound"] and body["ofport"] == 2 and body["meters"][0]["rate_kbps"] == 10000


def test_fabric_mode_refuses_routers_and_changes_nothing(fabric):
    core, _, _, alice = fabric
    before = snapshot(core)
    code, body = alice.post(f"{V2}/routers", {"router": {"name": "r1"}})
    assert code == 400 and "fabric mode does not route" in body["NeutronError"]["message"]
    assert snapshot(core) == before
