"""RBAC policies (controller/rbac.py): alice shares with carol only; bob, a stranger, must
neither see nor use nor change any of it, whether he tries before or after alice shares.

Every refusal asserts its code and error type and that nothing changed (``refused`` of the
hostile tests: database snapshot and the back-end's change list).
"""
import pytest

from controller import errors
from controller.context import Context
from controller.core import Core
from controller.models import Network, RbacPolicy
from tests.api.test_hostile import created, ops, refused  # noqa: F401 (ops: a fixture)
from tests.conftest import snapshot

V2 = "/v2.0"
RBAC = f"{V2}/rbac-policies"


@pytest.fixture
def carol(api):
    return api.as_project("carol")


@pytest.fixture
def bob(api):
    return api.as_project("bob")


@pytest.fixture
def net(api):
    """alice's network with a subnet."""
    n = created(api.post(f"{V2}/networks", {"network": {"name": "a-net"}}), "network")
    sub = created(api.post(f"{V2}/subnets", {"subnet": {"network_id": n["id"],
                                                         "cidr": "10.4.0.0/24"}}), "subnet")
    return {**n, "subnet": sub}


def share(client, object_id, target, action="access_as_shared", object_type="network"):
    return client.post(RBAC, {"rbac_policy": {"object_type": object_type, "object_id": object_id,
                                              "action": action, "target_tenant": target}})


def sees(client, net):
    return client.get(f"{V2}/networks/{net['id']}")[0] == 200 and \
        net["id"] in [n["id"] for n in client.get(f"{V2}/networks")[1]["networks"]]


def port_on(client, net, **attrs):
    return created(client.post(f"{V2}/ports", {"port": {"network_id": net["id"], **attrs}}),
                   "port")


def test_a_network_shared_with_one_project_is_that_projects_alone(api, carol, bob, net):
    assert not sees(carol, net)
    entry = created(share(api, net["id"], "carol"), "rbac_policy")
    assert entry == {"id": entry["id"], "project_id": "alice", "tenant_id": "alice",
                     "object_type": "network", "object_id": net["id"],
                     "action": "access_as_shared", "target_tenant": "carol"}
    assert sees(carol, net) and not sees(bob, net)
    assert carol.get(f"{V2}/subnets/{net['subnet']['id']}")[0] == 200
    assert bob.get(f"{V2}/subnets/{net['subnet']['id']}")[0] == 404
    # carol puts a port on it, choosing the subnet as on any shared network
    port = port_on(carol, net, fixed_ips=[{"subnet_id": net["subnet"]["id"]}])
    assert port["project_id"] == "carol"
    # shared as each sees it (Neutron): not shared with everyone, shared with carol
    assert api.get(f"{V2}/networks/{net['id']}")[1]["network"]["shared"] is False
    assert carol.get(f"{V2}/networks/{net['id']}")[1]["network"]["shared"] is True


def test_the_stranger_is_refused_before_and_after_sharing(api, core, carol, bob, net):
    attempt = {"rbac_policy": {"object_type": "network", "object_id": net["id"],
                               "action": "access_as_shared", "target_tenant": "bob"}}
    # B first: nothing shared yet
    refused(core, bob, "POST", RBAC, attempt, 404, "NetworkNotFound")
    refused(core, bob, "POST", f"{V2}/ports", {"port": {"network_id": net["id"]}}, 404,
            "NetworkNotFound")
    # A shares with carol; B still cannot see, use, widen, move or remove the entry
    entry = created(share(api, net["id"], "carol"), "rbac_policy")
    refused(core, bob, "POST", RBAC, attempt, 404, "NetworkNotFound")
    refused(core, bob, "POST", f"{V2}/ports", {"port": {"network_id": net["id"]}}, 404,
            "NetworkNotFound")
    refused(core, bob, "GET", f"{RBAC}/{entry['id']}", None, 404, "RbacPolicyNotFound")
    refused(core, bob, "PUT", f"{RBAC}/{entry['id']}",
            {"rbac_policy": {"target_tenant": "bob"}}, 404, "RbacPolicyNotFound")
    refused(core, bob, "DELETE", f"{RBAC}/{entry['id']}", None, 404, "RbacPolicyNotFound")
    assert bob.get(RBAC)[1]["rbac_policies"] == []
    # the target uses the network but does not own the entry: it sees no entry either
    refused(core, carol, "GET", f"{RBAC}/{entry['id']}", None, 404, "RbacPolicyNotFound")
    refused(core, carol, "DELETE", f"{RBAC}/{entry['id']}", None, 404, "RbacPolicyNotFound")
    refused(core, carol, "POST", RBAC, {"rbac_policy": {**attempt["rbac_policy"]}}, 403,
            "PolicyNotAuthorized")
    assert carol.get(RBAC)[1]["rbac_policies"] == []
    assert [e["id"] for e in api.get(RBAC)[1]["rbac_policies"]] == [entry["id"]]


