"""API hygiene, in-process: input that once crashed the server (500) or leaked another project's
data is refused with a 4xx in the API's own error format, and changes nothing.

Markers are resolved within what the caller sees; malformed text (64-bit MACs, lone surrogates,
NUL, URLs that are not UTF-8, deep nesting) is a 400; bodies over the limit are a 413 before a
byte is read; expired tokens are a 401 that says so.
"""
import datetime
import io
import json
import re

import pytest
import webob

from controller.models import utcnow
from rest.app import build_app
from rest.auth import create_token
from rest.request_checks import MAX_DEPTH
from tests.conftest import Client, snapshot

V2 = "/v2.0"


def created(api, path, resource, **attrs):
    code, body = api.post(f"{V2}/{path}", {resource: attrs})
    assert code == 201, body
    return body[resource]


def neutron_error(code, body, status=400):
    assert code == status, body
    assert list(body) == ["NeutronError"] and set(body["NeutronError"]) == {
        "type", "message", "detail"}, body
    return body["NeutronError"]


# -- paging: an invisible marker is an unknown marker ---------------------------------------------
UNKNOWN = "0cc6c04d-0000-4000-8000-000000000000"
PAGING = ["", "&limit=2", "&sort_key=name", "&sort_key=name&sort_dir=desc",
          "&sort_key=name&sort_dir=asc&limit=1", "&limit=1&page_reverse=true"]
BY_MAC = ["&sort_key=mac_address&sort_dir=desc",
          "&sort_key=mac_address&sort_dir=asc&page_reverse=true"]


@pytest.fixture
def victim(api):
    """Project alice's network, subnet, port and QoS policy: ids project bob must learn nothing
    from."""
    net = created(api, "networks", "network", name="secret-net")
    subnet = created(api, "subnets", "subnet", network_id=net["id"], cidr="10.9.0.0/24",
                     name="secret-subnet")
    port = created(api, "ports", "port", network_id=net["id"], name="mmm-secret",
                   mac_address="fa:16:3e:80:00:01")
    policy = created(api, "qos/policies", "policy", name="secret-policy")
    return {"networks": net["id"], "subnets": subnet["id"], "ports": port["id"],
            "qos/policies": policy["id"]}


@pytest.fixture
def prober(api):
    """Project bob with probe resources named and addressed on both sides of alice's."""
    bob = api.as_project("bob")
    for name, mac in (("aaa", "fa:16:3e:00:00:01"), ("zzz", "fa:16:3e:ff:00:01")):
        net = created(bob, "networks", "network", name=name)
        created(bob, "subnets", "subnet", network_id=net["id"], cidr="10.8.0.0/24", name=name)
        created(bob, "ports", "port", network_id=net["id"], name=name, mac_address=mac)
        created(bob, "qos/policies", "policy", name=name)
    return bob


@pytest.mark.parametrize("collection,query", [
    (c, q) for c in ("networks", "subnets", "ports", "qos/policies") for q in PAGING] + [
    ("ports", q) for q in BY_MAC])
def test_invisible_marker_answers_as_an_unknown_one(victim, prober, collection, query):
    unknown = prober.get(f"{V2}/{collection}?marker={UNKNOWN}{query}")
    invisible = prober.get(f"{V2}/{collection}?marker={victim[collection]}{query}")
    assert unknown[0] == 200
    assert invisible == unknown


