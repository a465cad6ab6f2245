"""What python-openstackclient sends that a Neutron answers (in-process, fast): the
``ip_version`` filter of ip availability, QoS rule types, port security on networks."""
from tests.conftest import snapshot


def test_ip_availability_ip_version_filter_counts_only_that_version(api, core):
    ops = api.as_project("ops", admin=True)
    _, body = api.post("/v2.0/networks", {"network": {"name": "dual"}})
    net = body["network"]["id"]
    _, body = api.post("/v2.0/networks", {"network": {"name": "v6-only"}})
    v6_only = body["network"]["id"]
    api.post("/v2.0/subnets", {"subnet": {"network_id": net, "cidr": "10.0.0.0/29"}})
    api.post("/v2.0/subnets", {"subnet": {"network_id": net, "cidr": "fd00::/120"}})
    api.post("/v2.0/subnets", {"subnet": {"network_id": v6_only, "cidr": "fd00:1::/120"}})
    api.post("/v2.0/ports", {"port": {"network_id": net}})

    status, body = ops.get("/v2.0/network-ip-availabilities?ip_version=4")
    assert status == 200
    [usage] = body["network_ip_availabilities"]
    assert usage["network_id"] == net
    assert [s["ip_version"] for s in usage["subnet_ip_availability"]] == [4]
    assert (usage["total_ips"], usage["used_ips"]) == (5, 1)
    status, body = ops.get("/v2.0/network-ip-availabilities?ip_version=6")
    assert sorted(u["network_id"] for u in body["network_ip_availabilities"]) == \
        sorted([net, v6_only])
    assert all(s["ip_version"] == 6 for u in body["network_ip_availabilities"]
               for s in u["subnet_ip_availability"])
    status, body = ops.get(f"/v2.0/network-ip-availabilities/{net}")
    assert sorted(s["ip_version"] for s in body["network_ip_availability"][
        "subnet_ip_availability"]) == [4, 6]
    before = snapshot(core)
    assert ops.get("/v2.0/network-ip-availabilities?ip_version=5")[0] == 400
    assert api.get("/v2.0/network-ip-availabilities?ip_version=4")[0] == 403
    assert snapshot(core) == before


def test_qos_rule_types(api):
    status, body = api.get("/v2.0/qos/rule-types")
    assert (status, body) == (200, {"rule_types": [{"type": "bandwidth_limit"}]})
    status, body = api.get("/v2.0/qos/rule-types/bandwidth_limit")
    assert status == 200 and body["rule_type"]["type"] == "bandwidth_limit"
    params = body["rule_type"]["drivers"][0]["supported_parameters"]
    assert {p["parameter_name"] for p in params} == {"max_kbps", "max_burst_kbps", "direction"}
    assert api.get("/v2.0/qos/rule-types/dscp_marking")[0] == 404
    assert api.post("/v2.0/qos/rule-types", {"rule_type": {}})[0] == 405


def test_network_port_security_is_the_default_of_its_new_ports(api, core):
    _, body = api.post("/v2.0/networks", {"network": {"name": "n"}})
    assert body["network"]["port_security_enabled"] is True
    net = body["network"]["id"]
    status, body = api.put(f"/v2.0/networks/{net}",
                           {"network": {"port_security_enabled": False}})
    assert (status, body["network"]["port_security_enabled"]) == (200, False)
    _, body = api.post("/v2.0/ports", {"port": {"network_id": net}})
    assert body["port"]["port_security_enabled"] is False
    _, body = api.post("/v2.0/ports", {"port": {"network_id": net,
                                                "port_security_enabled": True}})
    assert body["port"]["port_security_enabled"] is True
    # another project using a network the admin shared does not need the owner's right
    # to inherit the network's setting
    ops = api.as_project("ops", admin=True)
    _, body = ops.post("/v2.0/networks", {"network": {"name": "s", "shared": True,
                                                      "port_security_enabled": False}})
    status, body = api.post("/v2.0/ports", {"port": {"network_id": body["network"]["id"]}})
    assert (status, body["port"]["port_security_enabled"]) == (201, False)
    before = snapshot(core)
    assert api.put(f"/v2.0/networks/{net}",
                   {"network": {"port_security_enabled": "maybe"}})[0] == 400
    assert snapshot(core) == before