def test_only_an_admin_shares_with_everyone_and_shared_is_that_entry(api, core, ops, bob, net):
    refused(core, api, "POST", RBAC, {"rbac_policy": {
        "object_type": "network", "object_id": net["id"], "action": "access_as_shared",
        "target_tenant": "*"}}, 403, "PolicyNotAuthorized")
    entry = created(share(ops, net["id"], "*"), "rbac_policy")
    assert entry["project_id"] == "alice"
    assert api.get(f"{V2}/networks/{net['id']}")[1]["network"]["shared"] is True
    assert sees(bob, net)
    # shared=false through the network removes that entry again
    assert ops.put(f"{V2}/networks/{net['id']}", {"network": {"shared": False}})[0] == 200
    assert api.get(RBAC)[1]["rbac_policies"] == []
    assert not sees(bob, net)
    # and shared=true on create is the same entry
    public = created(ops.post(f"{V2}/networks", {"network": {"name": "pub", "shared": True}}),
                     "network")
    [star] = ops.get(f"{RBAC}?object_id={public['id']}")[1]["rbac_policies"]
    assert (star["target_tenant"], star["action"]) == ("*", "access_as_shared")
    status, _ = ops.delete(f"{RBAC}/{star['id']}")
    assert status == 204
    assert ops.get(f"{V2}/networks/{public['id']}")[1]["network"]["shared"] is False


def test_an_entry_a_project_depends_on_cannot_go_or_move(api, core, carol, net):
    entry = created(share(api, net["id"], "carol"), "rbac_policy")
    port = port_on(carol, net)
    refused(core, api, "DELETE", f"{RBAC}/{entry['id']}", None, 409, "RbacPolicyInUse")
    refused(core, api, "PUT", f"{RBAC}/{entry['id']}",
            {"rbac_policy": {"target_tenant": "dave"}}, 409, "RbacPolicyInUse")
    # a second entry for carol is a duplicate; one for everyone would cover her (admin only)
    refused(core, api, "POST", RBAC, {"rbac_policy": {
        "object_type": "network", "object_id": net["id"], "action": "access_as_shared",
        "target_tenant": "carol"}}, 409, "RbacPolicyExists")
    # once her port is gone the entry moves to dave, and carol loses the network
    assert carol.delete(f"{V2}/ports/{port['id']}")[0] == 204
    status, body = api.put(f"{RBAC}/{entry['id']}", {"rbac_policy": {"target_tenant": "dave"}})
    assert status == 200 and body["rbac_policy"]["target_tenant"] == "dave"
    assert not sees(carol, net) and sees(api.as_project("dave"), net)
    assert api.delete(f"{RBAC}/{entry['id']}")[0] == 204
    assert not sees(api.as_project("dave"), net)


def test_deleting_the_network_deletes_its_entries(api, core, net):
    created(share(api, net["id"], "carol"), "rbac_policy")
    assert api.delete(f"{V2}/subnets/{net['subnet']['id']}")[0] == 204
    assert api.delete(f"{V2}/networks/{net['id']}")[0] == 204
    with core.db.read() as session:
        assert session.query(RbacPolicy).count() == 0


