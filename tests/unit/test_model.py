"""The logical model through the core: allocation, conflicts, tenancy, transactions, plug-in."""
import pytest

from sqlalchemy import func, select

from controller import errors, ipam
from controller.models import IPAllocation
from controller.core import Core, CoreConfig
from controller.plugin import Plugin
from tests.conftest import snapshot


def net_with_subnet(core, ctx, cidr="10.0.0.0/24", **net):
    n = core.networks.create(ctx, {"name": "n", **net})
    s = core.subnets.create(ctx, {"network_id": n["id"], "cidr": cidr})
    return n, s


# -- networks and VNIs -------------------------------------------------------------------------
def test_vnis_are_unique_and_come_from_the_configured_range(tmp_path, alice):
    core = Core.from_url(f"sqlite:///{tmp_path}/v.sqlite", "noop",
                         CoreConfig(vni_min=5000, vni_max=5002))
    vnis = [core.networks.create(alice, {})["provider:segmentation_id"] for _ in range(3)]
    assert vnis == [5000, 5001, 5002]
    with pytest.raises(errors.NoSegmentationIdAvailable):
        core.networks.create(alice, {})
    # a freed VNI in the middle of the range is found again once the top is reached
    middle = core.networks.list(alice, {"provider:segmentation_id": [5001]})[0][0]
    core.networks.delete(alice, middle["id"])
    assert core.networks.create(alice, {})["provider:segmentation_id"] == 5001


def test_admin_picks_vni_and_duplicates_conflict(core, admin, alice):
    n = core.networks.create(admin, {"project_id": "alice", "provider:segmentation_id": 77})
    assert n["provider:segmentation_id"] == 77 and n["project_id"] == "alice"
    with pytest.raises(errors.SegmentationIdInUse):
        core.networks.create(admin, {"project_id": "x", "provider:segmentation_id": 77})


def test_network_defaults(core, alice):
    n = core.networks.create(alice, {"name": "dmz-net"})
    assert (n["mtu"], n["status"], n["admin_state_up"], n["shared"]) == (1450, "ACTIVE", True,
                                                                         False)
    with pytest.raises(errors.InvalidInput):
        core.networks.create(alice, {"mtu": 20})


def test_delete_network_with_ports_is_refused_and_subnets_go_with_it(core, alice):
    n, s = net_with_subnet(core, alice)
    p = core.ports.create(alice, {"network_id": n["id"]})
    with pytest.raises(errors.NetworkInUse):
        core.networks.delete(alice, n["id"])
    core.ports.delete(alice, p["id"])
    core.networks.delete(alice, n["id"])
    with pytest.raises(errors.SubnetNotFound):
        core.subnets.get(alice, s["id"])
    hooks = [c.hook for c in core.plugin.changes]
    assert hooks[-2:] == ["subnet_deleted", "network_deleted"]


# -- subnets -----------------------------------------------------------------------------------
def test_subnet_overlap_in_one_network_is_refused_but_fine_across_tenants(core, alice, bob):
    n, _ = net_with_subnet(core, alice, "10.0.0.0/24")
    with pytest.raises(errors.SubnetOverlap):
        core.subnets.create(alice, {"network_id": n["id"], "cidr": "10.0.0.128/25"})
    other, s2 = net_with_subnet(core, bob, "10.0.0.0/24")
    assert s2["cidr"] == "10.0.0.0/24"


def test_subnet_without_gateway_and_ipv6(core, alice):
    n = core.networks.create(alice, {})
    s4 = core.subnets.create(alice, {"network_id": n["id"], "cidr": "10.9.0.0/30",
                                     "gateway_ip": None})
    assert s4["gateway_ip"] is None
    assert s4["allocation_pools"] == [{"start": "10.9.0.1", "end": "10.9.0.2"}]
    s6 = core.subnets.create(alice, {"network_id": n["id"], "cidr": "2001:db8::/64"})
    assert (s6["ip_version"], s6["gateway_ip"]) == (6, "2001:db8::1")
    p = core.ports.create(alice, {"network_id": n["id"]})
    versions = sorted(":" in ip["ip_address"] for ip in p["fixed_ips"])
    assert versions == [False, True]  # dual stack: one IPv4 and one IPv6 address


def test_subnet_in_use_cannot_be_deleted(core, alice):
    n, s = net_with_subnet(core, alice)
    p = core.ports.create(alice, {"network_id": n["id"]})
    with pytest.raises(errors.SubnetInUse):
        core.subnets.delete(alice, s["id"])
    core.ports.delete(alice, p["id"])
    core.subnets.delete(alice, s["id"])


