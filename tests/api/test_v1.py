"""The Quantum v1.0 API shape: /v1.0/tenants/{tenant}/networks/{net}/ports/{port}/attachment.

In-process (``api`` fixture: project alice, noauth). Every fault body is checked in v1.0's shape
``{"<faultName>": {"code", "message", "detail"}}``, and failed writes are proven to change nothing.
"""
import pytest

from controller.context import Context
from tests.conftest import Client, snapshot

T = "/v1.0/tenants/alice"
IFACE = "nova.example.com/t/server/1/eth0"
IFACE2 = "nova.example.com/t/server/2/eth0"
MISSING = "00000000-0000-0000-0000-000000000000"


def fault(body, name, code):
    """Assert ``body`` is a v1.0 fault named ``name``; return its message."""
    assert list(body) == [name], body
    assert body[name]["code"] == code
    assert isinstance(body[name]["message"], str) and body[name]["message"]
    assert "detail" in body[name]
    return body[name]["message"]


def create_net(api, name="net1", tenant="alice"):
    status, body = api.post(f"/v1.0/tenants/{tenant}/networks", {"network": {"name": name}})
    assert status == 200, body
    return body["network"]["id"]


def create_port(api, net, body=None, tenant="alice"):
    status, data = api.post(f"/v1.0/tenants/{tenant}/networks/{net}/ports", body)
    assert status == 200, data
    assert list(data) == ["port"] and list(data["port"]) == ["id"]
    return data["port"]["id"]


def plug(api, net, port, iface=IFACE):
    return api.put(f"{T}/networks/{net}/ports/{port}/attachment", {"attachment": {"id": iface}})


def by_id(items):
    """List order within one second of creation is not defined (created_at has 1 s
    resolution, ties go by random id): compare lists sorted by id."""
    return sorted(items, key=lambda i: i["id"])


def interface_changes(core):
    return [c for c in core.plugin.changes if c.hook.startswith("interface_")]


# -- networks -------------------------------------------------------------------------------------
def test_list_networks_empty(api):
    assert api.get(f"{T}/networks") == (200, {"networks": []})
    assert api.get(f"{T}/networks/detail") == (200, {"networks": []})


def test_create_network_returns_200_with_only_the_id(api, core):
    status, body = api.post(f"{T}/networks", {"network": {"name": "blue"}})
    assert status == 200
    assert list(body) == ["network"] and list(body["network"]) == ["id"]
    net = core.networks.get(Context("alice"), body["network"]["id"])
    assert net["name"] == "blue" and net["project_id"] == "alice"


def test_list_and_detail_networks(api):
    a, b = create_net(api, "a"), create_net(api, "b")
    status, body = api.get(f"{T}/networks")
    assert status == 200 and list(body) == ["networks"]
    assert by_id(body["networks"]) == [{"id": i} for i in sorted([a, b])]
    status, body = api.get(f"{T}/networks/detail")
    assert status == 200 and list(body) == ["networks"]
    assert by_id(body["networks"]) == by_id([{"id": a, "name": "a"}, {"id": b, "name": "b"}])


@pytest.mark.parametrize("body", [{"network": {}}, {"network": {"nom": "x"}}, {"net": {"name": "x"}},
                                  {"network": {"name": "x"}, "extra": 1}, {"network": "x"}])
def test_create_network_bad_body_is_malformed_request(api, core, body):
    before = snapshot(core)
    status, data = api.post(f"{T}/networks", body)
    assert status == 400
    fault(data, "malformedRequest", 400)
    assert snapshot(core) == before


def test_create_network_missing_name_message(api):
    status, data = api.post(f"{T}/networks", {"network": {}})
    assert status == 400
    assert "name" in fault(data, "malformedRequest", 400)


def test_create_network_name_too_long(api, core):
    before = snapshot(core)
    status, data = api.post(f"{T}/networks", {"network": {"name": "x" * 256}})
    assert status == 400
    fault(data, "malformedRequest", 400)
    assert snapshot(core) == before


@pytest.mark.parametrize("raw", ["{not json", "", "[1, 2]", "\"network\""])
def test_malformed_json_is_400_and_changes_nothing(api, core, raw):
    net = create_net(api)
    port = create_port(api, net)
    before = snapshot(core)
    for method, path in [("POST", f"{T}/networks"),
                         ("PUT", f"{T}/networks/{net}"),
                         ("PUT", f"{T}/networks/{net}/ports/{port}"),
                         ("PUT", f"{T}/networks/{net}/ports/{port}/attachment")]:
        status, data = api.request(method, path, raw=raw)
        assert status == 400, (method, path, data)
        fault(data, "malformedRequest", 400)
    assert snapshot(core) == before