def test_a_qos_policy_shared_with_one_project(api, core, carol, bob):
    policy = created(api.post(f"{V2}/qos/policies", {"policy": {"name": "gold"}}), "policy")
    refused(core, api, "POST", RBAC, {"rbac_policy": {
        "object_type": "qos_policy", "object_id": policy["id"], "action": "access_as_external",
        "target_tenant": "carol"}}, 400, "InvalidInput")
    entry = created(share(api, policy["id"], "carol", object_type="qos_policy"), "rbac_policy")
    assert carol.get(f"{V2}/qos/policies/{policy['id']}")[0] == 200
    assert bob.get(f"{V2}/qos/policies/{policy['id']}")[0] == 404
    # shared as each sees it (Neutron): true for carol, whom the entry names, not the owner
    assert carol.get(f"{V2}/qos/policies/{policy['id']}")[1]["policy"]["shared"] is True
    assert [p["id"] for p in carol.get(f"{V2}/qos/policies?shared=True")[1]["policies"]] == \
        [policy["id"]]
    assert api.get(f"{V2}/qos/policies/{policy['id']}")[1]["policy"]["shared"] is False
    assert api.get(f"{V2}/qos/policies?shared=True")[1]["policies"] == []
    carol_net = created(carol.post(f"{V2}/networks", {"network": {"name": "c"}}), "network")
    port = port_on(carol, carol_net, qos_policy_id=policy["id"])
    bob_net = created(bob.post(f"{V2}/networks", {"network": {"name": "b"}}), "network")
    refused(core, bob, "POST", f"{V2}/ports", {"port": {
        "network_id": bob_net["id"], "qos_policy_id": policy["id"]}}, 404, "QosPolicyNotFound")
    refused(core, api, "DELETE", f"{RBAC}/{entry['id']}", None, 409, "RbacPolicyInUse")
    assert carol.put(f"{V2}/ports/{port['id']}", {"port": {"qos_policy_id": None}})[0] == 200
    assert api.delete(f"{RBAC}/{entry['id']}")[0] == 204
    assert carol.get(f"{V2}/qos/policies/{policy['id']}")[0] == 404


def test_an_external_network_for_one_project(api, core, ops, carol, bob):
    ext = created(ops.post(f"{V2}/networks", {"network": {"name": "ext"}}), "network")
    created(ops.post(f"{V2}/subnets", {"subnet": {"network_id": ext["id"],
                                                  "cidr": "192.0.2.0/24"}}), "subnet")
    # only an admin makes a network external, for one project or all
    refused(core, api, "POST", RBAC, {"rbac_policy": {
        "object_type": "network", "object_id": ext["id"], "action": "access_as_external",
        "target_tenant": "carol"}}, 404, "NetworkNotFound")
    own = created(api.post(f"{V2}/networks", {"network": {"name": "mine"}}), "network")
    refused(core, api, "POST", RBAC, {"rbac_policy": {
        "object_type": "network", "object_id": own["id"], "action": "access_as_external",
        "target_tenant": "carol"}}, 403, "PolicyNotAuthorized")
    entry = created(share(ops, ext["id"], "carol", action="access_as_external"), "rbac_policy")
    assert ops.get(f"{V2}/networks/{ext['id']}")[1]["network"]["router:external"] is True
    assert sees(carol, ext) and not sees(bob, ext)
    gateway = {"external_gateway_info": {"network_id": ext["id"]}}
    router = created(carol.post(f"{V2}/routers", {"router": {"name": "r", **gateway}}),
                     "router")
    refused(core, bob, "POST", f"{V2}/routers", {"router": {"name": "r", **gateway}}, 404,
            "NetworkNotFound")
    # external is not shared: carol routes through it but puts no port of her own on it
    refused(core, carol, "POST", f"{V2}/ports", {"port": {"network_id": ext["id"]}}, 404,
            "NetworkNotFound")
    refused(core, ops, "DELETE", f"{RBAC}/{entry['id']}", None, 409, "RbacPolicyInUse")
    assert carol.put(f"{V2}/routers/{router['id']}",
                     {"router": {"external_gateway_info": None}})[0] == 200
    assert ops.delete(f"{RBAC}/{entry['id']}")[0] == 204
    assert ops.get(f"{V2}/networks/{ext['id']}")[1]["network"]["router:external"] is False
    assert not sees(carol, ext)


