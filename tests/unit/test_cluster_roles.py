"""Mastership in the switch-programming core (apps/reconcile.py, controller/cluster.py): a
standby keeps its desired state current and writes nothing, neither flows nor status; when it
becomes master it programs the switches; a switch's refusal makes a master stand by."""
from types import SimpleNamespace

from os_ken.ofproto import ofproto_v1_3 as ofp

from controller import metrics
from controller.cluster import Mastership
from controller.context import Context
from tests.unit.test_reconcile import World

TENANT = Context("tenant")


class Lease:
    """Stands for controller/cluster.py's Mastership."""

    def __init__(self, master, generation=1):
        self.master, self.generation, self.refused_with = master, generation, []

    def is_master(self):
        return self.master

    def refused(self, generation):
        self.master = False
        self.refused_with.append(generation)


def test_a_standby_writes_nothing_and_programs_everything_once_master():
    world = World()
    ctl = world.cloud.controller
    ctl.mastership = Lease(master=False)
    sent = ctl.sent
    for h in (1, 2):
        world.cloud.plug(f"hv{h}", f"tap{h}", f"vm{h}", TENANT.project_id)
    world.cloud.settle()
    assert ctl.sent == sent                                  # no flow-mod ...
    assert world.status(1) == world.status(2) == "DOWN"      # ... and no status written
    assert set(ctl.desired.bound) == set(world.ports.values())   # but the state is warm
    ctl.mastership.master = True
    ctl.mastership_changed()
    world.cloud.settle()
    assert world.holds_its_desired_state(1) and world.holds_its_desired_state(2)
    assert world.status(1) == world.status(2) == "ACTIVE"


def refusal(type_, code):
    return SimpleNamespace(msg=SimpleNamespace(
        type=type_, code=code, datapath=SimpleNamespace(id=1, ofproto=ofp)))


def test_a_switch_refusing_our_role_or_a_write_makes_the_master_stand_by():
    world = World()
    ctl = world.cloud.controller
    world.cloud.settle()
    counted = metrics.SWITCH_REFUSALS.labels
    before = {r: counted(r)._value.get() for r in ("stale_role", "is_slave")}
    for type_, code in ((ofp.OFPET_ROLE_REQUEST_FAILED, ofp.OFPRRFC_STALE),
                        (ofp.OFPET_BAD_REQUEST, ofp.OFPBRC_IS_SLAVE)):
        ctl.mastership = Lease(master=True)
        ctl._switch_error(refusal(type_, code))
        assert not ctl.is_master() and set(ctl.mastership.refused_with) == {1}
    assert ctl.refusals == 2
    # exported in /metrics (qnet_switch_refusals_total{reason=...}), one of each
    assert {r: counted(r)._value.get() - before[r] for r in before} == \
        {"stale_role": 1, "is_slave": 1}
    assert all(s.synced for s in ctl.switches.values())      # not a reason to resync


def switch(world, h):
    return world.cloud.hypervisors[f"hv{h}"].dp.switch


def test_a_stale_master_writes_nothing_through_a_fresh_connection():
    """Another instance announced generation 5 to both switches; this one still believes it is
    master with generation 4 (it was paused, say) and its connections are new, hence EQUAL,
    whose writes a switch would take. Its role request is refused, so it writes nothing."""
    world = World()
    ctl = world.cloud.controller
    for h in (1, 2):
        switch(world, h).other_master(5)
    ctl.mastership = Lease(master=True, generation=4)
    for h in (1, 2):
        world.cloud.plug(f"hv{h}", f"tap{h}", f"vm{h}", TENANT.project_id)
    world.cloud.settle()
    assert switch(world, 1).flow_count() == switch(world, 2).flow_count() == 0
    assert not ctl.is_master() and set(ctl.mastership.refused_with) == {4}
    assert world.status(1) == world.status(2) == "DOWN"


def test_a_master_claims_its_role_once_and_a_newer_master_makes_its_writes_refused():
    world = World()
    ctl = world.cloud.controller
    ctl.mastership = Lease(master=True, generation=1)
    world.cloud.plug("hv1", "tap1", "vm1", TENANT.project_id)
    world.cloud.settle()
    world.cloud.plug("hv2", "tap2", "vm2", TENANT.project_id)
    world.cloud.settle()
    assert world.holds_its_desired_state(1) and world.holds_its_desired_state(2)
    dp = world.cloud.hypervisors["hv1"].dp
    assert dp.sent_counts["OFPRoleRequest"] == 1      # confirmed once, then written freely
    assert (switch(world, 1).role, switch(world, 1).generation) == (ofp.OFPCR_ROLE_MASTER, 1)
    held = set(world.cloud.flows_of("hv1"))
    switch(world, 1).other_master(2)           # another instance took over hv1's switch
    world.cloud.unplug("hv1", "tap1")          # a change this instance still tries to write
    world.cloud.settle()
    assert set(world.cloud.flows_of("hv1")) == held      # refused: nothing reached a table
    assert not ctl.is_master() and set(ctl.mastership.refused_with) == {1}


def test_a_refused_generation_is_never_master_again():
    told = []
    lease = Mastership(db=None, instance_id="me", on_change=lambda: told.append(1))
    lease.master, lease.generation, lease.valid_until = True, 7, float("inf")
    assert lease.is_master()
    lease.refused(7)
    assert not lease.is_master() and told
    lease.generation = 8                                     # the lease taken again
    assert lease.is_master()


def test_the_lease_goes_to_one_instance_and_to_another_when_it_expires(tmp_path, monkeypatch):
    from controller import cluster
    from controller.db import Database
    db = Database(f"sqlite:///{tmp_path}/lease.sqlite")
    a, b = Mastership(db, "a"), Mastership(db, "b")
    a.tick()
    b.tick()
    assert (a.is_master(), b.is_master(), a.generation, b.generation) == (True, False, 1, 1)
    monkeypatch.setattr(cluster, "LEASE_TTL", 0.0)    # a's renewals now expire at once
    a.tick()
    assert not a.is_master()                           # a master only while it is valid
    b.tick()                                           # expired: b takes it, generation 2
    monkeypatch.setattr(cluster, "LEASE_TTL", 30.0)
    b.tick()
    a.tick()
    assert (a.is_master(), b.is_master(), b.generation, a.generation) == (False, True, 2, 2)
    db.dispose()


def test_a_master_cut_off_from_the_database_says_so_when_its_lease_runs_out():
    """No tick is tried without a listener; ``lapse`` still ends the mastership by the clock
    and tells the switch-programming core, which announces SLAVE."""
    told = []
    lease = Mastership(db=None, instance_id="me", on_change=lambda: told.append(1))
    lease.master, lease.generation, lease.valid_until = True, 3, float("inf")
    lease.lapse()
    assert lease.is_master() and len(told) == 1              # master: told once
    lease.valid_until = 0.0                                  # the lease ran out unrenewed
    lease.lapse()
    assert not lease.is_master() and len(told) == 2          # told it stands by