def test_show_network(api):
    net = create_net(api, "blue")
    assert api.get(f"{T}/networks/{net}") == (200, {"network": {"id": net, "name": "blue"}})


def test_show_network_detail_lists_ports_with_state_and_attachment(api):
    net = create_net(api, "blue")
    p1 = create_port(api, net)
    p2 = create_port(api, net, {"port": {"state": "DOWN"}})
    assert plug(api, net, p1)[0] == 204
    status, body = api.get(f"{T}/networks/{net}/detail")
    assert status == 200
    assert list(body) == ["network"] and set(body["network"]) == {"id", "name", "ports"}
    assert (body["network"]["id"], body["network"]["name"]) == (net, "blue")
    assert by_id(body["network"]["ports"]) == by_id([
        {"id": p1, "state": "ACTIVE", "attachment": {"id": IFACE}},
        {"id": p2, "state": "DOWN"}])


def test_show_missing_network_is_network_not_found(api):
    for path in (f"{T}/networks/{MISSING}", f"{T}/networks/{MISSING}/detail",
                 f"{T}/networks/{MISSING}/ports"):
        status, data = api.get(path)
        assert status == 404, path
        assert MISSING in fault(data, "networkNotFound", 404)


def test_update_network_name(api, core):
    net = create_net(api, "old")
    status, data = api.put(f"{T}/networks/{net}", {"network": {"name": "new"}})
    assert (status, data) == (204, None)
    assert api.get(f"{T}/networks/{net}")[1] == {"network": {"id": net, "name": "new"}}
    assert [c.new["name"] for c in core.plugin.changes if c.hook == "network_updated"] == ["new"]


def test_update_network_rejects_unknown_attribute(api, core):
    net = create_net(api, "old")
    before = snapshot(core)
    status, data = api.put(f"{T}/networks/{net}", {"network": {"name": "x", "shared": True}})
    assert status == 400
    assert "shared" in fault(data, "malformedRequest", 400)
    assert snapshot(core) == before


def test_update_missing_network(api):
    status, data = api.put(f"{T}/networks/{MISSING}", {"network": {"name": "x"}})
    assert status == 404
    fault(data, "networkNotFound", 404)


def test_delete_network(api):
    net = create_net(api)
    assert api.delete(f"{T}/networks/{net}") == (204, None)
    status, data = api.get(f"{T}/networks/{net}")
    assert status == 404
    fault(data, "networkNotFound", 404)
    assert api.get(f"{T}/networks") == (200, {"networks": []})


def test_delete_network_with_ports_is_network_in_use(api, core):
    net = create_net(api)
    create_port(api, net)
    before = snapshot(core)
    status, data = api.delete(f"{T}/networks/{net}")
    assert status == 409
    assert net in fault(data, "networkInUse", 409)
    assert snapshot(core) == before


# -- ports ----------------------------------------------------------------------------------------
def test_create_port_without_body_is_active(api, core):
    net = create_net(api)
    port = create_port(api, net)
    assert api.get(f"{T}/networks/{net}/ports/{port}") == (
        200, {"port": {"id": port, "state": "ACTIVE"}})
    assert core.ports.get(Context("alice"), port)["admin_state_up"] is True


def test_create_port_with_empty_port_object_is_active(api):
    net = create_net(api)
    port = create_port(api, net, {"port": {}})
    assert api.get(f"{T}/networks/{net}/ports/{port}")[1]["port"]["state"] == "ACTIVE"


def test_create_port_down(api, core):
    net = create_net(api)
    port = create_port(api, net, {"port": {"state": "DOWN"}})
    assert api.get(f"{T}/networks/{net}/ports/{port}") == (
        200, {"port": {"id": port, "state": "DOWN"}})
    assert core.ports.get(Context("alice"), port)["admin_state_up"] is False


@pytest.mark.parametrize("state", ["UP", "active", "", None, True])
def test_create_port_bad_state(api, core, state):
    net = create_net(api)
    before = snapshot(core)
    status, data = api.post(f"{T}/networks/{net}/ports", {"port": {"state": state}})
    assert status == 400
    fault(data, "requestedStateInvalid", 400)
    assert snapshot(core) == before


