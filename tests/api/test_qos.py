"""The qos extension: policies, bandwidth limit rules, qos_policy_id on ports and networks,
the v1.0 port attributes, tenancy, validation, and what the back-end is told."""
import pytest

from tests.conftest import snapshot

POLICIES = "/v2.0/qos/policies"


def rules_url(policy_id, rule_id=None):
    url = f"{POLICIES}/{policy_id}/bandwidth_limit_rules"
    return url + (f"/{rule_id}" if rule_id else "")


def make_policy(client, **attrs):
    status, body = client.post(POLICIES, {"policy": {"name": "gold", **attrs}})
    assert status == 201, body
    return body["policy"]


def make_rule(client, policy_id, **attrs):
    status, body = client.post(rules_url(policy_id),
                               {"bandwidth_limit_rule": {"max_kbps": 10000, **attrs}})
    assert status == 201, body
    return body["bandwidth_limit_rule"]


def make_network(client, **attrs):
    status, body = client.post("/v2.0/networks", {"network": {"name": "n", **attrs}})
    assert status == 201, body
    return body["network"]


def make_port(client, network_id, **attrs):
    status, body = client.post("/v2.0/ports", {"port": {"network_id": network_id, **attrs}})
    assert status == 201, body
    return body["port"]


def qos_changes(core):
    return [(c.hook, c.current["id"]) for c in core.plugin.changes
            if c.resource == "qos_policy"]


# -- discovery -------------------------------------------------------------------------------------
def test_extensions_and_openapi_list_qos(api):
    aliases = {e["alias"] for e in api.get("/v2.0/extensions")[1]["extensions"]}
    assert {"qos", "qnet-port-stats"} <= aliases
    assert "qos" in {e["alias"] for e in api.get("/v1.0/extensions")[1]["extensions"]}
    status, doc = api.get("/openapi.json")
    assert status == 200
    assert "/v2.0/qos/policies/{id}" in doc["paths"]
    nested = doc["paths"]["/v2.0/qos/policies/{policy_id}/bandwidth_limit_rules/{id}"]
    assert [p["name"] for p in nested["put"]["parameters"]] == ["policy_id", "id"]
    assert "/v2.0/ports/{id}/qnet-stats" in doc["paths"]
    assert "qos_policy_id" in doc["components"]["schemas"]["PortCreate"]["properties"]
    rule = doc["components"]["schemas"]["BandwidthLimitRuleCreate"]
    assert rule["required"] == ["max_kbps"]
    assert rule["properties"]["direction"]["enum"] == ["egress", "ingress"]


# -- policies and rules ------------------------------------------------------------------------------
def test_policy_lifecycle_with_rules(api, core):
    policy = make_policy(api, description="10 up, 50 down")
    assert policy["rules"] == [] and policy["shared"] is False
    assert policy["project_id"] == "alice"
    egress = make_rule(api, policy["id"])
    assert egress["direction"] == "egress" and egress["max_burst_kbps"] == 0
    ingress = make_rule(api, policy["id"], max_kbps=50000, max_burst_kbps=5000,
                        direction="ingress")
    status, body = api.get(f"{POLICIES}/{policy['id']}")
    assert status == 200
    assert {(r["direction"], r["max_kbps"], r["max_burst_kbps"], r["type"], r["qos_policy_id"])
            for r in body["policy"]["rules"]} == {
        ("egress", 10000, 0, "bandwidth_limit", policy["id"]),
        ("ingress", 50000, 5000, "bandwidth_limit", policy["id"])}
    assert body["policy"]["revision_number"] == 2

    status, body = api.put(rules_url(policy["id"], egress["id"]),
                           {"bandwidth_limit_rule": {"max_kbps": 20000}})
    assert status == 200 and body["bandwidth_limit_rule"]["max_kbps"] == 20000
    status, body = api.get(rules_url(policy["id"]))
    assert status == 200
    assert sorted(r["max_kbps"] for r in body["bandwidth_limit_rules"]) == [20000, 50000]
    status, body = api.get(rules_url(policy["id"]) + "?direction=ingress")
    assert [r["id"] for r in body["bandwidth_limit_rules"]] == [ingress["id"]]
    assert api.get(rules_url(policy["id"], ingress["id"]))[1]["bandwidth_limit_rule"] == ingress

    assert api.delete(rules_url(policy["id"], ingress["id"]))[0] == 204
    assert api.get(rules_url(policy["id"], ingress["id"]))[0] == 404
    assert api.put(f"{POLICIES}/{policy['id']}", {"policy": {"name": "silver"}})[0] == 200
    assert api.delete(f"{POLICIES}/{policy['id']}")[0] == 204
    assert api.get(f"{POLICIES}/{policy['id']}")[0] == 404
    # every write reached the back-end as a change of the policy, rules included
    assert [h for h, _ in qos_changes(core)] == (
        ["qos_policy_created"] + ["qos_policy_updated"] * 5 + ["qos_policy_deleted"])
    last_update = [c for c in core.plugin.changes if c.hook == "qos_policy_updated"][-1]
    assert [r["max_kbps"] for r in last_update.new["rules"]] == [20000]