def test_a_reader_reads_entries_and_makes_none(api, core, net):
    """A Keystone token with the reader role alone (noauth has no such caller: the core)."""
    reader = Context("alice", roles=("reader",))
    entry = created(share(api, net["id"], "carol"), "rbac_policy")
    assert core.rbac_policies.get(reader, entry["id"]) == entry
    before = snapshot(core)
    with pytest.raises(errors.PolicyNotAuthorized):
        core.rbac_policies.create(reader, {"object_type": "network", "object_id": net["id"],
                                           "action": "access_as_shared",
                                           "target_tenant": "dave"})
    with pytest.raises(errors.PolicyNotAuthorized):
        core.rbac_policies.delete(reader, entry["id"])
    assert snapshot(core) == before


@pytest.mark.parametrize("body, kind", [
    ({"object_type": "network", "action": "access_as_shared", "target_tenant": "c",
      "object_id": "not-a-uuid"}, "InvalidInput"),
    ({"object_type": "router", "action": "access_as_shared", "target_tenant": "c"},
     "InvalidInput"),
    ({"object_type": "network", "action": "access_as_owner", "target_tenant": "c"},
     "InvalidInput"),
    ({"object_type": "network", "action": "access_as_shared", "target_tenant": ""},
     "InvalidInput"),
    ({"object_type": "network", "action": "access_as_shared", "target_tenant": "a b"},
     "InvalidInput"),
    ({"object_type": "network", "action": "access_as_shared"}, "HTTPBadRequest"),
])
def test_bad_input_is_400_and_changes_nothing(api, core, net, body, kind):
    refused(core, api, "POST", RBAC, {"rbac_policy": {"object_id": net["id"], **body}}, 400,
            kind)


def test_an_unknown_object_is_404(api, core):
    refused(core, api, "POST", RBAC, {"rbac_policy": {
        "object_type": "network", "object_id": "7d6c7b2c-1c59-4bd6-9f6e-0b5c2c1a1e77",
        "action": "access_as_shared", "target_tenant": "c"}}, 404, "NetworkNotFound")


def test_a_database_from_before_rbac_gets_entries_for_what_it_shares(tmp_path):
    url = f"sqlite:///{tmp_path}/old.sqlite"
    old = Core.from_url(url)
    admin = Context("ops", is_admin=True)
    shared = old.networks.create(admin, {"name": "pub", "shared": True})
    external = old.networks.create(admin, {"name": "ext", "router:external": True})
    # what a database made before RBAC holds: the columns, no entries
    old.db.run_write(lambda session: session.query(RbacPolicy).delete())
    old.close()
    new = Core.from_url(url)
    try:
        entries = new.rbac_policies.list(admin)[0]
        assert sorted((e["object_id"], e["action"], e["target_tenant"]) for e in entries) == \
            sorted([(shared["id"], "access_as_shared", "*"),
                    (external["id"], "access_as_external", "*")])
    finally:
        new.close()


# -- more edges: narrowing, the owner's own use, external use, filters ----------------------------
def test_unsharing_keeps_the_projects_named_by_their_own_entries(api, core, ops, bob, net):
    """shared=false removes only the `*` entry: refused (nothing changes) while bob depends on
    it alone, allowed once an entry names bob."""
    assert ops.put(f"{V2}/networks/{net['id']}", {"network": {"shared": True}})[0] == 200
    port_on(bob, net)
    refused(core, ops, "PUT", f"{V2}/networks/{net['id']}", {"network": {"shared": False}},
            409, "InvalidSharedSetting")
    [star] = api.get(RBAC)[1]["rbac_policies"]
    refused(core, ops, "DELETE", f"{RBAC}/{star['id']}", None, 409, "RbacPolicyInUse")
    created(share(api, net["id"], "bob"), "rbac_policy")
    assert ops.put(f"{V2}/networks/{net['id']}", {"network": {"shared": False}})[0] == 200
    assert sees(bob, net) and not sees(api.as_project("dave"), net)
    assert [e["target_tenant"] for e in api.get(RBAC)[1]["rbac_policies"]] == ["bob"]