def test_create_port_unknown_attribute(api, core):
    net = create_net(api)
    before = snapshot(core)
    status, data = api.post(f"{T}/networks/{net}/ports", {"port": {"mac_address": "x"}})
    assert status == 400
    fault(data, "malformedRequest", 400)
    assert snapshot(core) == before


def test_create_port_on_missing_network(api):
    status, data = api.post(f"{T}/networks/{MISSING}/ports")
    assert status == 404
    fault(data, "networkNotFound", 404)


def test_list_ports_and_detail(api):
    net = create_net(api)
    other = create_net(api, "other")
    p1 = create_port(api, net)
    p2 = create_port(api, net, {"port": {"state": "DOWN"}})
    create_port(api, other)
    status, body = api.get(f"{T}/networks/{net}/ports")
    assert status == 200 and list(body) == ["ports"]
    assert by_id(body["ports"]) == [{"id": i} for i in sorted([p1, p2])]
    status, body = api.get(f"{T}/networks/{net}/ports/detail")
    assert status == 200 and list(body) == ["ports"]
    assert by_id(body["ports"]) == by_id([{"id": p1, "state": "ACTIVE"},
                                          {"id": p2, "state": "DOWN"}])


def test_show_port_detail_includes_attachment_only_when_plugged(api):
    net = create_net(api)
    port = create_port(api, net)
    path = f"{T}/networks/{net}/ports/{port}"
    assert api.get(path + "/detail") == (200, {"port": {"id": port, "state": "ACTIVE"}})
    assert plug(api, net, port)[0] == 204
    assert api.get(path + "/detail") == (
        200, {"port": {"id": port, "state": "ACTIVE", "attachment": {"id": IFACE}}})
    assert api.get(path) == (200, {"port": {"id": port, "state": "ACTIVE"}})


def test_update_port_state(api):
    net = create_net(api)
    port = create_port(api, net)
    path = f"{T}/networks/{net}/ports/{port}"
    assert api.put(path, {"port": {"state": "DOWN"}}) == (204, None)
    assert api.get(path)[1] == {"port": {"id": port, "state": "DOWN"}}
    assert api.put(path, {"port": {"state": "ACTIVE"}}) == (204, None)
    assert api.get(path)[1] == {"port": {"id": port, "state": "ACTIVE"}}


def test_update_port_bad_state(api, core):
    net = create_net(api)
    port = create_port(api, net)
    before = snapshot(core)
    status, data = api.put(f"{T}/networks/{net}/ports/{port}", {"port": {"state": "BROKEN"}})
    assert status == 400
    assert "BROKEN" in fault(data, "requestedStateInvalid", 400)
    assert snapshot(core) == before


def test_delete_port(api):
    net = create_net(api)
    port = create_port(api, net)
    assert api.delete(f"{T}/networks/{net}/ports/{port}") == (204, None)
    status, data = api.get(f"{T}/networks/{net}/ports/{port}")
    assert status == 404
    fault(data, "portNotFound", 404)
    assert api.delete(f"{T}/networks/{net}") == (204, None)


def test_missing_port_is_port_not_found(api):
    net = create_net(api)
    base = f"{T}/networks/{net}/ports/{MISSING}"
    for method, path, body in [("GET", base, None), ("GET", base + "/detail", None),
                               ("PUT", base, {"port": {"state": "DOWN"}}),
                               ("DELETE", base, None), ("GET", base + "/attachment", None),
                               ("PUT", base + "/attachment", {"attachment": {"id": IFACE}}),
                               ("DELETE", base + "/attachment", None)]:
        status, data = api.request(method, path, body)
        assert status == 404, (method, path)
        assert MISSING in fault(data, "portNotFound", 404)


def test_port_of_another_network_in_url_is_port_not_found(api, core):
    net_a, net_b = create_net(api, "a"), create_net(api, "b")
    port = create_port(api, net_a)
    before = snapshot(core)
    base = f"{T}/networks/{net_b}/ports/{port}"
    for method, path, body in [("GET", base, None), ("GET", base + "/detail", None),
                               ("PUT", base, {"port": {"state": "DOWN"}}),
                               ("DELETE", base, None), ("GET", base + "/attachment", None),
                               ("PUT", base + "/attachment", {"attachment": {"id": IFACE}}),
                               ("DELETE", base + "/attachment", None)]:
        status, data = api.request(method, path, body)
        assert status == 404, (method, path)
        fault(data, "portNotFound", 404)
    assert snapshot(core) == before


