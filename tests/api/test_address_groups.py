"""The address-group extension: address groups (CIDRs, add_addresses / remove_addresses) and
security group rules naming one (remote_address_group_id), with Neutron's codes, what the
back-end is told, and project B against project A's address groups, in both orders; then
address groups shared by RBAC policies (the project named sees and names it, changes nothing).

Every refusal asserts its code, its error type and that nothing changed (``refused``)."""
import pytest

from tests.api.test_security_groups import (GROUPS, RULES, V2, created, default_group,
                                            make_group, make_rule, refused)

ADDRESS_GROUPS = f"{V2}/address-groups"
RBAC = f"{V2}/rbac-policies"


def make_address_group(client, name="office", addresses=("192.0.2.0/24",), **attrs):
    return created(client.post(ADDRESS_GROUPS, {"address_group": {
        "name": name, "addresses": list(addresses), **attrs}}), "address_group")


def act(client, group_id, action, *addresses):
    return client.put(f"{ADDRESS_GROUPS}/{group_id}/{action}", {"addresses": list(addresses)})


def test_extensions_and_openapi_list_address_groups(api):
    aliases = {e["alias"] for e in api.get(f"{V2}/extensions")[1]["extensions"]}
    assert {"address-group", "security-groups-remote-address-group"} <= aliases
    paths = set(api.get("/openapi.json")[1]["paths"])
    assert {"/v2.0/address-groups", "/v2.0/address-groups/{id}",
            "/v2.0/address-groups/{id}/add_addresses",
            "/v2.0/address-groups/{id}/remove_addresses"} <= paths


def test_an_address_group_keeps_its_cidrs_in_network_form(api):
    group = make_address_group(api, addresses=["10.0.0.7", "10.0.1.7/24", "10.0.0.7/32",
                                               "2001:db8::1"], description="d")
    assert group["addresses"] == ["10.0.0.7/32", "10.0.1.0/24", "2001:db8::1/128"]
    assert (group["name"], group["description"], group["project_id"]) == ("office", "d", "alice")
    assert api.get(f"{ADDRESS_GROUPS}/{group['id']}")[1]["address_group"] == group
    assert [g["id"] for g in api.get(f"{ADDRESS_GROUPS}?name=office")[1]["address_groups"]] == \
        [group["id"]]
    renamed = api.put(f"{ADDRESS_GROUPS}/{group['id']}", {"address_group": {"name": "hq"}})
    assert renamed[0] == 200 and renamed[1]["address_group"]["name"] == "hq"
    assert renamed[1]["address_group"]["revision_number"] == 1


def test_addresses_change_only_through_the_actions(api, core):
    group = make_address_group(api)
    path = f"{ADDRESS_GROUPS}/{group['id']}"
    refused(core, api, "PUT", path, {"address_group": {"addresses": ["10.0.0.0/8"]}}, 400,
            "HTTPBadRequest")
    status, body = act(api, group["id"], "add_addresses", "10.0.0.1", "198.51.100.0/24")
    assert status == 200, body
    assert body["address_group"]["addresses"] == ["10.0.0.1/32", "192.0.2.0/24",
                                                  "198.51.100.0/24"]
    status, body = act(api, group["id"], "remove_addresses", "192.0.2.0/24")
    assert status == 200 and body["address_group"]["addresses"] == ["10.0.0.1/32",
                                                                    "198.51.100.0/24"]
    # what it holds already, what it does not hold, what is no CIDR: refused, nothing changed
    refused(core, api, "PUT", f"{path}/add_addresses", {"addresses": ["10.0.0.2",
                                                                      "10.0.0.1/32"]},
            400, "AddressesAlreadyExist")
    refused(core, api, "PUT", f"{path}/remove_addresses", {"addresses": ["10.0.0.1",
                                                                         "10.9.9.9"]},
            404, "AddressesNotFound")
    refused(core, api, "PUT", f"{path}/add_addresses", {"addresses": ["10.0.0.300"]}, 400,
            "InvalidInput")
    refused(core, api, "PUT", f"{path}/add_addresses", {}, 400, "InvalidInput")
    refused(core, api, "PUT", f"{ADDRESS_GROUPS}/{'0' * 8}-0000-0000-0000-{'0' * 12}"
                              "/add_addresses", {"addresses": ["10.0.0.3"]}, 404,
            "AddressGroupNotFound")