def test_one_rule_per_direction(api, core):
    policy = make_policy(api)
    egress = make_rule(api, policy["id"])
    ingress = make_rule(api, policy["id"], direction="ingress")
    before = snapshot(core)
    status, body = api.post(rules_url(policy["id"]),
                            {"bandwidth_limit_rule": {"max_kbps": 5, "direction": "egress"}})
    assert status == 409 and body["NeutronError"]["type"] == "QosRuleConflict"
    status, body = api.put(rules_url(policy["id"], ingress["id"]),
                           {"bandwidth_limit_rule": {"direction": "egress"}})
    assert status == 409, body
    assert snapshot(core) == before
    # changing the direction of the only rule of that direction is fine
    api.delete(rules_url(policy["id"], egress["id"]))
    status, body = api.put(rules_url(policy["id"], ingress["id"]),
                           {"bandwidth_limit_rule": {"direction": "egress"}})
    assert status == 200 and body["bandwidth_limit_rule"]["direction"] == "egress"


@pytest.mark.parametrize("rule", [
    {"max_kbps": 0}, {"max_kbps": -1}, {"max_kbps": 100_000_001}, {"max_kbps": "fast"},
    {"max_kbps": 1.5}, {"max_kbps": True}, {"max_kbps": None},
    {"max_kbps": 10, "max_burst_kbps": -1}, {"max_kbps": 10, "max_burst_kbps": 100_000_001},
    {"max_kbps": 10, "direction": "both"}, {"max_kbps": 10, "direction": None},
    {"max_kbps": 10, "type": "dscp"}, {"max_burst_kbps": 10}, {"max_kbps": 10, "id": "x"},
])
def test_bad_rules_are_400_and_change_nothing(api, core, rule):
    policy = make_policy(api)
    before = snapshot(core)
    status, body = api.post(rules_url(policy["id"]), {"bandwidth_limit_rule": rule})
    assert status == 400, body
    assert "NeutronError" in body
    assert snapshot(core) == before


@pytest.mark.parametrize("update", [{"max_kbps": 0}, {"max_burst_kbps": -5},
                                    {"direction": "up"}, {"id": "x"}])
def test_bad_rule_updates_are_400(api, core, update):
    policy = make_policy(api)
    rule = make_rule(api, policy["id"])
    before = snapshot(core)
    status, _ = api.put(rules_url(policy["id"], rule["id"]), {"bandwidth_limit_rule": update})
    assert status == 400
    assert snapshot(core) == before


def test_sane_maximum_and_minimum_are_accepted(api):
    policy = make_policy(api)
    rule = make_rule(api, policy["id"], max_kbps=100_000_000, max_burst_kbps=100_000_000)
    assert rule["max_kbps"] == 100_000_000
    rule = make_rule(api, policy["id"], max_kbps=1, direction="ingress")
    assert rule["max_kbps"] == 1


def test_rules_of_a_missing_policy_are_404(api):
    missing = "0a8e5c9e-1111-4d9b-9b7e-1234567890ab"
    assert api.get(rules_url(missing))[0] == 404
    status, body = api.post(rules_url(missing), {"bandwidth_limit_rule": {"max_kbps": 1}})
    assert status == 404 and body["NeutronError"]["type"] == "QosPolicyNotFound"
    policy = make_policy(api)
    assert api.get(rules_url(policy["id"], missing))[0] == 404
    # a rule is found only under its own policy
    other = make_policy(api)
    rule = make_rule(api, other["id"])
    assert api.get(rules_url(policy["id"], rule["id"]))[0] == 404
    assert api.delete(rules_url(policy["id"], rule["id"]))[0] == 404


