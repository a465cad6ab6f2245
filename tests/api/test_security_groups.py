"""The security-group extension: groups and rules with Neutron's validations and codes, the
default group made on first use, security_groups on ports and its interplay with port security,
what the back-end is told, and project B against project A's groups.

Every refusal asserts its code, its error type and that nothing changed (``refused``)."""
import pytest

from controller import logical
from tests.conftest import snapshot

V2 = "/v2.0"
GROUPS, RULES = f"{V2}/security-groups", f"{V2}/security-group-rules"


def created(response, key):
    status, body = response
    assert status == 201, body
    return body[key]


def refused(core, client, method, path, body, code, kind):
    """``client`` tries; the answer is ``code`` with a NeutronError ``kind``; nothing changed
    and the back-end was told nothing."""
    before, told = snapshot(core), len(core.plugin.changes)
    status, data = client.request(method, path, body)
    assert status == code, (method, path, body, data)
    assert data["NeutronError"]["type"] == kind, data
    assert snapshot(core) == before
    assert len(core.plugin.changes) == told


def make_group(client, name="web", **attrs):
    return created(client.post(GROUPS, {"security_group": {"name": name, **attrs}}),
                   "security_group")


def make_rule(client, group_id, **attrs):
    body = {"security_group_id": group_id, "direction": "ingress", **attrs}
    return created(client.post(RULES, {"security_group_rule": body}), "security_group_rule")


def default_group(client):
    groups = client.get(f"{GROUPS}?name=default")[1]["security_groups"]
    assert len(groups) == 1, groups
    return groups[0]


@pytest.fixture
def net(api):
    network = created(api.post(f"{V2}/networks", {"network": {"name": "n"}}), "network")
    created(api.post(f"{V2}/subnets", {"subnet": {"network_id": network["id"],
                                                   "cidr": "10.0.0.0/24"}}), "subnet")
    return network


def make_port(client, network_id, **attrs):
    return created(client.post(f"{V2}/ports", {"port": {"network_id": network_id, **attrs}}),
                   "port")


def shape(rule):
    return (rule["direction"], rule["ethertype"], rule["protocol"], rule["port_range_min"],
            rule["port_range_max"], rule["remote_ip_prefix"], rule["remote_group_id"])