def test_the_owners_own_ports_never_block_a_revocation(api, net):
    port_on(api, net)
    entry = created(share(api, net["id"], "carol"), "rbac_policy")
    assert api.delete(f"{RBAC}/{entry['id']}")[0] == 204


def test_external_to_one_project_gives_floating_ips_and_no_more(api, core, ops, carol, bob):
    ext = created(ops.post(f"{V2}/networks", {"network": {"name": "ext"}}), "network")
    created(ops.post(f"{V2}/subnets", {"subnet": {"network_id": ext["id"],
                                                  "cidr": "198.51.100.0/24"}}), "subnet")
    # shared with bob but external to carol only: bob sees it, and it is no gateway of his
    created(share(ops, ext["id"], "bob"), "rbac_policy")
    entry = created(share(ops, ext["id"], "carol", action="access_as_external"), "rbac_policy")
    refused(core, bob, "POST", f"{V2}/routers", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}}, 400, "HTTPBadRequest")
    refused(core, bob, "POST", f"{V2}/floatingips", {"floatingip": {
        "floating_network_id": ext["id"]}}, 400, "HTTPBadRequest")
    fip = created(carol.post(f"{V2}/floatingips", {"floatingip": {
        "floating_network_id": ext["id"]}}), "floatingip")
    refused(core, ops, "DELETE", f"{RBAC}/{entry['id']}", None, 409, "RbacPolicyInUse")
    refused(core, ops, "PUT", f"{RBAC}/{entry['id']}", {"rbac_policy": {
        "target_tenant": "bob"}}, 409, "RbacPolicyInUse")
    refused(core, ops, "PUT", f"{V2}/networks/{ext['id']}", {"network": {
        "router:external": False}}, 409, "ExternalNetworkInUse")
    assert carol.delete(f"{V2}/floatingips/{fip['id']}")[0] == 204
    # internal again: every access_as_external entry goes, the shared one stays
    assert ops.put(f"{V2}/networks/{ext['id']}", {"network": {"router:external": False}})[0] \
        == 200
    assert [e["action"] for e in ops.get(f"{RBAC}?object_id={ext['id']}")[1][
        "rbac_policies"]] == ["access_as_shared"]
    assert not sees(carol, ext) and sees(bob, ext)


def test_nobody_but_an_admin_widens_an_entry_to_everyone(api, core, carol, bob, net):
    entry = created(share(api, net["id"], "carol"), "rbac_policy")
    refused(core, api, "PUT", f"{RBAC}/{entry['id']}", {"rbac_policy": {"target_tenant": "*"}},
            403, "PolicyNotAuthorized")
    for who in (bob, carol):   # the stranger and the target, at '*' and at themselves
        for target in ("*", "bob", "carol"):
            status, _ = share(who, net["id"], target)
            assert status in (403, 404, 409)
    assert [e["id"] for e in api.get(RBAC)[1]["rbac_policies"]] == [entry["id"]]


def test_a_reader_cannot_retarget_an_entry(api, core, net):
    reader = Context("alice", roles=("reader",))
    entry = created(share(api, net["id"], "carol"), "rbac_policy")
    before = snapshot(core)
    with pytest.raises(errors.PolicyNotAuthorized):
        core.rbac_policies.update(reader, entry["id"], {"target_tenant": "dave"})
    assert snapshot(core) == before
    assert core.rbac_policies.list(reader)[0] == [entry]