def test_subnet_update_gateway_cannot_take_a_used_address(core, alice):
    n, s = net_with_subnet(core, alice, "10.0.0.0/29")
    p = core.ports.create(alice, {"network_id": n["id"],
                                  "fixed_ips": [{"ip_address": "10.0.0.6"}]})
    with pytest.raises(errors.IpAddressInUse):
        core.subnets.update(alice, s["id"], {"gateway_ip": "10.0.0.6",
                                             "allocation_pools": [{"start": "10.0.0.2",
                                                                   "end": "10.0.0.5"}]})
    assert core.subnets.get(alice, s["id"])["gateway_ip"] == "10.0.0.1"
    assert p["fixed_ips"][0]["ip_address"] == "10.0.0.6"


# -- ports and IPAM ----------------------------------------------------------------------------
def test_ipam_never_hands_out_gateway_network_or_broadcast_and_409_when_full(core, alice):
    n, s = net_with_subnet(core, alice, "10.0.0.0/28")
    ips = {core.ports.create(alice, {"network_id": n["id"]})["fixed_ips"][0]["ip_address"]
           for _ in range(13)}
    assert len(ips) == 13
    assert not ips & {"10.0.0.0", "10.0.0.1", "10.0.0.15"}
    before = snapshot(core)
    with pytest.raises(errors.IpAddressGenerationFailure):
        core.ports.create(alice, {"network_id": n["id"]})
    assert snapshot(core) == before


def test_released_address_is_reused(core, alice):
    n, s = net_with_subnet(core, alice, "10.0.0.0/30")  # one usable address: .2
    p = core.ports.create(alice, {"network_id": n["id"]})
    assert p["fixed_ips"][0]["ip_address"] == "10.0.0.2"
    core.ports.delete(alice, p["id"])
    assert core.ports.create(alice, {"network_id": n["id"]})["fixed_ips"][0]["ip_address"] \
        == "10.0.0.2"


