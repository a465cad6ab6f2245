"""A misconfigured hypervisor is reported loudly: ``chassis_problems`` (pure), and through the
whole back-end (real core and controller, in-process switches): its ports are DOWN with the
reason in binding_error, the topology lists the problem, the log warns once per change."""
import logging

import pytest

from apps.chassis_model import (Chassis, Interface, build_chassis, chassis_problems,
                                plan_tunnels)
from apps import openflow
from apps.openflow import OpenFlowPlugin
from controller.context import Context
from controller.core import Core
from simulations.fakecloud import FakeCloud

TENANT = Context("tenant")
HEALTHY = dict(tunnel_ip="172.16.0.1", datapath_id=1, protocols=("OpenFlow13",),
               fail_mode="secure")


def codes(chassis, openflow_connected=True):
    return [p.code for p in chassis_problems(chassis, openflow_connected)]


def test_a_well_set_up_chassis_has_no_problems():
    assert codes(Chassis("hv1", **HEALTHY)) == []
    assert codes(Chassis("hv1", **{**HEALTHY, "protocols": ()})) == []   # OVS default: 1.0-1.5


@pytest.mark.parametrize("change, code, ports_down", [
    ({"tunnel_ip": None}, "no-tunnel-ip", True),
    ({"protocols": ("OpenFlow10",)}, "wrong-protocols", True),
    ({"bridge_missing": True}, "no-bridge", True),
    ({"connected": False}, "manager-disconnected", True),
    ({"fail_mode": None}, "fail-mode", False),
    ({"fail_mode": "standalone"}, "fail-mode", False),
])
def test_each_misconfiguration_is_named(change, code, ports_down):
    found = chassis_problems(Chassis("hv1", **{**HEALTHY, **change}))
    assert [p.code for p in found] == [code]
    assert found[0].ports_down is ports_down
    assert found[0].message


def test_a_bridge_without_controller_connection_is_a_problem():
    assert codes(Chassis("hv1", **HEALTHY), openflow_connected=False) == [
        "controller-disconnected"]


def test_build_chassis_reads_bridge_settings_and_a_missing_bridge():
    tables = {"Open_vSwitch": {"o": {"external_ids": {"system-id": "hv1"}}},
              "Bridge": {"b": {"name": "br-int", "datapath_id": ["0000000000000001"],
                               "protocols": ["OpenFlow10", "OpenFlow13"],
                               "fail_mode": ["secure"], "ports": []}}}
    ch = build_chassis("hv1", tables)
    assert (ch.protocols, ch.fail_mode, ch.bridge_missing) == (
        ("OpenFlow10", "OpenFlow13"), "secure", False)
    assert build_chassis("hv1", {**tables, "Bridge": {}}).bridge_missing
    assert codes(build_chassis("hv1", {**tables, "Bridge": {}})) == ["no-tunnel-ip",
                                                                     "no-bridge"]


def test_tunnels_are_sourced_from_the_chassis_tunnel_address():
    have = {"qvxa": Interface("qvxa", 3, None, "vxlan", "172.16.0.2", key="flow",
                              qnet_tunnel=True)}
    assert plan_tunnels(have, {"qvxa": "172.16.0.2"}, "172.16.0.1").update == {
        "qvxa": "172.16.0.2"}
    have["qvxa"] = Interface("qvxa", 3, None, "vxlan", "172.16.0.2", key="flow",
                             qnet_tunnel=True, local_ip="172.16.0.1")
    assert plan_tunnels(have, {"qvxa": "172.16.0.2"}, "172.16.0.1").empty


class World:
    def __init__(self):
        self.plugin = OpenFlowPlugin()
        self.core = Core.from_url("sqlite://", self.plugin)
        self.cloud = FakeCloud(self.plugin)
        self.cloud.add_hypervisor("hv1", "172.16.0.1", 1)
        self.cloud.add_hypervisor("hv2", None, 2)          # no qnet-tunnel-ip
        net = self.core.networks.create(TENANT, {"name": "n"})
        self.core.subnets.create(TENANT, {"network_id": net["id"], "cidr": "10.0.0.0/24"})
        self.ports = {}
        for h in (1, 2):
            self.ports[h] = self.core.ports.create(TENANT, {"network_id": net["id"],
                                                            "attachment": f"vm{h}"})["id"]
            self.cloud.plug(f"hv{h}", f"tap{h}", f"vm{h}", TENANT.project_id)
        self.cloud.settle()

    def port(self, h):
        return self.core.ports.get(TENANT, self.ports[h])

    def problems(self):
        return {s["chassis"]: s["problems"] for s in self.plugin.topology()["switches"]}


def test_ports_of_a_hypervisor_without_tunnel_address_say_so(caplog):
    with caplog.at_level(logging.WARNING, logger="apps.openflow"):
        world = World()
    healthy, broken = world.port(1), world.port(2)
    assert healthy["status"] == "ACTIVE" and healthy["binding_error"] is None
    assert broken["status"] == "DOWN"
    assert "hv2" in broken["binding_error"] and "tunnel address" in broken["binding_error"]
    assert broken["binding:vif_type"] == "binding_failed"
    assert broken["binding:host_id"] == "hv2"
    problems = world.problems()
    assert problems["hv1"] == []
    assert any("tunnel address" in p for p in problems["hv2"])
    warnings = [r for r in caplog.records if "hv2" in r.getMessage()]
    assert len(warnings) == 1 and "tunnel address" in warnings[0].getMessage()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="apps.openflow"):
        world.cloud.settle()                            # nothing changed: nothing logged
        assert not caplog.records
    world.cloud.hypervisors["hv2"].tunnel_ip = "172.16.0.2"
    world.cloud.reported.add("hv2")
    world.cloud.settle()
    fixed = world.port(2)
    assert fixed["status"] == "ACTIVE" and fixed["binding_error"] is None
    assert world.problems()["hv2"] == []


def test_a_switch_whose_certificate_names_another_hypervisor_gets_nothing(caplog, monkeypatch):
    """With TLS, a certificate for hv2 on hv1's datapath id is an impostor: not programmed,
    hv1's ports not ACTIVE, logged once."""
    world = World()
    world.cloud.hypervisors["hv2"].tunnel_ip = "172.16.0.2"
    world.cloud.reported.add("hv2")
    world.cloud.settle()
    assert world.port(1)["status"] == "ACTIVE"
    named = {"cn": "hv2"}
    monkeypatch.setattr(openflow, "certificate_name",
                        lambda dp: named["cn"] if dp.id == 1 else None)
    with caplog.at_level(logging.WARNING, logger="apps.openflow"):
        world.plugin.app.kick()
        world.cloud.settle()
        world.plugin.app.kick()
        world.cloud.settle()
    assert world.port(1)["status"] == "DOWN"
    assert "not connected to the OpenFlow controller" in world.port(1)["binding_error"]
    assert [s["connected"] for s in world.plugin.topology()["switches"]] == [False, True]
    assert len([r for r in caplog.records if "certificate is for hv2" in r.getMessage()]) == 1
    named["cn"] = "hv1"
    world.plugin.app.kick()
    world.cloud.settle()
    assert world.port(1)["status"] == "ACTIVE"