# -- tenancy ------------------------------------------------------------------------------------------
def test_other_projects_policies_are_404(api, core):
    bob = api.as_project("bob")
    policy = make_policy(api)
    rule = make_rule(api, policy["id"])
    before = snapshot(core)
    assert bob.get(f"{POLICIES}/{policy['id']}")[0] == 404
    assert bob.get(POLICIES)[1]["policies"] == []
    assert bob.put(f"{POLICIES}/{policy['id']}", {"policy": {"name": "x"}})[0] == 404
    assert bob.delete(f"{POLICIES}/{policy['id']}")[0] == 404
    assert bob.get(rules_url(policy["id"]))[0] == 404
    assert bob.get(rules_url(policy["id"], rule["id"]))[0] == 404
    assert bob.post(rules_url(policy["id"]), {"bandwidth_limit_rule": {"max_kbps": 1}})[0] == 404
    assert bob.put(rules_url(policy["id"], rule["id"]),
                   {"bandwidth_limit_rule": {"max_kbps": 1}})[0] == 404
    assert bob.delete(rules_url(policy["id"], rule["id"]))[0] == 404
    # nor can bob's ports or networks name it
    net = make_network(bob)
    status, body = bob.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                     "qos_policy_id": policy["id"]}})
    assert status == 404 and body["NeutronError"]["type"] == "QosPolicyNotFound"
    assert bob.put(f"/v2.0/networks/{net['id']}",
                   {"network": {"qos_policy_id": policy["id"]}})[0] == 404
    assert bob.post("/v2.0/networks", {"network": {"qos_policy_id": policy["id"]}})[0] == 404
    # bob's failed attempts changed nothing of alice's
    assert {k: v for k, v in snapshot(core).items() if k.startswith("qos")} == \
        {k: v for k, v in before.items() if k.startswith("qos")}


def test_only_admins_share_and_shared_policies_are_usable_read_only(api, core):
    bob = api.as_project("bob")
    admin = api.as_project("ops", admin=True)
    status, body = api.post(POLICIES, {"policy": {"name": "s", "shared": True}})
    assert status == 403
    assert api.post(POLICIES, {"policy": {"name": "s", "shared": False}})[0] == 201
    shared = make_policy(admin, name="bronze", shared=True)
    rule = make_rule(admin, shared["id"], max_kbps=1000)
    # visible to and attachable by every project ...
    assert bob.get(f"{POLICIES}/{shared['id']}")[0] == 200
    assert bob.get(rules_url(shared["id"], rule["id"]))[0] == 200
    net = make_network(bob)
    port = make_port(bob, net["id"], qos_policy_id=shared["id"])
    assert port["qos_policy_id"] == shared["id"]
    # ... but only its owner (or an admin) changes it
    assert bob.put(f"{POLICIES}/{shared['id']}", {"policy": {"name": "mine"}})[0] == 403
    assert bob.delete(f"{POLICIES}/{shared['id']}")[0] == 403
    assert bob.post(rules_url(shared["id"]), {"bandwidth_limit_rule": {
        "max_kbps": 5, "direction": "ingress"}})[0] == 403
    assert bob.put(rules_url(shared["id"], rule["id"]),
                   {"bandwidth_limit_rule": {"max_kbps": 5}})[0] == 403
    assert bob.delete(rules_url(shared["id"], rule["id"]))[0] == 403
    # unsharing while another project uses it would strand bob's port
    status, body = admin.put(f"{POLICIES}/{shared['id']}", {"policy": {"shared": False}})
    assert status == 409 and body["NeutronError"]["type"] == "QosPolicyInUse"
    # admins see every policy
    assert len(admin.get(POLICIES)[1]["policies"]) == 2


# -- ports and networks ------------------------------------------------------------------------------
def test_policy_in_use_cannot_be_deleted(api, core):
    policy = make_policy(api)
    net = make_network(api, qos_policy_id=policy["id"])
    assert net["qos_policy_id"] == policy["id"]
    status, body = api.delete(f"{POLICIES}/{policy['id']}")
    assert status == 409 and body["NeutronError"]["type"] == "QosPolicyInUse"
    assert "network" in body["NeutronError"]["message"]
    api.put(f"/v2.0/networks/{net['id']}", {"network": {"qos_policy_id": None}})
    port = make_port(api, net["id"], qos_policy_id=policy["id"])
    status, body = api.delete(f"{POLICIES}/{policy['id']}")
    assert status == 409 and port["id"] in body["NeutronError"]["message"]
    status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {"qos_policy_id": None}})
    assert status == 200 and body["port"]["qos_policy_id"] is None
    assert api.delete(f"{POLICIES}/{policy['id']}")[0] == 204


def test_qos_policy_id_on_ports_and_networks(api, core):
    gold, silver = make_policy(api, name="gold"), make_policy(api, name="silver")
    net = make_network(api)
    assert net["qos_policy_id"] is None
    port = make_port(api, net["id"])
    assert port["qos_policy_id"] is None
    status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {"qos_policy_id": gold["id"]}})
    assert status == 200 and body["port"]["qos_policy_id"] == gold["id"]
    status, body = api.put(f"/v2.0/networks/{net['id']}",
                           {"network": {"qos_policy_id": silver["id"]}})
    assert status == 200 and body["network"]["qos_policy_id"] == silver["id"]
    # filters, and the back-end hears of it with the port
    status, body = api.get(f"/v2.0/ports?qos_policy_id={gold['id']}")
    assert [p["id"] for p in body["ports"]] == [port["id"]]
    last = [c for c in core.plugin.changes if c.resource == "port"][-1]
    assert last.new["qos_policy_id"] == gold["id"]
    for bad in ("not-a-uuid", 7):
        assert api.put(f"/v2.0/ports/{port['id']}", {"port": {"qos_policy_id": bad}})[0] == 400
    missing = "0a8e5c9e-1111-4d9b-9b7e-1234567890ab"
    before = snapshot(core)
    assert api.put(f"/v2.0/ports/{port['id']}", {"port": {"qos_policy_id": missing}})[0] == 404
    assert api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                             "qos_policy_id": missing}})[0] == 404
    assert snapshot(core) == before