# -- discovery ---------------------------------------------------------------------------------------
def test_extension_and_openapi_list_security_groups(api):
    aliases = {e["alias"] for e in api.get(f"{V2}/extensions")[1]["extensions"]}
    assert "security-group" in aliases
    doc = api.get("/openapi.json")[1]
    assert {"/v2.0/security-groups/{id}", "/v2.0/security-group-rules/{id}"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    assert schemas["SecurityGroupRuleCreate"]["required"] == ["direction", "security_group_id"]
    assert "security_groups" in schemas["PortCreate"]["properties"]
    assert "stateful" in schemas["SecurityGroupUpdate"]["properties"]


# -- the default group -------------------------------------------------------------------------------
def test_the_default_group_is_made_once_on_first_use_as_neutron_makes_it(api, core):
    assert core.logical_snapshot().security_groups == ()
    group = default_group(api)
    assert default_group(api)["id"] == group["id"]          # listed twice, made once
    me = group["id"]
    assert sorted(shape(r) for r in group["security_group_rules"]) == [
        ("egress", "IPv4", None, None, None, None, None),
        ("egress", "IPv6", None, None, None, None, None),
        ("ingress", "IPv4", None, None, None, None, me),
        ("ingress", "IPv6", None, None, None, None, me)]
    assert group["stateful"] is True and group["project_id"] == "alice"
    assert [c.hook for c in core.plugin.changes] == ["security_group_created"]
    typed = core.plugin.changes[0].after
    assert isinstance(typed, logical.SecurityGroup) and len(typed.rules) == 4
    # the other ways in make it too, each for its own project
    bob = api.as_project("bob")
    assert created(bob.post(GROUPS, {"security_group": {"name": "x"}}), "security_group")
    assert len(bob.get(GROUPS)[1]["security_groups"]) == 2
    carol = api.as_project("carol")
    network = created(carol.post(f"{V2}/networks", {"network": {}}), "network")
    port = make_port(carol, network["id"])
    assert port["security_groups"] == [default_group(carol)["id"]]


def test_a_rules_list_makes_the_default_group_too(api):
    rules = api.get(RULES)[1]["security_group_rules"]
    assert len(rules) == 4 and {r["security_group_id"] for r in rules} == {
        default_group(api)["id"]}


def test_a_new_group_may_send_anywhere_and_admits_nothing(api):
    group = make_group(api, description="web tier")
    assert sorted(shape(r) for r in group["security_group_rules"]) == [
        ("egress", "IPv4", None, None, None, None, None),
        ("egress", "IPv6", None, None, None, None, None)]
    assert group["description"] == "web tier" and group["stateful"] is True


def test_the_default_group_keeps_its_name_and_only_an_admin_deletes_it(api, core):
    group = default_group(api)
    url = f"{GROUPS}/{group['id']}"
    refused(core, api, "DELETE", url, None, 409, "SecurityGroupCannotRemoveDefault")
    refused(core, api, "PUT", url, {"security_group": {"name": "mine"}}, 409,
            "SecurityGroupCannotUpdateDefault")
    status, body = api.put(url, {"security_group": {"description": "ours"}})
    assert status == 200 and body["security_group"]["description"] == "ours"
    refused(core, api, "POST", GROUPS, {"security_group": {"name": "default"}}, 409,
            "SecurityGroupDefaultAlreadyExists")
    other = make_group(api)
    refused(core, api, "PUT", f"{GROUPS}/{other['id']}",
            {"security_group": {"name": "default"}}, 409, "SecurityGroupDefaultAlreadyExists")
    ops = api.as_project("ops", admin=True)
    assert ops.delete(url)[0] == 204
    assert default_group(api)["id"] != group["id"]          # the next use makes a new one


# -- rules: what Neutron refuses, with its codes -------------------------------------------------------
BAD_RULES = [
    ({"port_range_min": 80, "port_range_max": 80}, "SecurityGroupRuleInvalid"),  # no protocol
    ({"protocol": "tcp", "port_range_min": 81, "port_range_max": 80}, "SecurityGroupRuleInvalid"),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 80}, "SecurityGroupRuleInvalid"),
    ({"protocol": "udp", "port_range_min": 53}, "SecurityGroupRuleInvalid"),
    ({"protocol": "tcp", "port_range_max": 53}, "SecurityGroupRuleInvalid"),
    ({"protocol": "icmp", "port_range_min": 256}, "SecurityGroupRuleInvalid"),
    ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 300},
     "SecurityGroupRuleInvalid"),
    ({"protocol": "icmp", "port_range_max": 0}, "SecurityGroupRuleInvalid"),  # code, no type
    ({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, "SecurityGroupRuleInvalid"),
    ({"protocol": "ipv6-icmp"}, "SecurityGroupRuleInvalid"),      # an IPv6 protocol on IPv4
    ({"protocol": "58"}, "SecurityGroupRuleInvalid"),
    ({"remote_ip_prefix": "fd00::/64"}, "SecurityGroupRuleInvalid"),
    ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, "SecurityGroupRuleInvalid"),
    ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "SELF"}, "SecurityGroupRuleInvalid"),
    ({"protocol": "bogus"}, "InvalidInput"),
    ({"protocol": "TCP"}, "InvalidInput"),
    ({"protocol": 256}, "InvalidInput"),
    ({"protocol": "-1"}, "InvalidInput"),
    ({"protocol": "tcp", "port_range_min": 70000, "port_range_max": 70000}, "InvalidInput"),
    ({"direction": "sideways"}, "InvalidInput"),
    ({"ethertype": "IPv5"}, "InvalidInput"),
    ({"remote_ip_prefix": "10.0.0.300/8"}, "InvalidInput"),
    ({"remote_group_id": "not-a-uuid"}, "InvalidInput"),
    ({"project_id": "alice"}, "HTTPBadRequest"),          # a rule's project is its group's
]