def test_a_rule_names_an_address_group_alone(api, core):
    group, addresses = make_group(api), make_address_group(api)
    rule = make_rule(api, group["id"], protocol="tcp", port_range_min=22, port_range_max=22,
                     remote_address_group_id=addresses["id"])
    assert rule["remote_address_group_id"] == addresses["id"]
    assert api.get(f"{RULES}/{rule['id']}")[1]["security_group_rule"] == rule
    other = make_group(api, "other")
    for extra in ({"remote_ip_prefix": "10.0.0.0/8"}, {"remote_group_id": other["id"]}):
        refused(core, api, "POST", RULES, {"security_group_rule": {
            "security_group_id": other["id"], "direction": "ingress",
            "remote_address_group_id": addresses["id"], **extra}}, 400,
            "SecurityGroupRuleInvalid")
    refused(core, api, "POST", RULES, {"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", "protocol": "tcp",
        "port_range_min": 22, "port_range_max": 22,
        "remote_address_group_id": addresses["id"]}}, 409, "SecurityGroupRuleExists")
    refused(core, api, "POST", RULES, {"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress",
        "remote_address_group_id": f"{'1' * 8}-0000-0000-0000-{'0' * 12}"}}, 404,
        "AddressGroupNotFound")


def test_the_back_end_sees_the_rules_addresses_and_follows_them(api, core):
    group, unrelated = make_group(api), make_group(api, "unrelated")
    addresses = make_address_group(api, addresses=["192.0.2.0/24", "2001:db8::/64"])
    rule = make_rule(api, group["id"], remote_address_group_id=addresses["id"])
    change = core.plugin.changes[-1]
    [typed] = [r for r in change.after.rules if r.id == rule["id"]]
    assert (typed.remote_address_group_id, typed.remote_addresses) == \
        (addresses["id"], ("192.0.2.0/24", "2001:db8::/64"))
    told = len(core.plugin.changes)
    assert act(api, addresses["id"], "add_addresses", "198.51.100.7")[0] == 200
    [change] = list(core.plugin.changes)[told:]             # the group naming it, not the other
    assert (change.hook, change.current["id"]) == ("security_group_updated", group["id"])
    [before] = [r for r in change.before.rules if r.id == rule["id"]]
    [after] = [r for r in change.after.rules if r.id == rule["id"]]
    assert before.remote_addresses == ("192.0.2.0/24", "2001:db8::/64")
    assert after.remote_addresses == ("192.0.2.0/24", "198.51.100.7/32", "2001:db8::/64")
    # renaming the group keeps its rules' addresses; what the database says agrees
    api.put(f"{GROUPS}/{group['id']}", {"security_group": {"name": "renamed"}})
    assert core.plugin.changes[-1].after == change.after
    [held] = [g for g in core.logical_snapshot().security_groups if g.id == group["id"]]
    assert held == change.after
    assert unrelated["id"] not in {c.current["id"] for c in list(core.plugin.changes)[told:]}


def test_an_address_group_in_use_cannot_be_deleted(api, core):
    group, addresses = make_group(api), make_address_group(api)
    rule = make_rule(api, group["id"], remote_address_group_id=addresses["id"])
    refused(core, api, "DELETE", f"{ADDRESS_GROUPS}/{addresses['id']}", None, 409,
            "AddressGroupInUse")
    assert api.delete(f"{RULES}/{rule['id']}")[0] == 204
    assert api.delete(f"{ADDRESS_GROUPS}/{addresses['id']}")[0] == 204
    assert api.get(f"{ADDRESS_GROUPS}/{addresses['id']}")[0] == 404


# -- project B against project A's address groups (B has used them before A made hers, or not) --
@pytest.fixture(params=["b-used-address-groups-first", "a-first"])
def world(request, api):
    a, b = api, api.as_project("bob")
    if request.param == "b-used-address-groups-first":
        make_address_group(b, "b-early")
        default_group(b)
    w = {"a_addresses": make_address_group(a, "a-office"), "a_group": make_group(a, "a-web")}
    w["a_rule"] = make_rule(a, w["a_group"]["id"], remote_address_group_id=w["a_addresses"]["id"])
    w["b_group"] = make_group(b, "b-web")
    w["b_addresses"] = make_address_group(b, "b-office", ["198.51.100.0/24"])
    return w


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_projects_address_group_is_not_found(api, core, world, method):
    b, target = api.as_project("bob"), world["a_addresses"]["id"]
    body = {"address_group": {"name": "stolen"}} if method == "PUT" else None
    refused(core, b, method, f"{ADDRESS_GROUPS}/{target}", body, 404, "AddressGroupNotFound")