# -- attachments ----------------------------------------------------------------------------------
def test_attachment_unplugged_is_empty(api):
    net = create_net(api)
    port = create_port(api, net)
    assert api.get(f"{T}/networks/{net}/ports/{port}/attachment") == (200, {"attachment": {}})


def test_plug_and_show_attachment(api, core):
    net = create_net(api)
    port = create_port(api, net)
    assert plug(api, net, port) == (204, None)
    assert api.get(f"{T}/networks/{net}/ports/{port}/attachment") == (
        200, {"attachment": {"id": IFACE}})
    assert core.ports.get(Context("alice"), port)["attachment"] == IFACE
    plugged = interface_changes(core)
    assert [c.hook for c in plugged] == ["interface_plugged"]
    assert plugged[0].old["attachment"] is None and plugged[0].new["attachment"] == IFACE
    assert plugged[0].new["id"] == port
    assert plugged[0].context.project_id == "alice"


def test_plug_same_interface_into_second_port_is_already_attached(api, core):
    net = create_net(api)
    p1, p2 = create_port(api, net), create_port(api, net)
    assert plug(api, net, p1)[0] == 204
    before, n_changes = snapshot(core), len(core.plugin.changes)
    status, data = plug(api, net, p2)
    assert status == 409
    assert IFACE in fault(data, "alreadyAttached", 409)
    assert snapshot(core) == before
    assert len(core.plugin.changes) == n_changes
    assert api.get(f"{T}/networks/{net}/ports/{p2}/attachment")[1] == {"attachment": {}}


def test_plug_interface_plugged_on_another_network_is_already_attached(api, core):
    net_a, net_b = create_net(api, "a"), create_net(api, "b")
    pa, pb = create_port(api, net_a), create_port(api, net_b)
    assert plug(api, net_a, pa)[0] == 204
    status, data = plug(api, net_b, pb)
    assert status == 409
    fault(data, "alreadyAttached", 409)


def test_plug_other_interface_into_occupied_port_is_port_in_use(api, core):
    net = create_net(api)
    port = create_port(api, net)
    assert plug(api, net, port)[0] == 204
    before, n_changes = snapshot(core), len(core.plugin.changes)
    status, data = plug(api, net, port, IFACE2)
    assert status == 409
    assert IFACE in fault(data, "portInUse", 409)
    assert snapshot(core) == before
    assert len(core.plugin.changes) == n_changes
    assert api.get(f"{T}/networks/{net}/ports/{port}/attachment")[1] == {
        "attachment": {"id": IFACE}}


def test_replug_same_interface_same_port_is_idempotent(api, core):
    net = create_net(api)
    port = create_port(api, net)
    assert plug(api, net, port)[0] == 204
    assert plug(api, net, port) == (204, None)
    assert api.get(f"{T}/networks/{net}/ports/{port}/attachment")[1] == {
        "attachment": {"id": IFACE}}
    # The back-end is not told twice about the same plug.
    assert [c.hook for c in interface_changes(core)] == ["interface_plugged"]


@pytest.mark.parametrize("body", [{"attachment": {"id": ""}}, {"attachment": {"id": 5}},
                                  {"attachment": {}}, {"attachment": {"id": "x" * 256}},
                                  {"attachment": {"id": IFACE, "x": 1}}, {"id": IFACE}])
def test_plug_bad_body(api, core, body):
    net = create_net(api)
    port = create_port(api, net)
    before = snapshot(core)
    status, data = api.put(f"{T}/networks/{net}/ports/{port}/attachment", body)
    assert status == 400
    fault(data, "malformedRequest", 400)
    assert snapshot(core) == before


def test_delete_plugged_port_is_port_in_use_until_unplugged(api, core):
    net = create_net(api)
    port = create_port(api, net)
    assert plug(api, net, port)[0] == 204
    before = snapshot(core)
    status, data = api.delete(f"{T}/networks/{net}/ports/{port}")
    assert status == 409
    assert IFACE in fault(data, "portInUse", 409)
    assert snapshot(core) == before

    assert api.delete(f"{T}/networks/{net}/ports/{port}/attachment") == (204, None)
    assert api.get(f"{T}/networks/{net}/ports/{port}/attachment")[1] == {"attachment": {}}
    assert api.delete(f"{T}/networks/{net}/ports/{port}") == (204, None)
    assert api.delete(f"{T}/networks/{net}") == (204, None)