@pytest.mark.parametrize("attrs,kind", BAD_RULES, ids=lambda v: str(v)[:60])
def test_a_rule_that_does_not_fit_together_is_refused(api, core, attrs, kind):
    group = make_group(api)
    attrs = {k: (group["id"] if v == "SELF" else v) for k, v in attrs.items()}
    refused(core, api, "POST", RULES, {"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", **attrs}}, 400, kind)


def test_a_rule_needs_its_group_and_a_direction(api, core):
    group = make_group(api)
    refused(core, api, "POST", RULES, {"security_group_rule": {"security_group_id": group["id"]}},
            400, "HTTPBadRequest")
    refused(core, api, "POST", RULES, {"security_group_rule": {"direction": "ingress"}},
            400, "HTTPBadRequest")
    missing = "9d1ad0b6-4a4e-4a55-8e4b-1b1b1b1b1b1b"
    refused(core, api, "POST", RULES, {"security_group_rule": {
        "security_group_id": missing, "direction": "ingress"}}, 404, "SecurityGroupNotFound")
    refused(core, api, "POST", RULES, {"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", "remote_group_id": missing}},
        404, "SecurityGroupNotFound")


@pytest.mark.parametrize("first,again", [
    ({"protocol": "tcp", "port_range_min": 80, "port_range_max": 80},
     {"protocol": "6", "port_range_min": 80, "port_range_max": 80}),
    ({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
     {"protocol": 6, "port_range_min": 22, "port_range_max": 22,
      "remote_ip_prefix": "0.0.0.0/0"}),
    ({"ethertype": "IPv6", "protocol": "icmpv6"}, {"ethertype": "IPv6", "protocol": "58"}),
    ({"ethertype": "IPv6", "protocol": "icmp"}, {"ethertype": "IPv6", "protocol": "ipv6-icmp"}),
    ({"remote_ip_prefix": "10.1.2.3/16"}, {"remote_ip_prefix": "10.1.0.0/16"}),
    (None, {"direction": "egress"}),             # every new group already has this one
])
def test_the_same_rule_twice_is_a_conflict(api, core, first, again):
    group = make_group(api)
    if first is not None:
        make_rule(api, group["id"], **first)
    refused(core, api, "POST", RULES, {"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", **again}}, 409,
        "SecurityGroupRuleExists")


def test_rules_are_stored_in_canonical_form(api):
    group = make_group(api)
    assert make_rule(api, group["id"], remote_ip_prefix="10.1.2.3/16")["remote_ip_prefix"] == \
        "10.1.0.0/16"
    assert make_rule(api, group["id"], remote_ip_prefix="10.9.9.9")["remote_ip_prefix"] == \
        "10.9.9.9/32"
    v6 = make_rule(api, group["id"], ethertype="IPv6", protocol="icmp", port_range_min=128)
    assert (v6["protocol"], v6["port_range_min"], v6["port_range_max"]) == ("ipv6-icmp", 128, None)
    numbered = make_rule(api, group["id"], protocol=17, port_range_min=53, port_range_max=53)
    assert numbered["protocol"] == "17" and numbered["ethertype"] == "IPv4"
    assert numbered["project_id"] == "alice" and numbered["security_group_id"] == group["id"]
    shown = api.get(f"{RULES}/{numbered['id']}")[1]["security_group_rule"]
    assert shown == numbered
    listed = api.get(f"{RULES}?security_group_id={group['id']}&protocol=17")[1]
    assert [r["id"] for r in listed["security_group_rules"]] == [numbered["id"]]