def test_sorting_around_a_hidden_marker_tells_nothing_of_its_name_or_mac(api, victim, prober):
    """The attack: rename one's own probe and watch whether it sorts before or after the hidden
    marker. Whatever the probe's name or MAC, the answer is the unknown marker's."""
    port = victim["ports"]
    mine = prober.get(f"{V2}/ports?name=aaa")[1]["ports"][0]["id"]
    answers = set()
    for probe_name in ("a", "m", "mmm-secret", "mmm-secreu", "n", "~"):
        assert prober.put(f"{V2}/ports/{mine}", {"port": {"name": probe_name}})[0] == 200
        for direction in ("asc", "desc"):
            code, body = prober.get(f"{V2}/ports?marker={port}&sort_key=name"
                                    f"&sort_dir={direction}&limit=5")
            answers.add(json.dumps(body, sort_keys=True))
    for probe_mac in ("fa:16:3e:00:00:02", "fa:16:3e:80:00:00", "fa:16:3e:80:00:02"):
        assert prober.put(f"{V2}/ports/{mine}", {"port": {"mac_address": probe_mac}})[0] == 200
        code, body = prober.get(f"{V2}/ports?marker={port}&sort_key=mac_address&limit=5")
        answers.add(json.dumps(body, sort_keys=True))
    assert answers == {json.dumps({"ports": []})}
    # and the owner still pages from its own marker
    assert api.get(f"{V2}/ports?marker={UNKNOWN}")[1] == {"ports": []}
    code, body = api.get(f"{V2}/ports?marker={port}&sort_key=name&sort_dir=desc")
    assert code == 200 and body["ports"] == []  # alice has no port sorting below hers
    admin = api.as_project("ops", admin=True)
    code, body = admin.get(f"{V2}/ports?marker={port}&sort_key=name&sort_dir=asc")
    assert [p["name"] for p in body["ports"]] == ["zzz", "~"]  # admins see every project


def test_a_shared_network_is_a_marker_for_everyone(api):
    admin = api.as_project("ops", admin=True)
    shared = created(admin, "networks", "network", name="public", shared=True)
    created(admin, "networks", "network", name="zz-private")
    bob = api.as_project("bob")
    created(bob, "networks", "network", name="zz-bob")
    code, body = bob.get(f"{V2}/networks?marker={shared['id']}&sort_key=name")
    assert code == 200 and [n["name"] for n in body["networks"]] == ["zz-bob"]


# -- malformed text is a 400, never a 500 -----------------------------------------------------------
MACS_64 = ["00:11:22:33:44:55:66:77", "fa16.3e00.0001.02", "1", "00112233445566",
           "00:11-22:33:44:55", "00:11:22:33:44:55\n"]


@pytest.fixture
def net(api):
    return created(api, "networks", "network", name="n")


@pytest.fixture
def port(api, net):
    return created(api, "ports", "port", network_id=net["id"])


@pytest.mark.parametrize("mac", MACS_64)
def test_a_mac_that_is_not_48_bit_is_refused_everywhere(api, core, net, port, mac):
    before = snapshot(core)
    for code, body in (
            api.post(f"{V2}/ports", {"port": {"network_id": net["id"], "mac_address": mac}}),
            api.put(f"{V2}/ports/{port['id']}", {"port": {"mac_address": mac}}),
            api.put(f"{V2}/ports/{port['id']}", {"port": {"allowed_address_pairs": [
                {"ip_address": "10.0.0.9", "mac_address": mac}]}}),
            api.get(f"{V2}/ports?mac_address={mac.replace(chr(10), '%0A')}")):
        assert "48-bit MAC" in neutron_error(code, body)["message"]
    assert snapshot(core) == before


@pytest.mark.parametrize("mac", ["00:11:22:33:44:55", "00-11-22-33-44-55", "0011.2233.4455",
                                 "001122334455", "FA:16:3E:AA:BB:CC"])
def test_every_documented_mac_form_is_accepted_and_canonical(api, net, mac):
    port = created(api, "ports", "port", network_id=net["id"], mac_address=mac)
    assert port["mac_address"] == ("fa:16:3e:aa:bb:cc" if mac.startswith("FA")
                                   else "00:11:22:33:44:55")
    code, body = api.get(f"{V2}/ports?mac_address={mac}")
    assert [p["id"] for p in body["ports"]] == [port["id"]]


BAD_TEXT = {"lone surrogate": "\\ud800", "trailing surrogate": "x\\udfff",
            "NUL": "a\\u0000b"}


