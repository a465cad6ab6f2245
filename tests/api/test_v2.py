"""The Neutron v2.0 shape, in-process: codes, bodies, filters, fields, paging, tenancy, errors."""
import urllib.parse

import pytest

from tests.conftest import snapshot

V2 = "/v2.0"


def make_net(api, **attrs):
    code, body = api.post(f"{V2}/networks", {"network": {"name": "net", **attrs}})
    assert code == 201, body
    return body["network"]


def make_subnet(api, net_id, cidr="10.0.0.0/24", **attrs):
    code, body = api.post(f"{V2}/subnets", {"subnet": {"network_id": net_id, "cidr": cidr,
                                                       "ip_version": 4, **attrs}})
    assert code == 201, body
    return body["subnet"]


def make_port(api, net_id, **attrs):
    code, body = api.post(f"{V2}/ports", {"port": {"network_id": net_id, **attrs}})
    assert code == 201, body
    return body["port"]


def error_type(body):
    return body["NeutronError"]["type"]


# -- CRUD ---------------------------------------------------------------------------------------
def test_network_lifecycle(api):
    net = make_net(api, name="dmz-net")
    assert net["name"] == "dmz-net" and net["project_id"] == net["tenant_id"] == "alice"
    assert net["status"] == "ACTIVE" and net["mtu"] == 1450 and net["subnets"] == []
    assert "provider:segmentation_id" not in net  # admin-only attribute
    code, body = api.get(f"{V2}/networks/{net['id']}")
    assert code == 200 and body["network"] == net
    code, body = api.put(f"{V2}/networks/{net['id']}", {"network": {"name": "web-net"}})
    assert code == 200 and body["network"]["name"] == "web-net"
    assert body["network"]["revision_number"] == net["revision_number"] + 1
    assert api.delete(f"{V2}/networks/{net['id']}") == (204, None)
    code, body = api.get(f"{V2}/networks/{net['id']}")
    assert code == 404 and error_type(body) == "NetworkNotFound"


