"""The shared switch-programming core (apps/reconcile.py): a wedged switch does not stall the
others, and port status goes back into the core as a Change like any write."""
import pytest
from os_ken.app.ofctl.exception import InvalidDatapath

from apps import flows, reconcile
from apps.model import place
from apps.reconcile import Reconciler, SwitchTimeout
from controller.context import Context
from simulations.fakecloud import CloudController, FakeCloud

TENANT = Context("tenant")


class World:
    """A real core, the real overlay controller, two hypervisors with a port each."""

    def __init__(self):
        self.cloud = FakeCloud.on_core(hypervisors=2)
        self.plugin, self.core = self.cloud.plugin, self.cloud.plugin.core
        net = self.core.networks.create(TENANT, {"name": "n"})
        self.core.subnets.create(TENANT, {"network_id": net["id"], "cidr": "10.0.0.0/24"})
        self.ports = {h: self.core.ports.create(TENANT, {"network_id": net["id"],
                                                         "attachment": f"vm{h}"})["id"]
                      for h in (1, 2)}

    def status(self, h):
        return self.core.ports.get(Context.admin(), self.ports[h])["status"]

    def holds_its_desired_state(self, h):
        model = self.plugin.model
        full = flows.compile_chassis(f"hv{h}", model,
                                     place(model, self.cloud.monitor.chassis.values()))
        return set(self.cloud.flows_of(f"hv{h}")) == set(full.flows)


@pytest.mark.parametrize("failure", [SwitchTimeout(1), InvalidDatapath(result=1)])
def test_a_wedged_or_vanished_switch_is_left_out_and_the_others_are_programmed(monkeypatch,
                                                                               failure):
    world = World()
    world.cloud.settle()                     # both switches in sync, no port bound yet
    wedged = world.cloud.hypervisors["hv1"].dp
    others_done_first = []
    real_begin = CloudController._begin

    def begin(ctl, dp, msg, reply_cls, multi=False):
        if dp is not wedged:
            return real_begin(ctl, dp, msg, reply_cls, multi)

        def wait(timeout=None):
            others_done_first.append(world.holds_its_desired_state(2))
            raise failure                    # no barrier reply, no stats reply
        return wait
    monkeypatch.setattr(CloudController, "_begin", begin)
    desired = world.cloud.controller.desired
    for h in (1, 2):
        world.cloud.plug(f"hv{h}", f"tap{h}", f"vm{h}", TENANT.project_id)
    world.cloud.settle()
    assert world.holds_its_desired_state(2) and world.status(2) == "ACTIVE"
    assert world.status(1) == "DOWN"
    assert others_done_first and all(others_done_first)   # hv2 programmed before hv1 awaited
    assert world.cloud.controller.desired is desired      # the pass did not fail
    switch = world.cloud.controller.switches[wedged.id]
    assert not switch.synced
    monkeypatch.setattr(CloudController, "_begin", real_begin)    # it answers again
    switch.retry_at = 0                      # the time to retry has come: the timer kicks
    world.cloud.controller.kick()
    world.cloud.settle()
    assert world.holds_its_desired_state(1) and world.status(1) == "ACTIVE"


def test_a_request_a_switch_never_answers_times_out(monkeypatch):
    monkeypatch.setattr(reconcile, "SWITCH_TIMEOUT", 0.05)
    app = Reconciler()                       # no ofctl service: nothing will ever answer
    dp = World().cloud.hypervisors["hv1"].dp
    with pytest.raises(SwitchTimeout):
        app._request(dp, dp.ofproto_parser.OFPBarrierRequest(dp),
                     dp.ofproto_parser.OFPBarrierReply)


def test_status_reports_are_changes_and_only_real_ones(core, alice):
    net = core.networks.create(alice, {"name": "n"})
    port = core.ports.create(alice, {"network_id": net["id"]})
    n = len(core.plugin.changes)
    assert core.ports.report_status(port["id"], "DOWN", "", None, None)      # what it is
    assert len(core.plugin.changes) == n
    assert core.ports.report_status(port["id"], "ACTIVE", "hv1", "0000000000000002", 3)
    (change,) = list(core.plugin.changes)[n:]
    assert change.hook == "port_status"
    assert (change.old["status"], change.new["status"]) == ("DOWN", "ACTIVE")
    assert change.new["binding:host_id"] == "hv1"
    assert core.ports.get(alice, port["id"])["status"] == "ACTIVE"
    core.ports.delete(alice, port["id"])
    assert not core.ports.report_status(port["id"], "DOWN", "", None, None)


def test_the_backend_does_not_wake_on_its_own_status_reports():
    world = World()
    world.cloud.settle()
    passes = world.cloud.controller.passes
    world.cloud.plug("hv1", "tap1", "vm1", TENANT.project_id)
    world.cloud.settle()
    assert world.status(1) == "ACTIVE"
    assert world.cloud.controller.passes == passes + 1