def test_another_projects_address_group_cannot_be_changed_named_or_listed(api, core, world):
    b, target = api.as_project("bob"), world["a_addresses"]["id"]
    for action in ("add_addresses", "remove_addresses"):
        refused(core, b, "PUT", f"{ADDRESS_GROUPS}/{target}/{action}",
                {"addresses": ["192.0.2.0/24"]}, 404, "AddressGroupNotFound")
    refused(core, b, "POST", RULES, {"security_group_rule": {
        "security_group_id": world["b_group"]["id"], "direction": "ingress",
        "remote_address_group_id": target}}, 404, "AddressGroupNotFound")
    assert {g["project_id"] for g in b.get(ADDRESS_GROUPS)[1]["address_groups"]} == {"bob"}
    assert b.get(f"{ADDRESS_GROUPS}?tenant_id=alice")[1]["address_groups"] == []
    for owner in ("project_id", "tenant_id"):
        refused(core, b, "POST", ADDRESS_GROUPS, {"address_group": {"name": "x", owner: "alice"}},
                403, "PolicyNotAuthorized")
    # A's address group and rule are as they were
    assert api.get(f"{ADDRESS_GROUPS}/{target}")[1]["address_group"]["addresses"] == \
        ["192.0.2.0/24"]


def test_even_an_admin_cannot_point_a_rule_at_another_projects_address_group(api, core, world):
    ops = api.as_project("ops", admin=True)
    refused(core, ops, "POST", RULES, {"security_group_rule": {
        "security_group_id": world["b_group"]["id"], "direction": "ingress",
        "remote_address_group_id": world["a_addresses"]["id"]}}, 404, "AddressGroupNotFound")
    # what an admin may do: see both, change either
    assert {g["project_id"] for g in ops.get(ADDRESS_GROUPS)[1]["address_groups"]} >= \
        {"alice", "bob"}
    assert act(ops, world["a_addresses"]["id"], "add_addresses", "203.0.113.0/24")[0] == 200


# -- shared by RBAC policies (object_type address_group): carol is named, bob is not ------------
def share(client, group_id, target):
    return client.post(RBAC, {"rbac_policy": {
        "object_type": "address_group", "object_id": group_id, "action": "access_as_shared",
        "target_tenant": target}})


def sees(client, group_id):
    return client.get(f"{ADDRESS_GROUPS}/{group_id}")[0] == 200 and \
        group_id in [g["id"] for g in client.get(ADDRESS_GROUPS)[1]["address_groups"]]


def rule_body(group, addresses, **attrs):
    return {"security_group_rule": {"security_group_id": group["id"], "direction": "ingress",
                                    "remote_address_group_id": addresses["id"], **attrs}}


@pytest.fixture(params=["others-tried-first", "a-shared-first"])
def shared(request, api, core):
    """alice's address group shared with carol alone; carol and bob each have a security group.
    In the first order both tried to see and name it before alice shared (refused, 404)."""
    carol, bob = api.as_project("carol"), api.as_project("bob")
    w = {"addresses": make_address_group(api, "a-office"),
         "carol_group": make_group(carol, "c-web"), "bob_group": make_group(bob, "b-web")}
    if request.param == "others-tried-first":
        for who, group in ((carol, w["carol_group"]), (bob, w["bob_group"])):
            assert not sees(who, w["addresses"]["id"])
            refused(core, who, "POST", RULES, rule_body(group, w["addresses"]), 404,
                    "AddressGroupNotFound")
    w["entry"] = created(share(api, w["addresses"]["id"], "carol"), "rbac_policy")
    return w


def test_extensions_list_address_groups_as_an_rbac_object_type(api):
    aliases = {e["alias"] for e in api.get(f"{V2}/extensions")[1]["extensions"]}
    assert {"rbac-policies", "rbac-address-group"} <= aliases


