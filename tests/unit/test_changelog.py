"""The change log (controller/changelog.py): two cores on one database stand for two instances
of a cluster; what one commits, the other's plug-in is handed from the log, for every resource
the core emits Changes for; the consistency check finds nothing after ordinary traffic and
repairs what the log could not say."""
import time

import pytest
from sqlalchemy import delete, text

from controller import changelog
from controller.context import Context
from controller.core import Core
from controller.models import ChangeRecord, Port
from controller.plugins.noop import NoopPlugin

ALICE = Context("alice")
ADMIN = Context.admin()


@pytest.fixture
def pair(tmp_path):
    url = f"sqlite:///{tmp_path}/cluster.sqlite"
    a, b = Core.from_url(url, NoopPlugin()), Core.from_url(url, NoopPlugin())
    yield a, b
    a.close()
    b.close()


def traffic(core):
    """A bit of everything: networks, subnets, ports, a QoS policy and its rule, a router with
    a gateway and an interface, a floating IP, updates and deletes; returns the id of a port
    that stays."""
    net = core.networks.create(ALICE, {"name": "n1"})
    sub = core.subnets.create(ALICE, {"network_id": net["id"], "cidr": "10.0.0.0/24"})
    gone = core.ports.create(ALICE, {"network_id": net["id"]})
    stays = core.ports.create(ALICE, {"network_id": net["id"], "name": "p"})
    core.ports.update(ALICE, stays["id"], {"name": "p2", "admin_state_up": False})
    core.ports.delete(ALICE, gone["id"])
    policy = core.qos.create(ADMIN, {"name": "slow", "project_id": "alice"})
    core.qos_rules.within(ADMIN, policy["id"]).create(ADMIN, {"max_kbps": 1000})
    core.networks.update(ALICE, net["id"], {"qos_policy_id": policy["id"]})
    outside = core.networks.create(ADMIN, {"name": "ext", "router:external": True,
                                           "project_id": "alice"})
    core.subnets.create(ADMIN, {"network_id": outside["id"], "cidr": "192.0.2.0/24",
                                "project_id": "alice"})
    router = core.routers.create(ALICE, {"name": "r", "external_gateway_info": {
        "network_id": outside["id"]}})
    core.routers.add_router_interface(ALICE, router["id"], {"subnet_id": sub["id"]})
    fip = core.floating_ips.create(ALICE, {"floating_network_id": outside["id"],
                                           "port_id": stays["id"]})
    core.floating_ips.update(ALICE, fip["id"], {"port_id": None})
    return stays["id"]


def hooks(plugin):
    return [(c.hook, c.current["id"] if c.current else c.subject.id) for c in plugin.changes]


def test_the_other_instance_is_handed_every_change(pair):
    a, b = pair
    traffic(a)
    assert b.feed.catch_up() == len(a.plugin.changes)
    assert hooks(b.plugin) == hooks(a.plugin)
    assert [c.after for c in b.plugin.changes] == [c.after for c in a.plugin.changes]
    assert b.feed.catch_up() == 0                   # each row once
    assert a.feed.catch_up() == 0                   # its own writes were handed over at commit


def test_no_difference_after_traffic_on_both(pair):
    a, b = pair
    traffic(a)
    port = traffic(b)
    a.ports.update(ALICE, port, {"name": "from-a"})
    for core in pair:
        core.feed.catch_up()
    assert a.feed.check() == 0 and b.feed.check() == 0


def test_a_write_the_log_missed_is_repaired(pair):
    a, b = pair
    port = traffic(a)
    b.feed.catch_up()
    with a.db.write_sessions() as session, session.begin():   # behind the core's back
        session.execute(delete(Port).where(Port.id == port))
    assert b.feed.catch_up() == 0
    seen = len(b.plugin.changes)
    assert b.feed.check() == 1
    repair = b.plugin.changes[seen]
    assert (repair.hook, repair.before.id, repair.after) == ("port_deleted", port, None)
    assert b.feed.check() == 0


