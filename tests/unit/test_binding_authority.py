"""The binding authority through the whole back-end (API writes on a real core, the real
controller's incremental passes, in-process switches): a hypervisor interface binds a port by
its id, or by its attachment only for the project it declares; another project naming the same
attachment binds nothing of it, and an undeclared claim binds nothing and says why."""
import pytest

from apps import flows
from apps.model import place
from controller.context import Context
from simulations.fakecloud import FakeCloud

ALICE, BOB, ADMIN = Context("alice"), Context("bob"), Context("ops", is_admin=True)
IFACE = "nova.example.com/alice/server/web-1/eth0"


class World:
    def __init__(self):
        self.cloud = FakeCloud.on_core(hypervisors=2)
        self.plugin, self.core = self.cloud.plugin, self.cloud.plugin.core
        self.ports = {}
        for ctx, cidr in ((ALICE, "10.0.0.0/24"), (BOB, "10.0.0.0/24")):
            net = self.core.networks.create(ctx, {"name": ctx.project_id})
            self.core.subnets.create(ctx, {"network_id": net["id"], "cidr": cidr})
            self.ports[ctx.project_id] = self.core.ports.create(
                ctx, {"network_id": net["id"], "attachment": IFACE})
        self.cloud.settle()

    def port(self, project):
        return self.core.ports.get(ADMIN, self.ports[project]["id"])

    def bound(self):
        """{project: (status, host if ACTIVE, binding error)} of the two ports."""
        out = {}
        for p in ("alice", "bob"):
            port = self.port(p)
            host = port["binding:host_id"] if port["status"] == "ACTIVE" else ""
            out[p] = (port["status"], host, port["binding_error"])
        return out

    def full_placement(self):
        """The full recomputation's bindings (apps/model.py place)."""
        return place(self.plugin.model, self.cloud.controller.connected_chassis()).bound

    def incremental(self):
        return self.cloud.controller.desired


@pytest.fixture
def world():
    w = World()
    yield w
    w.core.close()


def test_an_attachment_binds_only_for_the_declared_project(world):
    world.cloud.plug("hv1", "tap-a", IFACE, "alice")
    world.cloud.settle()
    assert world.bound() == {"alice": ("ACTIVE", "hv1", None), "bob": ("DOWN", "", None)}
    world.cloud.plug("hv2", "tap-b", IFACE, "bob")
    world.cloud.settle()
    assert world.bound() == {"alice": ("ACTIVE", "hv1", None), "bob": ("ACTIVE", "hv2", None)}
    # the full recomputation agrees with the incremental passes
    assert world.full_placement() == world.incremental().bound
    full = flows.compile_chassis("hv1", world.plugin.model, place(
        world.plugin.model, world.cloud.controller.connected_chassis()))
    assert set(full.flows) == set(world.incremental().state("hv1").flows)


def test_a_claim_for_another_project_binds_nothing(world):
    """B's hypervisor (or a forged report) claiming A's interface id for bob binds bob's port,
    never alice's; claiming it for a project that holds no such attachment binds nothing."""
    world.cloud.plug("hv2", "tap-x", IFACE, "mallory")
    world.cloud.settle()
    assert world.bound() == {"alice": ("DOWN", "", None), "bob": ("DOWN", "", None)}
    assert world.full_placement() == {}


def test_an_undeclared_attachment_claim_binds_nothing_and_says_why(world):
    world.cloud.plug("hv1", "tap-a", IFACE)
    world.cloud.settle()
    status = world.bound()
    assert [s[:2] for s in status.values()] == [("DOWN", ""), ("DOWN", "")]
    assert all("qnet-project-id" in s[2] for s in status.values())
    assert world.port("alice")["binding:vif_type"] == "binding_failed"
    assert world.full_placement() == {}
    # the hypervisor declares the project: alice's port binds, the error goes
    world.cloud.unplug("hv1", "tap-a")
    world.cloud.plug("hv1", "tap-a", IFACE, "alice")
    world.cloud.settle()
    assert world.bound() == {"alice": ("ACTIVE", "hv1", None), "bob": ("DOWN", "", None)}


def test_a_port_id_binds_its_port_whatever_is_declared(world):
    bob_port = world.ports["bob"]["id"]
    world.cloud.plug("hv2", "tap-b", bob_port)
    world.cloud.settle()
    assert world.bound() == {"alice": ("DOWN", "", None), "bob": ("ACTIVE", "hv2", None)}
    assert world.full_placement() == world.incremental().bound


def test_after_alice_detaches_her_interface_binds_nothing_of_bob(world):
    world.cloud.plug("hv1", "tap-a", IFACE, "alice")
    world.cloud.settle()
    world.core.ports.update(ALICE, world.ports["alice"]["id"], {"attachment": None})
    world.cloud.settle()
    assert world.bound() == {"alice": ("DOWN", "", None), "bob": ("DOWN", "", None)}
    world.core.ports.update(ALICE, world.ports["alice"]["id"], {"attachment": IFACE})
    world.cloud.settle()
    assert world.bound() == {"alice": ("ACTIVE", "hv1", None), "bob": ("DOWN", "", None)}