def test_a_shared_address_group_is_seen_and_named_by_the_project_named_alone(api, core, shared):
    carol, bob = api.as_project("carol"), api.as_project("bob")
    addresses, entry = shared["addresses"], shared["entry"]
    assert entry == {"id": entry["id"], "project_id": "alice", "tenant_id": "alice",
                     "object_type": "address_group", "object_id": addresses["id"],
                     "action": "access_as_shared", "target_tenant": "carol"}
    assert sees(carol, addresses["id"]) and not sees(bob, addresses["id"])
    assert carol.get(f"{ADDRESS_GROUPS}/{addresses['id']}")[1]["address_group"] == addresses
    rule = created(carol.post(RULES, rule_body(shared["carol_group"], addresses)),
                   "security_group_rule")
    assert (rule["project_id"], rule["remote_address_group_id"]) == ("carol", addresses["id"])
    refused(core, bob, "POST", RULES, rule_body(shared["bob_group"], addresses), 404,
            "AddressGroupNotFound")
    # the stranger sees neither the group nor the entry
    refused(core, bob, "GET", f"{ADDRESS_GROUPS}/{addresses['id']}", None, 404,
            "AddressGroupNotFound")
    refused(core, bob, "GET", f"{RBAC}/{entry['id']}", None, 404, "RbacPolicyNotFound")
    refused(core, bob, "POST", RBAC, {"rbac_policy": {
        "object_type": "address_group", "object_id": addresses["id"],
        "action": "access_as_shared", "target_tenant": "bob"}}, 404, "AddressGroupNotFound")


@pytest.mark.parametrize("who, code, kind", [("carol", 403, "PolicyNotAuthorized"),
                                             ("bob", 404, "AddressGroupNotFound")])
def test_only_the_owner_changes_or_deletes_a_shared_address_group(api, core, shared, who, code,
                                                                  kind):
    """carol sees it but does not own it: 403, as for a shared network (Neutron answers 404
    here); bob does not see it: 404. Nothing changes either way."""
    client, path = api.as_project(who), f"{ADDRESS_GROUPS}/{shared['addresses']['id']}"
    refused(core, client, "PUT", path, {"address_group": {"name": "stolen"}}, code, kind)
    for action in ("add_addresses", "remove_addresses"):
        refused(core, client, "PUT", f"{path}/{action}", {"addresses": ["192.0.2.0/24"]},
                code, kind)
    refused(core, client, "DELETE", path, None, code, kind)
    # nor may either share it further or remove alice's entry
    refused(core, client, "POST", RBAC, {"rbac_policy": {
        "object_type": "address_group", "object_id": shared["addresses"]["id"],
        "action": "access_as_shared", "target_tenant": "dave"}}, code, kind)
    refused(core, client, "DELETE", f"{RBAC}/{shared['entry']['id']}", None, 404,
            "RbacPolicyNotFound")


def test_an_entry_a_projects_rules_depend_on_cannot_go_or_move(api, core, shared):
    carol, dave = api.as_project("carol"), api.as_project("dave")
    addresses, entry = shared["addresses"], shared["entry"]
    rule = created(carol.post(RULES, rule_body(shared["carol_group"], addresses)),
                   "security_group_rule")
    refused(core, api, "DELETE", f"{RBAC}/{entry['id']}", None, 409, "RbacPolicyInUse")
    refused(core, api, "PUT", f"{RBAC}/{entry['id']}",
            {"rbac_policy": {"target_tenant": "dave"}}, 409, "RbacPolicyInUse")
    # nor can the address group go while carol's rule names it
    refused(core, api, "DELETE", f"{ADDRESS_GROUPS}/{addresses['id']}", None, 409,
            "AddressGroupInUse")
    # once carol's rule is gone the entry moves to dave, and carol loses the address group
    assert carol.delete(f"{RULES}/{rule['id']}")[0] == 204
    status, body = api.put(f"{RBAC}/{entry['id']}", {"rbac_policy": {"target_tenant": "dave"}})
    assert status == 200 and body["rbac_policy"]["target_tenant"] == "dave"
    assert not sees(carol, addresses["id"]) and sees(dave, addresses["id"])
    refused(core, carol, "POST", RULES, rule_body(shared["carol_group"], addresses), 404,
            "AddressGroupNotFound")
    # deleting the address group deletes its entries
    assert api.delete(f"{ADDRESS_GROUPS}/{addresses['id']}")[0] == 204
    assert api.get(f"{RBAC}?object_type=address_group")[1]["rbac_policies"] == []