# -- Quantum v1.0 --------------------------------------------------------------------------------------
def v1_port(api, tenant="alice"):
    net = api.post(f"/v1.0/tenants/{tenant}/networks", {"network": {"name": "n"}})[1]["network"]
    port = api.post(f"/v1.0/tenants/{tenant}/networks/{net['id']}/ports")[1]["port"]
    return f"/v1.0/tenants/{tenant}/networks/{net['id']}/ports/{port['id']}", port["id"]


def test_v1_bandwidth_limits_as_port_attributes(api, core):
    url, port_id = v1_port(api)
    assert "bandwidth_limits" not in api.get(url)[1]["port"]
    limits = {"egress": {"max_kbps": 10000}, "ingress": {"max_kbps": 2000,
                                                          "max_burst_kbps": 600}}
    status, _ = api.put(url, {"port": {"bandwidth_limits": limits, "state": "DOWN"}})
    assert status == 204
    body = api.get(url + "/detail")[1]["port"]
    assert body["state"] == "DOWN"
    assert body["bandwidth_limits"] == {"egress": {"max_kbps": 10000, "max_burst_kbps": 0},
                                        "ingress": {"max_kbps": 2000, "max_burst_kbps": 600}}
    # the same limits through v2.0: a policy of the port's own
    v2 = api.get(f"/v2.0/ports/{port_id}")[1]["port"]
    policy = api.get(f"{POLICIES}/{v2['qos_policy_id']}")[1]["policy"]
    assert {r["direction"]: r["max_kbps"] for r in policy["rules"]} == {"egress": 10000,
                                                                        "ingress": 2000}
    # a change rewrites that policy in place (the back-end modifies, never replaces)
    api.put(url, {"port": {"bandwidth_limits": {"egress": {"max_kbps": 50000}}}})
    assert api.get(url)[1]["port"]["bandwidth_limits"] == {
        "egress": {"max_kbps": 50000, "max_burst_kbps": 0}}
    assert api.get(f"/v2.0/ports/{port_id}")[1]["port"]["qos_policy_id"] == policy["id"]
    assert qos_changes(core)[-1] == ("qos_policy_updated", policy["id"])
    # none: the private policy goes away
    assert api.put(url, {"port": {"bandwidth_limits": {}}})[0] == 204
    assert "bandwidth_limits" not in api.get(url)[1]["port"]
    assert api.get(f"{POLICIES}/{policy['id']}")[0] == 404
    assert qos_changes(core)[-1] == ("qos_policy_deleted", policy["id"])


@pytest.mark.parametrize("limits", [
    {"egress": {"max_kbps": 0}}, {"egress": {"max_kbps": -3}}, {"up": {"max_kbps": 10}},
    {"egress": {"max_burst_kbps": 10}}, {"egress": {"max_kbps": 10, "rate": 3}},
    {"egress": {"max_kbps": 10, "max_burst_kbps": -1}}, ["egress"], {"egress": 10},
    {"ingress": {"max_kbps": "10k"}},
])
def test_v1_bad_bandwidth_limits_are_400(api, core, limits):
    url, _ = v1_port(api)
    before = snapshot(core)
    status, body = api.put(url, {"port": {"bandwidth_limits": limits}})
    assert status == 400, body
    assert snapshot(core) == before


def test_v1_other_tenants_ports_are_out_of_reach(api, core):
    url, _ = v1_port(api)
    bob = api.as_project("bob")
    status, _ = bob.put(url, {"port": {"bandwidth_limits": {"egress": {"max_kbps": 1}}}})
    assert status == 403
    bob_url = url.replace("/tenants/alice/", "/tenants/bob/")
    assert bob.put(bob_url, {"port": {"bandwidth_limits": {
        "egress": {"max_kbps": 1}}}})[0] == 404


# -- statistics ---------------------------------------------------------------------------------------
def test_port_stats_without_a_data_plane_is_501_and_others_ports_404(api):
    net = make_network(api)
    port = make_port(api, net["id"])
    status, body = api.get(f"/v2.0/ports/{port['id']}/qnet-stats")
    assert status == 501
    assert "noop" in body["NeutronError"]["message"]
    assert api.as_project("bob").get(f"/v2.0/ports/{port['id']}/qnet-stats")[0] == 404