def test_unplug_notifies_plugin_and_frees_the_interface(api, core):
    net = create_net(api)
    p1, p2 = create_port(api, net), create_port(api, net)
    assert plug(api, net, p1)[0] == 204
    assert api.delete(f"{T}/networks/{net}/ports/{p1}/attachment") == (204, None)
    changes = interface_changes(core)
    assert [c.hook for c in changes] == ["interface_plugged", "interface_unplugged"]
    unplugged = changes[1]
    assert unplugged.old["attachment"] == IFACE and unplugged.new["attachment"] is None
    assert unplugged.old["id"] == p1
    # The interface may now go into another port.
    assert plug(api, net, p2)[0] == 204
    assert api.get(f"{T}/networks/{net}/ports/{p2}/attachment")[1] == {
        "attachment": {"id": IFACE}}


def test_unplug_unplugged_port_is_a_noop(api, core):
    net = create_net(api)
    port = create_port(api, net)
    before, n_changes = snapshot(core), len(core.plugin.changes)
    assert api.delete(f"{T}/networks/{net}/ports/{port}/attachment") == (204, None)
    assert snapshot(core) == before
    assert len(core.plugin.changes) == n_changes


# -- format, tenancy, extensions ------------------------------------------------------------------
def test_json_suffix(api):
    status, body = api.post(f"{T}/networks.json", {"network": {"name": "j"}})
    assert status == 200
    net = body["network"]["id"]
    assert api.get(f"{T}/networks.json") == (200, {"networks": [{"id": net}]})
    assert api.get(f"{T}/networks/{net}.json") == (200, {"network": {"id": net, "name": "j"}})
    assert api.get(f"{T}/networks/{net}/detail.json")[1]["network"]["ports"] == []
    port = api.post(f"{T}/networks/{net}/ports.json")[1]["port"]["id"]
    assert api.put(f"{T}/networks/{net}/ports/{port}/attachment.json",
                   {"attachment": {"id": IFACE}}) == (204, None)
    assert api.get(f"{T}/networks/{net}/ports/{port}/attachment.json") == (
        200, {"attachment": {"id": IFACE}})


def test_other_tenant_url_is_forbidden(api, core):
    net = create_net(api)
    port = create_port(api, net)
    bob = api.as_project("bob")
    before = snapshot(core)
    for method, path, body in [
            ("GET", f"{T}/networks", None),
            ("GET", f"{T}/networks/detail", None),
            ("POST", f"{T}/networks", {"network": {"name": "x"}}),
            ("GET", f"{T}/networks/{net}", None),
            ("PUT", f"{T}/networks/{net}", {"network": {"name": "x"}}),
            ("DELETE", f"{T}/networks/{net}", None),
            ("POST", f"{T}/networks/{net}/ports", None),
            ("GET", f"{T}/networks/{net}/ports/{port}", None),
            ("DELETE", f"{T}/networks/{net}/ports/{port}", None),
            ("PUT", f"{T}/networks/{net}/ports/{port}/attachment", {"attachment": {"id": IFACE}}),
            ("GET", f"{T}/networks/{net}/ports/{port}/attachment", None)]:
        status, data = bob.request(method, path, body)
        assert status == 403, (method, path, data)
        fault(data, "forbidden", 403)
    assert snapshot(core) == before


def test_own_tenant_url_cannot_reach_another_tenants_network(api, core):
    net = create_net(api)
    port = create_port(api, net)
    bob = api.as_project("bob")
    b = "/v1.0/tenants/bob"
    assert bob.get(f"{b}/networks") == (200, {"networks": []})
    before = snapshot(core)
    for method, path, body in [
            ("GET", f"{b}/networks/{net}", None),
            ("GET", f"{b}/networks/{net}/detail", None),
            ("PUT", f"{b}/networks/{net}", {"network": {"name": "x"}}),
            ("DELETE", f"{b}/networks/{net}", None),
            ("GET", f"{b}/networks/{net}/ports", None),
            ("POST", f"{b}/networks/{net}/ports", None),
            ("GET", f"{b}/networks/{net}/ports/{port}", None),
            ("PUT", f"{b}/networks/{net}/ports/{port}/attachment", {"attachment": {"id": IFACE}})]:
        status, data = bob.request(method, path, body)
        assert status == 404, (method, path, data)
        fault(data, "networkNotFound", 404)
    assert snapshot(core) == before