def test_entries_filter_by_their_attributes(api, net):
    one = created(share(api, net["id"], "carol"), "rbac_policy")
    created(share(api, net["id"], "dave"), "rbac_policy")
    assert [e["id"] for e in api.get(f"{RBAC}?target_tenant=carol")[1]["rbac_policies"]] == \
        [one["id"]]
    assert len(api.get(f"{RBAC}?object_id={net['id']}&action=access_as_shared")[1][
        "rbac_policies"]) == 2
    assert api.get(f"{RBAC}?action=access_as_external")[1]["rbac_policies"] == []


@pytest.mark.parametrize("body, kind", [
    ({"target_tenant": "x" * 65}, "InvalidInput"),
    ({"target_tenant": "carol", "project_id": "bob"}, "HTTPBadRequest"),  # the object's owner's
    ({"target_tenant": "carol", "surprise": 1}, "HTTPBadRequest"),
])
def test_more_bad_input_is_400_and_changes_nothing(api, core, net, body, kind):
    refused(core, api, "POST", RBAC, {"rbac_policy": {
        "object_type": "network", "object_id": net["id"], "action": "access_as_shared",
        **body}}, 400, kind)


def test_an_entry_keeps_its_object_type_and_action(api, core, net):
    entry = created(share(api, net["id"], "carol"), "rbac_policy")
    for body in ({"action": "access_as_external"}, {"object_type": "qos_policy"},
                 {"object_id": net["id"]}):
        refused(core, api, "PUT", f"{RBAC}/{entry['id']}", {"rbac_policy": body}, 400,
                "HTTPBadRequest")


def test_narrowing_an_entry_to_the_project_that_uses_it(api, core, ops, bob, net):
    """Moving `*` to bob keeps bob's port's access (and only his): allowed; moving it on to
    carol would strand bob's port: 409."""
    star = created(share(ops, net["id"], "*"), "rbac_policy")
    port_on(bob, net)
    status, body = ops.put(f"{RBAC}/{star['id']}", {"rbac_policy": {"target_tenant": "bob"}})
    assert status == 200 and body["rbac_policy"]["target_tenant"] == "bob", body
    assert api.get(f"{V2}/networks/{net['id']}")[1]["network"]["shared"] is False
    assert sees(bob, net) and not sees(api.as_project("carol"), net)
    refused(core, ops, "PUT", f"{RBAC}/{star['id']}", {"rbac_policy": {
        "target_tenant": "carol"}}, 409, "RbacPolicyInUse")


def test_shared_reads_true_for_the_project_an_entry_names_as_in_neutron(api, core, ops, carol,
                                                                       bob, net):
    """``shared`` is what the caller sees: true for carol, whom an entry names; false for
    alice, the owner, while only carol is named; true for all once the ``*`` entry exists.
    ``?shared=`` filters by what the caller sees. The stored attribute does not change."""
    created(share(api, net["id"], "carol"), "rbac_policy")
    url = f"{V2}/networks/{net['id']}"

    def shared_filter(client, value):
        return [n["id"] for n in client.get(f"{V2}/networks?shared={value}")[1]["networks"]]

    assert carol.get(url)[1]["network"]["shared"] is True
    assert [n["shared"] for n in carol.get(f"{V2}/networks")[1]["networks"]] == [True]
    assert shared_filter(carol, "True") == [net["id"]] and shared_filter(carol, "False") == []
    assert api.get(url)[1]["network"]["shared"] is False
    assert shared_filter(api, "True") == [] and shared_filter(api, "False") == [net["id"]]
    with core.db.read() as session:            # what the back-end and the log carry
        assert session.get(Network, net["id"]).shared is False
    assert bob.get(url)[0] == 404 and shared_filter(bob, "True") == []
    created(ops.post(RBAC, {"rbac_policy": {"object_type": "network", "object_id": net["id"],
                                            "action": "access_as_shared",
                                            "target_tenant": "*"}}), "rbac_policy")
    assert api.get(url)[1]["network"]["shared"] is True
    assert bob.get(url)[1]["network"]["shared"] is True