@pytest.mark.parametrize("what", BAD_TEXT)
def test_unstorable_strings_are_refused_in_every_body(api, core, net, port, what):
    text = BAD_TEXT[what]
    admin = api.as_project("ops", admin=True)
    cases = [
        (api, "POST", f"{V2}/networks", '{"network": {"name": "%s"}}'),
        (api, "PUT", f"{V2}/networks/{net['id']}", '{"network": {"description": "%s"}}'),
        (api, "POST", f"{V2}/subnets",
         '{"subnet": {"network_id": "%s", "cidr": "10.0.0.0/24", "name": "%%s"}}' % net["id"]),
        (api, "POST", f"{V2}/ports",
         '{"port": {"network_id": "%s", "device_owner": "%%s"}}' % net["id"]),
        (api, "PUT", f"{V2}/ports/{port['id']}", '{"port": {"attachment": "%s"}}'),
        (api, "POST", f"{V2}/qos/policies", '{"policy": {"name": "%s"}}'),
        (api, "POST", f"{V2}/networks", '{"network": {"name": "ok", "%s": 1}}'),
        (admin, "PUT", f"{V2}/ports/{port['id']}",
         '{"port": {"binding:profile": {"k": ["%s"]}}}'),
        (api, "POST", "/v1.0/tenants/alice/networks", '{"network": {"name": "%s"}}'),
        (api, "PUT", f"/v1.0/tenants/alice/networks/{net['id']}/ports/{port['id']}/attachment",
         '{"attachment": {"id": "%s"}}'),
    ]
    before = snapshot(core)
    for client, method, path, template in cases:
        code, body = client.request(method, path, raw=template % text)
        assert code == 400, (path, body)
        fault = body["NeutronError"] if path.startswith(V2) else body["malformedRequest"]
        assert "may not contain" in fault["message"], body
    assert snapshot(core) == before


@pytest.mark.parametrize("path", [
    f"{V2}/networks?name=%FF", f"{V2}/networks?%FF=x", f"{V2}/networks/%FF",
    f"{V2}/networks?name=%00", f"{V2}/networks/a%00b", f"{V2}/ports?fixed_ips=ip_address%3D%00",
    f"{V2}/networks?marker=%00", f"{V2}/networks?name=%ED%A0%80"])
def test_urls_that_are_not_utf8_or_hold_nul_are_400(api, path):
    assert "Malformed request URL" in neutron_error(*api.get(path))["message"]


def test_v1_urls_that_are_not_utf8_get_a_v1_fault(api):
    code, body = api.get("/v1.0/tenants/%FF/networks")
    assert code == 400 and body["malformedRequest"]["code"] == 400