def test_shared_network_is_not_visible_through_v1(api, core):
    """Sharing is a v2.0 notion: v1.0 shows a tenant its own networks only."""
    admin = api.as_project("alice", admin=True)
    status, body = admin.post("/v2.0/networks", {"network": {"name": "pub", "shared": True}})
    assert status == 201, body
    net = body["network"]["id"]
    bob = api.as_project("bob")
    assert bob.get("/v1.0/tenants/bob/networks") == (200, {"networks": []})
    status, data = bob.get(f"/v1.0/tenants/bob/networks/{net}")
    assert status == 404
    fault(data, "networkNotFound", 404)


def test_noauth_without_headers_acts_as_the_url_tenant(app, core):
    """Development mode: with no X-Project-Id, noauth believes the v1.0 URL's tenant."""
    anonymous = Client(app)
    status, body = anonymous.post("/v1.0/tenants/carol/networks", {"network": {"name": "c"}})
    assert status == 200
    assert core.networks.get(Context("carol"), body["network"]["id"])["project_id"] == "carol"


def test_admin_acts_in_another_tenants_url(api, core):
    net = create_net(api, "alices")
    admin = api.as_project("ops", admin=True)
    assert admin.get(f"{T}/networks") == (200, {"networks": [{"id": net}]})
    status, body = admin.post(f"{T}/networks", {"network": {"name": "by-admin"}})
    assert status == 200
    created = core.networks.get(Context("alice"), body["network"]["id"])
    assert created["project_id"] == "alice"
    port = create_port(admin, net)
    assert core.ports.get(Context("alice"), port)["project_id"] == "alice"
    assert plug(admin, net, port)[0] == 204
    assert admin.put(f"{T}/networks/{net}", {"network": {"name": "renamed"}})[0] == 204
    assert api.get(f"{T}/networks/{net}")[1]["network"]["name"] == "renamed"
    assert admin.delete(f"{T}/networks/{net}/ports/{port}/attachment")[0] == 204
    assert admin.delete(f"{T}/networks/{net}/ports/{port}")[0] == 204
    assert admin.delete(f"{T}/networks/{net}")[0] == 204


def test_admin_in_a_tenant_url_sees_only_that_tenants_networks(api):
    create_net(api, "alices")
    bob_net = create_net(api.as_project("bob"), "bobs", tenant="bob")
    admin = api.as_project("ops", admin=True)
    status, data = admin.get(f"{T}/networks/{bob_net}")
    assert status == 404
    fault(data, "networkNotFound", 404)
    assert [n["name"] for n in admin.get(f"{T}/networks/detail")[1]["networks"]] == ["alices"]


def test_v1_networks_are_v2_networks(api):
    net = create_net(api, "both")
    port = create_port(api, net)
    assert plug(api, net, port)[0] == 204
    status, body = api.get(f"/v2.0/networks/{net}")
    assert status == 200 and body["network"]["name"] == "both"
    status, body = api.get(f"/v2.0/ports/{port}")
    assert status == 200 and body["port"]["attachment"] == IFACE
    assert body["port"]["network_id"] == net


def test_extensions(api):
    status, body = api.get("/v1.0/extensions")
    assert status == 200
    aliases = [e["alias"] for e in body["extensions"]]
    assert "attachment" in aliases and "port-security" in aliases
    for ext in body["extensions"]:
        assert set(ext) >= {"alias", "name", "description", "updated", "links"}
    assert body == api.get("/v2.0/extensions")[1]



@pytest.mark.parametrize("resource", ["routers", "floatingips"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_quantum_v1_has_no_routers_nor_floating_ips(api, core, method, resource):
    """Quantum v1.0 never had L3 (issue 12: it gets nothing new)."""
    before = snapshot(core)
    status, body = api.request(method, f"{T}/{resource}",
                               {"router": {"name": "r"}} if method == "POST" else None)
    assert status == 404, body
    fault(body, "itemNotFound", 404)
    assert snapshot(core) == before