def test_subnet_and_port_lifecycle(api):
    net = make_net(api)
    sub = make_subnet(api, net["id"], dns_nameservers=["10.0.0.53"],
                      host_routes=[{"destination": "10.8.0.0/16", "nexthop": "10.0.0.254"}])
    assert sub["gateway_ip"] == "10.0.0.1"
    assert sub["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert api.get(f"{V2}/networks/{net['id']}")[1]["network"]["subnets"] == [sub["id"]]
    port = make_port(api, net["id"], name="web-eth0", device_id="web")
    assert port["status"] == "DOWN" and port["mac_address"].startswith("fa:16:3e:")
    assert port["fixed_ips"][0]["subnet_id"] == sub["id"]
    code, body = api.put(f"{V2}/ports/{port['id']}", {"port": {
        "admin_state_up": False, "fixed_ips": [{"ip_address": "10.0.0.10"}]}})
    assert code == 200 and body["port"]["fixed_ips"][0]["ip_address"] == "10.0.0.10"
    assert body["port"]["admin_state_up"] is False
    assert api.delete(f"{V2}/ports/{port['id']}")[0] == 204
    assert api.delete(f"{V2}/subnets/{sub['id']}")[0] == 204
    assert api.get(f"{V2}/subnets/{sub['id']}")[0] == 404


# -- bad input: 4xx and nothing changes ----------------------------------------------------------
BAD_NETWORKS = [
    ({"network": {"name": "x", "foo": 1}}, 400, "HTTPBadRequest", "Unrecognized attribute"),
    ({"network": {"admin_state_up": "maybe"}}, 400, "InvalidInput", "boolean"),
    ({"network": {"mtu": "big"}}, 400, "InvalidInput", "integer"),
    ({"network": {"mtu": 70000}}, 400, "InvalidInput", "outside"),
    ({"network": {"status": "DOWN"}}, 400, "HTTPBadRequest", "not allowed in POST"),
    ({"network": {"name": 5}}, 400, "InvalidInput", "string"),
    ({"network": {"name": "x" * 256}}, 400, "InvalidInput", "maximum length"),
    ({"network": {"shared": True}}, 403, "PolicyNotAuthorized", "admin"),
    ({"network": {"provider:segmentation_id": 9}}, 403, "PolicyNotAuthorized", "admin"),
    ({"networks": [{"name": "a"}]}, 400, "HTTPBadRequest", "Bulk"),
    ({"net": {}}, 400, "HTTPBadRequest", "must be a JSON object"),
    ({"network": "x"}, 400, "HTTPBadRequest", "must be a JSON object"),
]


@pytest.mark.parametrize("body,code,kind,text", BAD_NETWORKS)
def test_bad_network_input(api, core, body, code, kind, text):
    before = snapshot(core)
    got, err = api.post(f"{V2}/networks", body)
    assert (got, error_type(err)) == (code, kind)
    assert text in err["NeutronError"]["message"]
    assert snapshot(core) == before


def test_malformed_json_and_empty_body(api, core):
    before = snapshot(core)
    code, err = api.post(f"{V2}/networks", raw="{not json")
    assert code == 400 and error_type(err) == "MalformedRequestBody"
    code, err = api.post(f"{V2}/networks")
    assert code == 400 and error_type(err) == "MalformedRequestBody"
    assert snapshot(core) == before


@pytest.mark.parametrize("attrs,text", [
    ({"cidr": "10.0.0.0/33"}, "CIDR"),
    ({"cidr": "10.0.0.1/24"}, "host bits"),
    ({"cidr": "banana"}, "CIDR"),
    ({"cidr": "10.0.0.0/24", "ip_version": 6}, "not an IPv6"),
    ({"cidr": "10.0.0.0/24", "ip_version": 5}, "one of"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.1.0.1"}, "not a usable address"),
    ({"cidr": "10.0.0.0/24", "network_id": "not-a-uuid"}, "UUID"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.9"}]}, "need"),
    ({"cidr": "10.0.0.0/24", "dns_nameservers": ["8.8.8.8", "8.8.8.8"]}, "duplicate"),
    ({"cidr": "10.0.0.0/24", "host_routes": [{"destination": "x", "nexthop": "10.0.0.1"}]},
     "CIDR"),
    ({"cidr": "10.0.0.0/24", "ipv6_ra_mode": "slaac"}, "only valid for IPv6"),
])
def test_bad_subnet_input(api, core, attrs, text):
    net = make_net(api)
    before = snapshot(core)
    code, err = api.post(f"{V2}/subnets", {"subnet": {"network_id": net["id"], **attrs}})
    assert code == 400, err
    assert text in err["NeutronError"]["message"]
    assert snapshot(core) == before


def test_missing_required_attribute(api, core):
    code, err = api.post(f"{V2}/subnets", {"subnet": {"cidr": "10.0.0.0/24"}})
    assert code == 400 and "network_id" in err["NeutronError"]["message"]


def test_bad_port_input(api, core):
    net = make_net(api)
    make_subnet(api, net["id"])
    before = snapshot(core)
    for attrs in ({"mac_address": "01:00:5e:00:00:01"}, {"mac_address": "nope"},
                  {"fixed_ips": [{"ip_address": "10.0.0.300"}]},
                  {"fixed_ips": [{"ip_address": "10.9.9.9"}]},
                  {"fixed_ips": [{"subnet_id": "x"}]}, {"fixed_ips": "10.0.0.5"},
                  {"allowed_address_pairs": [{"mac_address": "fa:16:3e:00:00:01"}]},
                  {"binding:profile": {"a": 1}}, {"network_id": "0" * 8}):
        code, err = api.post(f"{V2}/ports", {"port": {"network_id": net["id"], **attrs}})
        assert code in (400, 403), (attrs, err)
    assert snapshot(core) == before


# -- conflicts -----------------------------------------------------------------------------------
def test_conflicts(api, core):
    net = make_net(api)
    sub = make_subnet(api, net["id"], cidr="10.0.0.0/30")  # a single address: 10.0.0.2
    port = make_port(api, net["id"], mac_address="fa:16:3e:00:00:01")
    before = snapshot(core)
    checks = [
        (api.delete(f"{V2}/networks/{net['id']}"), "NetworkInUse"),
        (api.delete(f"{V2}/subnets/{sub['id']}"), "SubnetInUse"),
        (api.post(f"{V2}/ports", {"port": {"network_id": net["id"]}}),
         "IpAddressGenerationFailure"),
        (api.post(f"{V2}/ports", {"port": {"network_id": net["id"], "fixed_ips": [
            {"ip_address": "10.0.0.2"}]}}), "IpAddressInUse"),
        (api.post(f"{V2}/ports", {"port": {"network_id": net["id"], "fixed_ips": [],
                                           "mac_address": "fa:16:3e:00:00:01"}}),
         "MacAddressInUse"),
    ]
    for (code, body), kind in checks:
        assert (code, error_type(body)) == (409, kind)
    assert snapshot(core) == before
    assert port["fixed_ips"][0]["ip_address"] == "10.0.0.2"


# -- tenancy -------------------------------------------------------------------------------------
def test_other_projects_get_404_and_see_nothing(api, core):
    net = make_net(api)
    make_subnet(api, net["id"])
    port = make_port(api, net["id"])
    bob = api.as_project("bob")
    before = snapshot(core)
    for path in (f"networks/{net['id']}", f"ports/{port['id']}"):
        assert bob.get(f"{V2}/{path}")[0] == 404
        assert bob.put(f"{V2}/{path}", {path.split("s/")[0]: {"name": "x"}})[0] == 404
        assert bob.delete(f"{V2}/{path}")[0] == 404
    code, err = bob.post(f"{V2}/ports", {"port": {"network_id": net["id"]}})
    assert (code, error_type(err)) == (404, "NetworkNotFound")
    for collection in ("networks", "subnets", "ports"):
        assert bob.get(f"{V2}/{collection}")[1][collection] == []
    code, err = bob.post(f"{V2}/networks", {"network": {"project_id": "alice"}})
    assert code == 403
    assert snapshot(core) == before


def test_shared_networks(api):
    admin = api.as_project("ops", admin=True)
    code, body = admin.post(f"{V2}/networks", {"network": {"name": "public", "shared": True,
                                                           "project_id": "ops"}})
    assert code == 201 and body["network"]["provider:network_type"] == "vxlan"
    shared = body["network"]
    admin.post(f"{V2}/subnets", {"subnet": {"network_id": shared["id"], "cidr": "172.16.0.0/24"}})
    bob = api.as_project("bob")
    assert [n["id"] for n in bob.get(f"{V2}/networks")[1]["networks"]] == [shared["id"]]
    assert len(bob.get(f"{V2}/subnets")[1]["subnets"]) == 1
    port = make_port(bob, shared["id"])
    assert port["project_id"] == "bob"
    assert api.get(f"{V2}/ports/{port['id']}")[0] == 404  # alice does not see bob's port
    assert bob.put(f"{V2}/networks/{shared['id']}", {"network": {"name": "x"}})[0] == 403
    assert bob.delete(f"{V2}/networks/{shared['id']}")[0] == 403


def test_admin_sees_everything_and_admin_only_attributes(api):
    net = make_net(api)
    admin = api.as_project("ops", admin=True)
    code, body = admin.get(f"{V2}/networks/{net['id']}")
    assert code == 200 and body["network"]["provider:segmentation_id"] >= 1000
    code, body = admin.put(f"{V2}/networks/{net['id']}",
                           {"network": {"provider:segmentation_id": 424242}})
    assert code == 200 and body["network"]["provider:segmentation_id"] == 424242
    port = make_port(api, net["id"])
    assert "binding:host_id" not in port
    code, body = admin.put(f"{V2}/ports/{port['id']}", {"port": {"binding:host_id": "hv1"}})
    assert code == 200 and body["port"]["binding:host_id"] == "hv1"
    assert body["port"]["binding:vif_type"] == "unbound"
    code, err = api.get(f"{V2}/ports?binding:host_id=hv1")
    assert code == 400  # not a filter a tenant can use: the attribute is hidden from it


# -- lists: filters, fields, sorting, paging -----------------------------------------------------
def test_filters(api):
    a = make_net(api, name="a")
    make_net(api, name="b", admin_state_up=False)
    make_net(api, name="c")
    names = lambda q: sorted(n["name"] for n in api.get(f"{V2}/networks?{q}")[1]["networks"])
    assert names("name=a") == ["a"]
    assert names("name=a&name=c") == ["a", "c"]
    assert names("admin_state_up=false") == ["b"]
    assert names("admin_state_up=true&name=c") == ["c"]
    assert names(f"id={a['id']}") == ["a"]
    make_subnet(api, a["id"])
    p = make_port(api, a["id"], device_owner="compute:nova")
    ip = p["fixed_ips"][0]["ip_address"]
    assert [x["id"] for x in api.get(f"{V2}/ports?fixed_ips=ip_address%3D{ip}")[1]["ports"]] \
        == [p["id"]]
    assert api.get(f"{V2}/ports?fixed_ips=ip_address%3D10.0.0.99")[1]["ports"] == []
    assert len(api.get(f"{V2}/ports?device_owner=compute:nova&network_id={a['id']}")[1][
        "ports"]) == 1
    for bad in ("colour=red", "admin_state_up=perhaps", "allocation_pools=x",
                "fixed_ips=bogus"):
        code, err = api.get(f"{V2}/{'ports' if 'fixed' in bad else 'networks'}?{bad}")
        assert code == 400, bad


def test_fields(api):
    net = make_net(api, name="f")
    code, body = api.get(f"{V2}/networks?fields=id&fields=name")
    assert body["networks"] == [{"id": net["id"], "name": "f"}]
    code, body = api.get(f"{V2}/networks/{net['id']}?fields=mtu")
    assert body["network"] == {"mtu": 1450}


def test_sorting(api):
    for name in ("b", "c", "a"):
        make_net(api, name=name)
    got = api.get(f"{V2}/networks?sort_key=name&sort_dir=desc")[1]["networks"]
    assert [n["name"] for n in got] == ["c", "b", "a"]
    assert api.get(f"{V2}/networks?sort_key=subnets")[0] == 400
    assert api.get(f"{V2}/networks?sort_key=name&sort_key=id&sort_dir=asc")[0] == 400
    assert api.get(f"{V2}/networks?sort_key=name&sort_dir=up")[0] == 400


def follow(api, url):
    """Collect every item by following rel=next links, as openstacksdk does."""
    items, pages = [], 0
    while url:
        code, body = api.get(url)
        assert code == 200
        items += body["networks"]
        pages += 1
        nxt = [l["href"] for l in body.get("networks_links", []) if l["rel"] == "next"]
        url = urllib.parse.urlsplit(nxt[0])._replace(scheme="", netloc="").geturl() \
            if nxt else None
    return items, pages


def test_pagination_walks_every_item_once(api):
    ids = {make_net(api, name=f"n{i:02}")["id"] for i in range(7)}
    items, pages = follow(api, f"{V2}/networks?limit=3&sort_key=name&sort_dir=asc")
    assert [n["name"] for n in items] == [f"n{i:02}" for i in range(7)]
    assert {n["id"] for n in items} == ids and pages == 3
    code, body = api.get(f"{V2}/networks?limit=3&sort_key=name")
    links = {l["rel"]: l["href"] for l in body["networks_links"]}
    assert set(links) == {"next"}  # first page: no previous
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(links["next"]).query)
    assert query["limit"] == ["3"] and query["sort_key"] == ["name"]
    assert query["marker"] == [body["networks"][-1]["id"]]
    # a previous link from page two leads back to page one
    code, page2 = api.get(f"{V2}/networks?limit=3&sort_key=name&marker={query['marker'][0]}")
    prev = [l["href"] for l in page2["networks_links"] if l["rel"] == "previous"][0]
    code, back = api.get(urllib.parse.urlsplit(prev)._replace(scheme="", netloc="").geturl())
    assert [n["name"] for n in back["networks"]] == ["n00", "n01", "n02"]
    # past the end, and a vanished marker: an empty page, as Neutron does
    last = items[-1]["id"]
    assert api.get(f"{V2}/networks?limit=3&sort_key=name&marker={last}")[1]["networks"] == []
    assert api.get(f"{V2}/networks?limit=2&marker=0cc6c04d-0000-4000-8000-000000000000")[1][
        "networks"] == []
    assert api.get(f"{V2}/networks?limit=x")[0] == 400


# -- discovery, extensions, OpenAPI ----------------------------------------------------------------
def test_version_document_and_index(api):
    code, body = api.get("/")
    assert code == 200 and body["versions"][0]["id"] == "v2.0"
    assert body["versions"][0]["status"] == "CURRENT"
    code, body = api.get(f"{V2}")
    assert {r["collection"] for r in body["resources"]} >= {"networks", "subnets", "ports"}


def test_extensions_listed_and_shown(api):
    code, body = api.get(f"{V2}/extensions")
    aliases = {e["alias"] for e in body["extensions"]}
    assert {"port-security", "allowed-address-pairs", "provider", "attachment", "binding",
            "network-ip-availability"} <= aliases
    assert all(set(e) == {"alias", "name", "description", "updated", "links"}
               for e in body["extensions"])
    assert api.get(f"{V2}/extensions/port-security")[1]["extension"]["name"] == "Port Security"
    assert api.get(f"{V2}/extensions/nope")[0] == 404
    assert api.get(f"{V2}/extensions.json")[0] == 200


def test_extension_attributes_work_through_the_api(api):
    net = make_net(api)
    make_subnet(api, net["id"])
    port = make_port(api, net["id"], port_security_enabled=True, attachment="vm1/eth0",
                     allowed_address_pairs=[{"ip_address": "10.0.0.100"}])
    assert port["attachment"] == "vm1/eth0"
    assert port["allowed_address_pairs"][0]["mac_address"] == port["mac_address"]
    other = make_port(api, net["id"])
    code, err = api.put(f"{V2}/ports/{other['id']}", {"port": {"attachment": "vm1/eth0"}})
    assert (code, error_type(err)) == (409, "AlreadyAttached")
    code, body = api.put(f"{V2}/ports/{port['id']}", {"port": {"attachment": None}})
    assert code == 200 and body["port"]["attachment"] is None


def test_new_resource_from_an_extension(api):
    net = make_net(api)
    make_subnet(api, net["id"], cidr="10.0.0.0/29")  # 5 usable addresses
    make_port(api, net["id"])
    admin = api.as_project("ops", admin=True)
    code, body = admin.get(f"{V2}/network-ip-availabilities/{net['id']}")
    assert code == 200
    usage = body["network_ip_availability"]
    assert (usage["total_ips"], usage["used_ips"]) == (5, 1)
    code, body = admin.get(f"{V2}/network-ip-availabilities?network_name=net")
    assert [u["network_id"] for u in body["network_ip_availabilities"]] == [net["id"]]
    assert api.get(f"{V2}/network-ip-availabilities")[0] == 403
    assert admin.post(f"{V2}/network-ip-availabilities", {"x": {}})[0] == 405


def test_openapi_document_matches_the_attribute_maps(api):
    code, doc = api.get("/openapi.json")
    assert code == 200 and doc["openapi"].startswith("3.")
    assert {"/v2.0/networks", "/v2.0/networks/{id}", "/v2.0/ports", "/v2.0/subnets/{id}",
            "/v2.0/network-ip-availabilities"} <= set(doc["paths"])
    port_schema = doc["components"]["schemas"]["Port"]["properties"]
    assert {"fixed_ips", "attachment", "port_security_enabled", "binding:host_id"} <= \
        set(port_schema)
    create = doc["components"]["schemas"]["NetworkCreate"]
    assert "status" not in create["properties"] and "name" in create["properties"]
    assert "post" not in doc["paths"]["/v2.0/network-ip-availabilities"]


def test_unknown_path_and_method(api):
    code, err = api.get(f"{V2}/lbaas/pools")
    assert code == 404 and error_type(err) == "NotFound"
    code, err = api.request("PATCH", f"{V2}/networks")
    assert code == 405
