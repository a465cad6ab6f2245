"""QoS through the whole back-end: API writes on a real core, the real controller's incremental
passes, in-process switches (simulations/fakecloud.py). A policy change reaches exactly the
ports it applies to, as one meter-mod per meter and no flow-mod."""
import pytest

from apps import flows, meters
from apps.model import place
from controller.context import Context
from simulations.fakecloud import FakeCloud

TENANT = Context("tenant")


class World:
    def __init__(self):
        self.cloud = FakeCloud.on_core(hypervisors=2)
        self.plugin, self.core = self.cloud.plugin, self.cloud.plugin.core
        self.net = self.core.networks.create(TENANT, {"name": "n"})
        self.core.subnets.create(TENANT, {"network_id": self.net["id"], "cidr": "10.0.0.0/24"})
        self.ports, self.ofports = {}, {}
        for h in (1, 2):
            port = self.core.ports.create(TENANT, {"network_id": self.net["id"],
                                                   "attachment": f"vm{h}"})
            self.ports[h] = port
            self.ofports[h] = self.cloud.plug(f"hv{h}", f"tap{h}", f"vm{h}", TENANT.project_id)
        self.settle()

    def settle(self):
        return self.cloud.settle()

    def switch(self, h):
        return self.cloud.hypervisors[f"hv{h}"].dp.switch

    def meters_on(self, h):
        """The switch's bandwidth meters (not its packet-in meters)."""
        return {m.meter_id: (m.bands[0].rate, m.bands[0].burst_size)
                for m in self.switch(h).meters.values() if m.meter_id < meters.PACKET_IN_METERS}

    def rule(self, policy_id, **attrs):
        return self.core.qos_rules.within(TENANT, policy_id).create(TENANT, attrs)

    def send_from(self, h):
        port = self.ports[3 - h]
        return self.switch(h).trace(
            self.ofports[h], eth_src=self.ports[h]["mac_address"], eth_dst=port["mac_address"],
            eth_type=0x0800, ipv4_src=self.ports[h]["fixed_ips"][0]["ip_address"],
            ipv4_dst=port["fixed_ips"][0]["ip_address"], ip_proto=6)

    def full_recomputation(self, h):
        model = self.plugin.model
        chassis = list(self.cloud.monitor.chassis.values())
        return flows.compile_chassis(f"hv{h}", model, place(model, chassis))


@pytest.fixture
def world():
    return World()


def test_a_policy_reaches_only_the_ports_it_applies_to(world):
    policy = world.core.qos.create(TENANT, {"name": "ten"})
    world.rule(policy["id"], max_kbps=10000)
    world.core.ports.update(TENANT, world.ports[1]["id"], {"qos_policy_id": policy["id"]})
    world.settle()
    egress = meters.meter_id(world.ofports[1], "egress")
    assert world.meters_on(1) == {egress: (10000, 3000)}
    assert world.meters_on(2) == {}
    assert world.send_from(1).meters == [egress]
    assert world.send_from(2).meters == []
    assert set(world.switch(1).meters) == set(world.full_recomputation(1).meters)


def test_a_rule_change_is_one_meter_mod_and_no_flow_mod(world):
    policy = world.core.qos.create(TENANT, {"name": "ten"})
    rule = world.rule(policy["id"], max_kbps=10000)
    world.core.ports.update(TENANT, world.ports[1]["id"], {"qos_policy_id": policy["id"]})
    world.settle()
    flows_before = {h: world.cloud.flows_of(f"hv{h}") for h in (1, 2)}
    world.core.qos_rules.within(TENANT, policy["id"]).update(TENANT, rule["id"],
                                                             {"max_kbps": 50000})
    work, sent = world.settle()
    assert sent == 1
    assert world.meters_on(1) == {meters.meter_id(world.ofports[1], "egress"): (50000, 15000)}
    assert {h: world.cloud.flows_of(f"hv{h}") for h in (1, 2)} == flows_before


def test_network_policy_applies_until_a_port_names_its_own(world):
    wide = world.core.qos.create(TENANT, {"name": "wide"})
    world.rule(wide["id"], max_kbps=2000, direction="ingress")
    world.core.networks.update(TENANT, world.net["id"], {"qos_policy_id": wide["id"]})
    world.settle()
    ingress = {h: meters.meter_id(world.ofports[h], "ingress") for h in (1, 2)}
    assert world.meters_on(1) == {ingress[1]: (2000, 600)}
    assert world.meters_on(2) == {ingress[2]: (2000, 600)}
    assert world.send_from(1).meters == []   # vm2's ingress meter is on hv2, at delivery
    own = world.core.qos.create(TENANT, {"name": "own"})
    world.rule(own["id"], max_kbps=1000)
    world.core.ports.update(TENANT, world.ports[1]["id"], {"qos_policy_id": own["id"]})
    world.settle()
    assert world.meters_on(1) == {meters.meter_id(world.ofports[1], "egress"): (1000, 300)}
    assert world.meters_on(2) == {ingress[2]: (2000, 600)}
    world.core.networks.update(TENANT, world.net["id"], {"qos_policy_id": None})
    world.settle()
    assert world.meters_on(2) == {}
    for h in (1, 2):
        assert set(world.switch(h).meters) == set(world.full_recomputation(h).meters)


def test_removing_the_limit_deletes_the_meter_and_keeps_traffic(world):
    policy = world.core.qos.create(TENANT, {"name": "ten"})
    rule = world.rule(policy["id"], max_kbps=10000)
    world.core.ports.update(TENANT, world.ports[1]["id"], {"qos_policy_id": policy["id"]})
    world.settle()
    world.core.qos_rules.within(TENANT, policy["id"]).delete(TENANT, rule["id"])
    world.settle()
    assert world.meters_on(1) == {}
    out = world.send_from(1)
    assert out.meters == [] and not out.dropped
    assert world.switch(1).errors == []


def test_port_stats_name_the_meters_of_a_bound_port(world):
    policy = world.core.qos.create(TENANT, {"name": "ten"})
    world.rule(policy["id"], max_kbps=10000, direction="ingress")
    world.core.ports.update(TENANT, world.ports[1]["id"], {"qos_policy_id": policy["id"]})
    world.settle()
    stats = world.core.ports.stats(TENANT, world.ports[1]["id"])
    assert stats["bound"] and stats["chassis"] == "hv1" and stats["ofport"] == world.ofports[1]
    [row] = stats["meters"]
    assert (row["direction"], row["rate_kbps"], row["burst_kbits"]) == ("ingress", 10000, 3000)
    unbound = world.core.ports.create(TENANT, {"network_id": world.net["id"]})
    assert world.core.ports.stats(TENANT, unbound["id"]) == {
        "port_id": unbound["id"], "bound": False, "meters": []}