def test_an_older_remote_change_never_overwrites_a_newer_local_one(pair):
    a, b = pair
    port = traffic(a)
    b.feed.catch_up()
    a.ports.update(ALICE, port, {"admin_state_up": True})     # not read by b yet ...
    b.ports.update(ALICE, port, {"name": "newer"})            # ... and b changes it again
    b.feed.catch_up()
    assert b.plugin.changes[-1].new["name"] == "newer"
    assert b.feed.check() == 0


def test_a_row_without_values_is_repaired_by_the_check(pair):
    a, b = pair
    net = a.networks.create(ALICE, {"name": "n"})
    b.feed.catch_up()
    with a.db.write_sessions() as session, session.begin():
        session.execute(text("UPDATE networks SET mtu = 1400 WHERE id = :id"), {"id": net["id"]})
        session.add(ChangeRecord(origin=a.instance_id, resource="network", resource_id=net["id"],
                                 action="updated", context="{}"))     # says nothing more
    b.feed.catch_up()
    assert b.plugin.changes[-1].after.mtu == 1400


def test_numbers_committed_late_are_read_and_rolled_back_ones_given_up(pair, monkeypatch):
    _, b = pair
    feed = b.feed
    feed.position = feed.highest = 10
    for seq in (11, 14):
        assert not feed._note(seq)
    feed._advance()
    assert feed.position == 11 and set(feed.gaps) == {12, 13}
    feed._note(13)                                   # committed late
    feed._advance()
    assert feed.position == 11 and set(feed.gaps) == {12}
    monkeypatch.setattr(changelog, "GAP_TIMEOUT", 0.0)
    time.sleep(0.001)
    feed._advance()                                  # 12 was rolled back
    assert feed.position == 14 and not feed.gaps and not feed.above


def test_too_many_missing_numbers_ask_for_a_check(pair):
    _, b = pair
    b.feed.position = b.feed.highest = 1
    assert b.feed._note(changelog.MAX_GAPS + 10)


def test_resources_of_the_snapshot():
    assert changelog.FIELDS["qos_policy"] == "qos_policies"
    assert changelog.FIELDS["port"] == "ports"
    assert "active_hosts" not in changelog.FIELDS.values()


def test_rows_older_than_the_retention_are_trimmed_but_never_the_newest(pair, monkeypatch):
    a, _ = pair
    traffic(a)
    monkeypatch.setattr(changelog, "RETENTION", changelog.datetime.timedelta(seconds=-5))
    a.feed.trim()
    with a.db.read() as session:
        assert session.query(ChangeRecord).count() == 1


def test_rbac_entries_take_effect_on_the_other_instance(pair):
    """An entry is database state both instances read (visibility is a query), so the other
    instance answers by it at once; what the change log carries is the mirrored ``shared``
    flipping (a network update: no back-end acts on sharing)."""
    a, b = pair
    net = a.networks.create(ALICE, {"name": "team"})
    b.feed.catch_up()
    a.rbac_policies.create(ALICE, {"object_type": "network", "object_id": net["id"],
                                   "action": "access_as_shared", "target_tenant": "carol"})
    assert b.feed.catch_up() == 0            # nothing the back-end needs to hear of
    assert b.networks.get(Context("carol"), net["id"])["id"] == net["id"]
    star = a.rbac_policies.create(ADMIN, {"object_type": "network", "object_id": net["id"],
                                          "action": "access_as_shared", "target_tenant": "*"})
    assert b.feed.catch_up() == 1
    change = b.plugin.changes[-1]
    assert (change.hook, change.old["shared"], change.new["shared"]) == (
        "network_updated", False, True)
    assert change.after == change.before     # the typed model: nothing for switches to redo
    a.rbac_policies.delete(ADMIN, star["id"])
    b.feed.catch_up()
    assert b.plugin.changes[-1].new["shared"] is False
    # as each caller sees it: carol's own entry remains, the owner sees the * entry only
    assert b.networks.get(Context("carol"), net["id"])["shared"] is True
    assert b.networks.get(ALICE, net["id"])["shared"] is False