def test_a_rule_change_is_told_as_an_update_of_its_group(api, core):
    group = make_group(api, stateful=False)
    rule = make_rule(api, group["id"], protocol="tcp", port_range_min=80, port_range_max=80,
                     remote_ip_prefix="0.0.0.0/0")
    change = core.plugin.changes[-1]
    assert (change.hook, change.current["id"]) == ("security_group_updated", group["id"])
    assert change.after.stateful is False and len(change.after.rules) == 3
    assert logical.SecurityGroupRule(rule["id"], "ingress", "IPv4", 6, 80, 80, "0.0.0.0/0") in \
        change.after.rules
    assert change.before.rules == tuple(r for r in change.after.rules if r.id != rule["id"])
    assert api.get(f"{GROUPS}/{group['id']}")[1]["security_group"]["revision_number"] == 1

    assert api.delete(f"{RULES}/{rule['id']}")[0] == 204
    change = core.plugin.changes[-1]
    assert change.hook == "security_group_updated" and len(change.after.rules) == 2
    assert api.get(f"{RULES}/{rule['id']}")[0] == 404
    assert [r["id"] for r in api.get(f"{GROUPS}/{group['id']}")[1]["security_group"][
        "security_group_rules"]] == [r.id for r in change.after.rules]


def test_only_a_rules_description_changes(api, core):
    group = make_group(api)
    rule = make_rule(api, group["id"], protocol="tcp", port_range_min=1, port_range_max=9)
    status, body = api.put(f"{RULES}/{rule['id']}",
                           {"security_group_rule": {"description": "admin ports"}})
    assert status == 200 and body["security_group_rule"]["description"] == "admin ports"
    refused(core, api, "PUT", f"{RULES}/{rule['id']}",
            {"security_group_rule": {"port_range_max": 10}}, 400, "HTTPBadRequest")


# -- groups: in use, stateful ----------------------------------------------------------------------------
def test_a_group_in_use_cannot_be_deleted_or_change_statefulness(api, core, net):
    group = make_group(api)
    port = make_port(api, net["id"], security_groups=[group["id"]])
    refused(core, api, "DELETE", f"{GROUPS}/{group['id']}", None, 409, "SecurityGroupInUse")
    refused(core, api, "PUT", f"{GROUPS}/{group['id']}",
            {"security_group": {"stateful": False}}, 409, "SecurityGroupInUse")
    assert api.put(f"{V2}/ports/{port['id']}", {"port": {"security_groups": []}})[0] == 200
    status, body = api.put(f"{GROUPS}/{group['id']}", {"security_group": {"stateful": False}})
    assert status == 200 and body["security_group"]["stateful"] is False
    assert core.plugin.changes[-1].after.stateful is False
    assert api.delete(f"{GROUPS}/{group['id']}")[0] == 204
    assert core.plugin.changes[-1].hook == "security_group_deleted"


def test_deleting_a_group_takes_the_rules_that_name_it(api, core):
    web, db = make_group(api, "web"), make_group(api, "db")
    rule = make_rule(api, db["id"], protocol="tcp", port_range_min=5432, port_range_max=5432,
                     remote_group_id=web["id"])
    assert api.delete(f"{GROUPS}/{web['id']}")[0] == 204
    updated, deleted = list(core.plugin.changes)[-2:]
    assert (updated.hook, updated.current["id"]) == ("security_group_updated", db["id"])
    assert rule["id"] not in {r.id for r in updated.after.rules}
    assert (deleted.hook, deleted.before.id) == ("security_group_deleted", web["id"])
    assert api.get(f"{RULES}/{rule['id']}")[0] == 404