def test_a_shared_address_groups_change_reaches_the_other_projects_rules(api, core, shared):
    """The data plane needs nothing new: an address change reports carol's security group
    updated, its rule carrying the new CIDRs, as for the owner's own groups."""
    carol, addresses = api.as_project("carol"), shared["addresses"]
    own_group = make_group(api, "a-web")
    own_rule = make_rule(api, own_group["id"], remote_address_group_id=addresses["id"])
    rule = created(carol.post(RULES, rule_body(shared["carol_group"], addresses)),
                   "security_group_rule")
    told = len(core.plugin.changes)
    assert act(api, addresses["id"], "add_addresses", "198.51.100.7")[0] == 200
    changes = {c.current["id"]: c for c in list(core.plugin.changes)[told:]}
    assert set(changes) == {own_group["id"], shared["carol_group"]["id"]}
    change = changes[shared["carol_group"]["id"]]
    assert (change.hook, change.current["project_id"]) == ("security_group_updated", "carol")
    [before] = [r for r in change.before.rules if r.id == rule["id"]]
    [after] = [r for r in change.after.rules if r.id == rule["id"]]
    assert before.remote_addresses == ("192.0.2.0/24",)
    assert after.remote_addresses == ("192.0.2.0/24", "198.51.100.7/32")
    [held] = [g for g in core.logical_snapshot().security_groups
              if g.id == shared["carol_group"]["id"]]
    assert held == change.after
    assert own_rule["id"] in {r.id for r in changes[own_group["id"]].after.rules}


def test_an_admin_shares_with_everyone_and_narrows_to_the_project_that_uses_it(api, core):
    ops, bob, carol = (api.as_project("ops", admin=True), api.as_project("bob"),
                       api.as_project("carol"))
    addresses = make_address_group(api)
    refused(core, api, "POST", RBAC, {"rbac_policy": {
        "object_type": "address_group", "object_id": addresses["id"],
        "action": "access_as_shared", "target_tenant": "*"}}, 403, "PolicyNotAuthorized")
    refused(core, api, "POST", RBAC, {"rbac_policy": {
        "object_type": "address_group", "object_id": addresses["id"],
        "action": "access_as_external", "target_tenant": "carol"}}, 400, "InvalidInput")
    star = created(share(ops, addresses["id"], "*"), "rbac_policy")
    assert star["project_id"] == "alice"
    assert sees(bob, addresses["id"]) and sees(carol, addresses["id"])
    # no shared attribute mirrors the entry (Neutron's is not in the API either)
    assert "shared" not in api.get(f"{ADDRESS_GROUPS}/{addresses['id']}")[1]["address_group"]
    bob_group = make_group(bob, "b-web")
    created(bob.post(RULES, rule_body(bob_group, addresses)), "security_group_rule")
    refused(core, ops, "DELETE", f"{RBAC}/{star['id']}", None, 409, "RbacPolicyInUse")
    refused(core, ops, "PUT", f"{RBAC}/{star['id']}", {"rbac_policy": {
        "target_tenant": "carol"}}, 409, "RbacPolicyInUse")
    status, body = ops.put(f"{RBAC}/{star['id']}", {"rbac_policy": {"target_tenant": "bob"}})
    assert status == 200 and body["rbac_policy"]["target_tenant"] == "bob", body
    assert sees(bob, addresses["id"]) and not sees(carol, addresses["id"])


def test_an_admin_points_a_rule_only_at_an_address_group_shared_with_its_groups_project(
        api, core, shared):
    ops = api.as_project("ops", admin=True)
    rule = created(ops.post(RULES, rule_body(shared["carol_group"], shared["addresses"])),
                   "security_group_rule")
    assert rule["project_id"] == "carol"
    refused(core, ops, "POST", RULES, rule_body(shared["bob_group"], shared["addresses"]), 404,
            "AddressGroupNotFound")