@pytest.mark.parametrize("raw", [
    b'{"network": {"name": "\xff"}}', b'\xfe\xff\x00{', b"[" * 100000 + b"]" * 100000,
    b'{"network": {"name": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    b'{"network": {"name": ' + b'{"a": ' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH + b"}}"])
def test_bodies_that_are_not_utf8_or_too_deep_are_400(api, core, raw):
    before = snapshot(core)
    err = neutron_error(*api.post(f"{V2}/networks", raw=raw))
    assert err["type"] == "MalformedRequestBody" and "Malformed request body" in err["message"]
    assert snapshot(core) == before


def test_nesting_within_the_limit_reaches_validation(api):
    """The depth limit is not a blanket refusal: a nested value is judged by its attribute."""
    deep = '{"k": ' * (MAX_DEPTH - 3) + "1" + "}" * (MAX_DEPTH - 3)
    admin = api.as_project("ops", admin=True)
    net = created(admin, "networks", "network", name="n")
    code, body = admin.post(f"{V2}/ports", raw='{"port": {"network_id": "%s", '
                            '"binding:profile": %s}}' % (net["id"], deep))
    assert code == 201, body


@pytest.mark.parametrize("query", ["limit=%C2%B2", "limit=-1", "limit=1.5",
                                   "revision_number=99999999999999999999999",
                                   "revision_number=-1", "mtu=4294967296",
                                   "provider:segmentation_id=99999999999999999999"])
def test_numbers_out_of_range_in_queries_are_400(api, query):
    admin = api.as_project("ops", admin=True)
    neutron_error(*admin.get(f"{V2}/networks?{query}"))


def test_a_huge_limit_is_no_limit(api, net):
    code, body = api.get(f"{V2}/networks?limit=99999999999999999999999")
    assert code == 200 and [n["id"] for n in body["networks"]] == [net["id"]]


def test_v1_bandwidth_limits_out_of_range_are_400(api, core, net, port):
    before = snapshot(core)
    code, body = api.put(f"/v1.0/tenants/alice/networks/{net['id']}/ports/{port['id']}",
                         {"port": {"bandwidth_limits": {"egress": {"max_kbps": 2 ** 70}}}})
    assert code == 400, body
    assert snapshot(core) == before


# -- body size ------------------------------------------------------------------------------------
class Unreadable(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def readable(self):
        return True

    def readinto(self, buffer):
        raise AssertionError("the body was read")


@pytest.fixture
def small_app(core):
    return build_app(core, auth="noauth", max_body=1000)


def send(app, path, body, **environ):
    req = webob.Request.blank(path, method="POST", headers={"X-Project-Id": "alice"},
                              **environ)
    if isinstance(body, bytes):
        req.body = body
    else:
        req.body_file_raw = body
    req.content_type = "application/json"
    resp = req.get_response(app)
    return resp.status_int, json.loads(resp.body)


def test_a_body_over_the_default_limit_is_413(api, core):
    before = snapshot(core)
    name = "x" * (1024 * 1024)
    code, body = api.post(f"{V2}/networks", {"network": {"name": name}})
    err = neutron_error(code, body, 413)
    assert err["type"] == "HTTPRequestEntityTooLarge" and "1048576 bytes" in err["message"]
    code, body = api.post("/v1.0/tenants/alice/networks", {"network": {"name": name}})
    assert code == 413 and body["requestEntityTooLarge"]["code"] == 413
    assert snapshot(core) == before
    # just under the limit, the body is parsed and judged on its merits
    code, body = api.post(f"{V2}/networks", {"network": {"name": "x" * (1024 * 1000)}})
    assert code == 400 and "maximum length" in body["NeutronError"]["message"]


def test_a_declared_length_over_the_limit_is_refused_unread(small_app, core):
    before = snapshot(core)
    code, body = send(small_app, f"{V2}/networks", Unreadable(),
                      environ={"CONTENT_LENGTH": "1001"})
    assert neutron_error(code, body, 413)["type"] == "HTTPRequestEntityTooLarge"
    assert snapshot(core) == before


def test_a_chunked_body_is_read_no_further_than_the_limit(small_app, core):
    class Endless(io.RawIOBase):
        served = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            buffer[:len(buffer)] = b" " * len(buffer)
            self.served += len(buffer)
            return len(buffer)

    stream = Endless()
    before = snapshot(core)
    code, body = send(small_app, f"{V2}/networks", stream,
                      environ={"HTTP_TRANSFER_ENCODING": "chunked"})
    assert neutron_error(code, body, 413)["type"] == "HTTPRequestEntityTooLarge"
    assert stream.served <= 1001 + io.DEFAULT_BUFFER_SIZE
    assert snapshot(core) == before
    small = b'{"network": {"name": "chunked"}}'
    code, body = send(small_app, f"{V2}/networks", io.BytesIO(small),
                      environ={"HTTP_TRANSFER_ENCODING": "chunked"})
    assert code == 201 and body["network"]["name"] == "chunked"


# -- token lifetime -------------------------------------------------------------------------------
def test_an_expired_token_is_401_and_says_so(core):
    app = build_app(core, auth="token")
    past = utcnow() - datetime.timedelta(seconds=1)
    expired = Client(app, {"X-Auth-Token": create_token(core.db, "p1", expires_at=past)})
    code, body = expired.get(f"{V2}/networks")
    err = neutron_error(code, body, 401)
    assert err["type"] == "NotAuthenticated" and "expired" in err["message"]
    future = utcnow() + datetime.timedelta(hours=1)
    for token in (create_token(core.db, "p1", expires_at=future), create_token(core.db, "p1")):
        assert Client(app, {"X-Auth-Token": token}).get(f"{V2}/networks")[0] == 200


# -- project ids that do not fit ------------------------------------------------------------------
def test_a_project_id_longer_than_stored_ones_is_400(api, core):
    """PostgreSQL keeps project ids in 64 characters: a longer one named by an admin's v1.0 URL
    or a noauth header must be bad input, not a database error at flush."""
    long = "p" * 65
    before = snapshot(core)
    admin = api.as_project("ops", admin=True)
    code, body = admin.post(f"/v1.0/tenants/{long}/networks", {"network": {"name": "n"}})
    assert code == 400 and "maximum length" in body["malformedRequest"]["message"]
    neutron_error(*api.as_project(long).post(f"{V2}/networks", {"network": {"name": "n"}}))
    assert snapshot(core) == before


def test_a_fixed_ip_naming_neither_subnet_nor_address_is_400(api, core, net, port):
    """Found by the fuzzer: an empty fixed_ips entry reached address allocation (a 500)."""
    created(api, "subnets", "subnet", network_id=net["id"], cidr="10.0.0.0/24")
    before = snapshot(core)
    for code, body in (
            api.put(f"{V2}/ports/{port['id']}", {"port": {"fixed_ips": [{}]}}),
            api.post(f"{V2}/ports", {"port": {"network_id": net["id"], "fixed_ips": [
                {"ip_address": "10.0.0.7"}, {}]}})):
        assert "need at least 1 of subnet_id, ip_address" in neutron_error(code, body)["message"]
    assert snapshot(core) == before


# -- the OpenAPI document is as strict as the server ----------------------------------------------
def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_openapi_lists_every_status_an_operation_can_answer(api):
    code, doc = api.get("/openapi.json")
    assert code == 200
    seen = set()
    for path, method, op in operations(doc):
        codes = set(op["responses"])
        seen.add(op["operationId"])
        assert "400" in codes, (path, method)  # a malformed URL, on any operation
        if op.get("security", doc["security"]):
            assert "401" in codes, (path, method)
        if "requestBody" in op:
            assert {"403", "404", "409", "413"} <= codes, (path, method)
        if re.search(r"\{(?!tenant\})\w+\}", path):  # names something that may not exist
            assert "404" in codes, (path, method)
        for status, response in op["responses"].items():
            if status == "414":  # the HTTP server's own answer to a huge URL: empty
                assert "content" not in response, (path, method)
            elif int(status) >= 400:
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/V1Fault" if path.startswith("/v1.0/") else "/Error")
    assert {"list_ports", "create_port", "v1_plug", "show_port_stats"} <= seen
    assert len(seen) == sum(1 for _ in operations(doc))  # operationIds are unique


def test_openapi_formats_and_closed_objects(api):
    schemas = api.get("/openapi.json")[1]["components"]["schemas"]
    port, create = schemas["Port"]["properties"], schemas["PortCreate"]
    assert port["id"]["format"] == "uuid" and port["created_at"]["format"] == "date-time"
    assert port["mac_address"]["pattern"].startswith("^(") and "\\." in \
        port["mac_address"]["pattern"]
    pair = port["allowed_address_pairs"]["items"]
    assert pair["additionalProperties"] is False
    assert {"format": "ipv4"} in pair["properties"]["ip_address"]["anyOf"]
    assert schemas["Subnet"]["properties"]["cidr"]["anyOf"][0]["pattern"].endswith(
        "/(3[0-2]|[12]?[0-9])$")
    assert create["additionalProperties"] is False and "status" not in create["properties"]
    assert schemas["Port"]["properties"]["fixed_ips"]["items"]["minProperties"] == 1
    assert schemas["Error"]["required"] == ["NeutronError"]


def test_a_method_the_resource_lacks_is_405_with_its_methods_only(api):
    """``networks/detail`` is a resource of its own, not a network named "detail"."""
    for path, allow in (("/v1.0/tenants/alice/networks/detail", ["GET"]),
                        (f"{V2}/networks", ["GET", "POST"])):
        req = webob.Request.blank(path, method="PATCH", headers={"X-Project-Id": "alice"})
        resp = req.get_response(api.app)
        assert resp.status_int == 405 and list(resp.allow) == allow, resp.allow