# -- ports -------------------------------------------------------------------------------------------------
def test_a_port_gets_the_default_group_unless_it_names_its_own(api, core, net):
    default = default_group(api)["id"]
    web, db = make_group(api, "web")["id"], make_group(api, "db")["id"]
    assert make_port(api, net["id"])["security_groups"] == [default]
    assert make_port(api, net["id"], security_groups=None)["security_groups"] == [default]
    assert make_port(api, net["id"], security_groups=[])["security_groups"] == []
    both = make_port(api, net["id"], security_groups=[web, db, web])
    assert both["security_groups"] == sorted([web, db])
    assert core.plugin.changes[-1].after.security_groups == tuple(sorted([web, db]))
    listed = api.get(f"{V2}/ports?security_groups={web}")[1]["ports"]
    assert [p["id"] for p in listed] == [both["id"]]
    assert api.get(f"{V2}/ports/{both['id']}")[1]["port"]["security_groups"] == sorted([web, db])
    status, body = api.put(f"{V2}/ports/{both['id']}", {"port": {"security_groups": [db]}})
    assert status == 200 and body["port"]["security_groups"] == [db]
    assert core.plugin.changes[-1].after.security_groups == (db,)
    status, body = api.put(f"{V2}/ports/{both['id']}", {"port": {"security_groups": None}})
    assert status == 200 and body["port"]["security_groups"] == []


def test_trusted_network_ports_get_no_group(api, net):
    for owner in ("network:router_interface", "network:dhcp"):
        assert make_port(api, net["id"], device_owner=owner)["security_groups"] == []


def test_port_security_off_means_no_groups(api, core, net):
    group = make_group(api)["id"]
    plain = make_port(api, net["id"], port_security_enabled=False)
    assert plain["security_groups"] == []
    refused(core, api, "POST", f"{V2}/ports", {"port": {
        "network_id": net["id"], "port_security_enabled": False, "security_groups": [group]}},
        400, "PortSecurityAndIPRequiredForSecurityGroups")
    refused(core, api, "PUT", f"{V2}/ports/{plain['id']}",
            {"port": {"security_groups": [group]}}, 409, "PortSecurityPortHasSecurityGroup")
    guarded = make_port(api, net["id"])
    refused(core, api, "PUT", f"{V2}/ports/{guarded['id']}",
            {"port": {"port_security_enabled": False}}, 409, "PortSecurityPortHasSecurityGroup")
    status, body = api.put(f"{V2}/ports/{guarded['id']}", {"port": {
        "port_security_enabled": False, "security_groups": []}})
    assert status == 200 and body["port"]["security_groups"] == []
    assert core.plugin.changes[-1].after.security == False  # noqa: E712
    # turning it back on adds no group by itself (as Neutron); naming one does
    status, body = api.put(f"{V2}/ports/{guarded['id']}", {"port": {
        "port_security_enabled": True, "security_groups": [group]}})
    assert status == 200 and body["port"]["security_groups"] == [group]


def test_a_refused_port_create_makes_no_default_group(api, core, net):
    refused(core, api, "POST", f"{V2}/ports", {"port": {
        "network_id": net["id"], "fixed_ips": [{"ip_address": "10.5.0.1"}]}}, 400,
        "InvalidInput")
    assert core.logical_snapshot().security_groups == ()


def test_a_deleted_port_leaves_its_groups(api, core, net):
    group = make_group(api)
    port = make_port(api, net["id"], security_groups=[group["id"]])
    assert api.delete(f"{V2}/ports/{port['id']}")[0] == 204
    assert api.delete(f"{GROUPS}/{group['id']}")[0] == 204


# -- project B against project A's groups (B has used groups before A made hers, or not) -------------
@pytest.fixture(params=["b-used-groups-first", "a-first"])
def world(request, api, net):
    a, b = api, api.as_project("bob")
    if request.param == "b-used-groups-first":
        default_group(b)
    w = {"a_group": make_group(a, "a-web")}
    w["a_rule"] = make_rule(a, w["a_group"]["id"], protocol="tcp", port_range_min=80,
                            port_range_max=80)
    w["a_port"] = make_port(a, net["id"], security_groups=[w["a_group"]["id"]])
    w["b_group"] = make_group(b, "b-web")
    b_net = created(b.post(f"{V2}/networks", {"network": {}}), "network")
    w["b_net"] = b_net
    w["b_port"] = make_port(b, b_net["id"])
    return w