def test_requested_addresses(core, alice):
    n, s = net_with_subnet(core, alice)
    p = core.ports.create(alice, {"network_id": n["id"],
                                  "fixed_ips": [{"subnet_id": s["id"], "ip_address": "10.0.0.50"}]})
    assert p["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "10.0.0.50"}]
    with pytest.raises(errors.IpAddressInUse):
        core.ports.create(alice, {"network_id": n["id"], "fixed_ips": [{"ip_address": "10.0.0.50"}]})
    with pytest.raises(errors.IpAddressInUse):  # the gateway is not for ordinary ports
        core.ports.create(alice, {"network_id": n["id"], "fixed_ips": [{"ip_address": "10.0.0.1"}]})
    router = core.ports.create(alice, {"network_id": n["id"], "device_owner":
                                       "network:router_interface",
                                       "fixed_ips": [{"ip_address": "10.0.0.1"}]})
    assert router["fixed_ips"][0]["ip_address"] == "10.0.0.1"
    for bad in ("10.0.0.255", "10.0.0.0", "192.168.1.1"):
        with pytest.raises(errors.InvalidInput):
            core.ports.create(alice, {"network_id": n["id"], "fixed_ips": [{"ip_address": bad}]})


def test_update_fixed_ips_keeps_moves_and_releases(core, alice):
    n, s = net_with_subnet(core, alice)
    p = core.ports.create(alice, {"network_id": n["id"], "fixed_ips": [{"ip_address": "10.0.0.5"}]})
    p = core.ports.update(alice, p["id"], {"fixed_ips": [{"ip_address": "10.0.0.5"},
                                                         {"ip_address": "10.0.0.6"}]})
    assert sorted(i["ip_address"] for i in p["fixed_ips"]) == ["10.0.0.5", "10.0.0.6"]
    p = core.ports.update(alice, p["id"], {"fixed_ips": [{"ip_address": "10.0.0.6"}]})
    assert [i["ip_address"] for i in p["fixed_ips"]] == ["10.0.0.6"]
    other = core.ports.create(alice, {"network_id": n["id"],
                                      "fixed_ips": [{"ip_address": "10.0.0.5"}]})
    assert other["fixed_ips"][0]["ip_address"] == "10.0.0.5"  # released by the update
    kept = core.ports.update(alice, p["id"], {"fixed_ips": [{"subnet_id": s["id"]}]})
    assert [i["ip_address"] for i in kept["fixed_ips"]] == ["10.0.0.6"]


def test_macs_unique_per_network(core, alice):
    n1, _ = net_with_subnet(core, alice)
    n2 = core.networks.create(alice, {})
    mac = "fa:16:3e:00:00:01"
    core.ports.create(alice, {"network_id": n1["id"], "mac_address": mac})
    with pytest.raises(errors.MacAddressInUse):
        core.ports.create(alice, {"network_id": n1["id"], "mac_address": mac})
    assert core.ports.create(alice, {"network_id": n2["id"], "mac_address": mac})["mac_address"] \
        == mac
    macs = {core.ports.create(alice, {"network_id": n1["id"]})["mac_address"] for _ in range(20)}
    assert len(macs) == 20 and all(m.startswith("fa:16:3e:") for m in macs)


def test_generated_mac_that_clashes_is_drawn_again(core, alice, monkeypatch):
    # Generated MACs are not looked up before the INSERT: the unique constraint catches a clash
    # and the whole create runs again with a new draw, leaving no trace of the first attempt.
    n, s = net_with_subnet(core, alice)
    taken = core.ports.create(alice, {"network_id": n["id"]})
    draws = iter([taken["mac_address"], "fa:16:3e:aa:bb:cc"])
    monkeypatch.setattr(ipam, "random_mac", lambda prefix, rng=None: next(draws))
    port = core.ports.create(alice, {"network_id": n["id"]})
    assert port["mac_address"] == "fa:16:3e:aa:bb:cc"
    ports = core.ports.list(alice, {"network_id": [n["id"]]})[0]
    assert sorted(p["id"] for p in ports) == sorted([taken["id"], port["id"]])
    with core.db.read() as session:  # the lost attempt's address went back with it
        assert session.scalar(select(func.count()).select_from(IPAllocation)) == 2


def test_interface_plugs_into_one_port_of_its_project_only(core, alice, bob):
    n, _ = net_with_subnet(core, alice)
    vif = "nova.example.com/alice/server/1/eth0"
    p1 = core.ports.create(alice, {"network_id": n["id"], "attachment": vif})
    p2 = core.ports.create(alice, {"network_id": n["id"]})
    with pytest.raises(errors.AlreadyAttached):
        core.ports.update(alice, p2["id"], {"attachment": vif})
    # another project naming the same interface blocks no one (it binds nothing of alice's:
    # controller/binding.py)
    nb = core.networks.create(bob, {})
    theirs = core.ports.create(bob, {"network_id": nb["id"], "attachment": vif})
    core.ports.update(alice, p1["id"], {"attachment": None})
    assert core.ports.update(alice, p2["id"], {"attachment": vif})["attachment"] == vif
    hooks = [(c.hook, c.current["project_id"], (c.old or {}).get("attachment"),
              (c.new or {}).get("attachment"))
             for c in core.plugin.changes if c.resource == "interface"]
    assert hooks == [("interface_plugged", "alice", None, vif),
                     ("interface_plugged", "bob", None, vif),
                     ("interface_unplugged", "alice", vif, None),
                     ("interface_plugged", "alice", None, vif)]
    assert theirs["attachment"] == vif


def test_port_security_and_address_pairs(core, alice):
    n, _ = net_with_subnet(core, alice)
    p = core.ports.create(alice, {"network_id": n["id"], "allowed_address_pairs": [
        {"ip_address": "10.0.0.200"}, {"ip_address": "10.1.0.0/24",
                                       "mac_address": "fa:16:3e:aa:bb:cc"}]})
    assert p["allowed_address_pairs"] == [
        {"ip_address": "10.0.0.200", "mac_address": p["mac_address"]},
        {"ip_address": "10.1.0.0/24", "mac_address": "fa:16:3e:aa:bb:cc"}]
    with pytest.raises(errors.Conflict):
        core.ports.update(alice, p["id"], {"port_security_enabled": False,
                                           "security_groups": []})
    p = core.ports.update(alice, p["id"], {"allowed_address_pairs": [], "security_groups": [],
                                           "port_security_enabled": False})
    assert p["port_security_enabled"] is False


# -- tenancy -----------------------------------------------------------------------------------
def test_tenants_see_only_their_own_and_shared(core, alice, bob, admin):
    private, _ = net_with_subnet(core, alice)
    shared = core.networks.create(admin, {"project_id": "alice", "shared": True})
    with pytest.raises(errors.NetworkNotFound):
        core.networks.get(bob, private["id"])
    with pytest.raises(errors.NetworkNotFound):
        core.ports.create(bob, {"network_id": private["id"]})
    assert [n["id"] for n in core.networks.list(bob)[0]] == [shared["id"]]
    assert core.ports.create(bob, {"network_id": shared["id"]})["project_id"] == "bob"
    with pytest.raises(errors.PolicyNotAuthorized):
        core.networks.update(bob, shared["id"], {"name": "mine"})
    with pytest.raises(errors.PolicyNotAuthorized):
        core.subnets.create(bob, {"network_id": shared["id"], "cidr": "10.5.0.0/24"})
    with pytest.raises(errors.PolicyNotAuthorized):  # sharing is the admin's (policy)
        core.networks.update(alice, shared["id"], {"shared": False})
    with pytest.raises(errors.Conflict):  # bob's port keeps the network shared
        core.networks.update(admin, shared["id"], {"shared": False})
    assert len(core.networks.list(admin)[0]) == 2
    with pytest.raises(errors.PolicyNotAuthorized):
        core.networks.create(bob, {"project_id": "alice"})


# -- transactions and the plug-in contract -----------------------------------------------------
class VetoPorts(Plugin):
    name = "veto"

    def __init__(self):
        self.seen = []

    def check(self, change):
        if change.resource == "port":
            raise errors.Conflict("back-end refuses ports")

    def notify(self, change):
        self.seen.append(change)


def test_plugin_veto_rolls_back_everything(tmp_path, alice):
    plugin = VetoPorts()
    core = Core.from_url(f"sqlite:///{tmp_path}/veto.sqlite", plugin)
    n, _ = net_with_subnet(core, alice)
    before = snapshot(core)
    with pytest.raises(errors.Conflict, match="refuses"):
        core.ports.create(alice, {"network_id": n["id"]})
    assert snapshot(core) == before
    assert [c.hook for c in plugin.seen] == ["network_created", "subnet_created"]


class Broken(Plugin):
    name = "broken"

    def network_created(self, change):
        raise RuntimeError("switch on fire")


def test_plugin_failure_after_commit_does_not_lose_the_change(tmp_path, alice):
    core = Core.from_url(f"sqlite:///{tmp_path}/b.sqlite", Broken())
    n = core.networks.create(alice, {"name": "kept"})
    assert core.networks.get(alice, n["id"])["name"] == "kept"


def test_changes_carry_context_old_and_new(core, alice):
    n = core.networks.create(alice, {"name": "a"})
    core.networks.update(alice, n["id"], {"name": "b"})
    change = core.plugin.changes[-1]
    assert (change.hook, change.context.project_id) == ("network_updated", "alice")
    assert (change.old["name"], change.new["name"]) == ("a", "b")
    assert change.new["revision_number"] == change.old["revision_number"] + 1


def test_plugins_are_found_by_entry_point():
    from controller.plugin import available_plugins, load_plugin
    assert "noop" in available_plugins()
    assert load_plugin("noop").name == "noop"
    with pytest.raises(LookupError, match="no qnet plug-in named 'nope'"):
        load_plugin("nope")


def test_list_sort_filter_and_keyset_pages(core, alice):
    for name in ("c", "a", "b", "a"):
        core.networks.create(alice, {"name": name})
    names = [n["name"] for n in core.networks.list(alice, sorts=[("name", "asc")])[0]]
    assert names == ["a", "a", "b", "c"]
    page1, more = core.networks.list(alice, sorts=[("name", "desc")], limit=3)
    assert [n["name"] for n in page1] == ["c", "b", "a"] and more
    page2, more = core.networks.list(alice, sorts=[("name", "desc")], limit=3,
                                     marker=page1[-1]["id"])
    assert [n["name"] for n in page2] == ["a"] and not more
    assert {n["id"] for n in page1 + page2} == {n["id"] for n in core.networks.list(alice)[0]}
    back, more = core.networks.list(alice, sorts=[("name", "desc")], limit=2,
                                    marker=page2[0]["id"], page_reverse=True)
    assert [n["id"] for n in back] == [n["id"] for n in page1[1:]] and more
    assert len(core.networks.list(alice, {"name": ["a", "c"]})[0]) == 3


def test_in_memory_database_works(alice):
    core = Core.from_url("sqlite://", "noop")
    n, _ = net_with_subnet(core, alice)
    assert core.ports.create(alice, {"network_id": n["id"]})["fixed_ips"]