@pytest.fixture
def b(api):
    return api.as_project("bob")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_projects_group_and_rule_are_not_found(api, core, b, world, method):
    group, rule = world["a_group"]["id"], world["a_rule"]["id"]
    body = {"security_group": {"name": "stolen"}} if method == "PUT" else None
    refused(core, b, method, f"{GROUPS}/{group}", body, 404, "SecurityGroupNotFound")
    body = {"security_group_rule": {"description": "x"}} if method == "PUT" else None
    refused(core, b, method, f"{RULES}/{rule}", body, 404, "SecurityGroupRuleNotFound")


def test_another_projects_group_cannot_be_used_listed_or_extended(api, core, b, world):
    a_group, b_group = world["a_group"]["id"], world["b_group"]["id"]
    # add a rule to it, or point a rule of one's own at it
    refused(core, b, "POST", RULES, {"security_group_rule": {
        "security_group_id": a_group, "direction": "ingress"}}, 404, "SecurityGroupNotFound")
    refused(core, b, "POST", RULES, {"security_group_rule": {
        "security_group_id": b_group, "direction": "ingress", "remote_group_id": a_group}},
        404, "SecurityGroupNotFound")
    # attach it to one's own port, new or old
    refused(core, b, "POST", f"{V2}/ports", {"port": {
        "network_id": world["b_net"]["id"], "security_groups": [a_group]}}, 404,
        "SecurityGroupNotFound")
    refused(core, b, "PUT", f"{V2}/ports/{world['b_port']['id']}", {"port": {
        "security_groups": [b_group, a_group]}}, 404, "SecurityGroupNotFound")
    # see it, its rules, or the ports in it
    listed = b.get(GROUPS)[1]["security_groups"]
    assert {g["project_id"] for g in listed} == {"bob"}
    assert {r["project_id"] for r in b.get(RULES)[1]["security_group_rules"]} == {"bob"}
    assert b.get(f"{RULES}?security_group_id={a_group}")[1]["security_group_rules"] == []
    assert b.get(f"{V2}/ports?security_groups={a_group}")[1]["ports"] == []
    assert b.get(f"{GROUPS}?tenant_id=alice")[1]["security_groups"] == []
    # and A's rules stay as they were
    assert len(api.get(f"{GROUPS}/{a_group}")[1]["security_group"]["security_group_rules"]) == 3


def test_groups_cannot_be_made_in_another_project(api, core, b, world):
    for owner in ("project_id", "tenant_id"):
        refused(core, b, "POST", GROUPS, {"security_group": {"name": "x", owner: "alice"}},
                403, "PolicyNotAuthorized")


def test_even_an_admin_cannot_mix_projects(api, core, world):
    ops = api.as_project("ops", admin=True)
    refused(core, ops, "POST", f"{V2}/ports", {"port": {
        "network_id": world["b_net"]["id"], "tenant_id": "bob",
        "security_groups": [world["a_group"]["id"]]}}, 404, "SecurityGroupNotFound")
    refused(core, ops, "POST", RULES, {"security_group_rule": {
        "security_group_id": world["b_group"]["id"], "direction": "ingress",
        "remote_group_id": world["a_group"]["id"]}}, 404, "SecurityGroupNotFound")
    # what an admin may do: see both, add a rule to either
    assert {g["project_id"] for g in ops.get(GROUPS)[1]["security_groups"]} >= {"alice", "bob"}
    rule = make_rule(ops, world["a_group"]["id"], protocol="udp", port_range_min=53,
                     port_range_max=53)
    assert rule["project_id"] == "alice"
