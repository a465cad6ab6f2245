"""``qnet router ...``, ``qnet floating ip ...`` and external networks against a real
``qnet serve`` (noop plug-in): the issue's commands, as a project and as an admin; and the
same with the real ``openstack`` command."""
from tests.openstack_cli import OpenStackCli


def admin(qnet, *args, **kw):
    return qnet.json("--admin", *args, project="ops", **kw)


def test_router_workflow(qnet):
    public = admin(qnet, "network", "create", "public", "--external")
    assert public["router:external"] is True
    admin(qnet, "subnet", "create", "--network", "public", "203.0.113.0/24")
    qnet("network", "create", "web-net", "db-net")
    web = qnet.json("subnet", "create", "--network", "web-net", "10.0.2.0/24",
                    "--name", "web-v4")
    qnet("subnet", "create", "--network", "db-net", "10.0.3.0/24", "--name", "db-v4")

    router = qnet.json("router", "create", "r1")
    assert router["external_gateway_info"] is None
    router = qnet.json("router", "set", "r1", "--external-gateway", "public")
    assert router["external_gateway_info"]["network_id"] == public["id"]
    router = qnet.json("router", "add", "subnet", "r1", "web-v4")
    qnet("router", "add", "subnet", "r1", "db-v4")
    ports = qnet.json("port", "list", "--device-id", router["id"])
    assert sorted(p["fixed_ips"][0]["ip_address"] for p in ports) == ["10.0.2.1", "10.0.3.1"]
    assert {p["device_owner"] for p in ports} == {"network:router_interface"}
    err = qnet("router", "add", "subnet", "r1", "web-v4", expect=1)
    assert "HTTP 400" in err and "already has a port on subnet" in err

    routed = qnet.json("router", "set", "r1", "--route",
                       "destination=172.16.0.0/12,gateway=10.0.2.9")
    assert routed["routes"] == [{"destination": "172.16.0.0/12", "nexthop": "10.0.2.9"}]
    assert qnet.json("router", "set", "r1", "--no-route")["routes"] == []
    listed = qnet("router", "list", "-f", "value", "-c", "name")
    assert listed.split() == ["r1"]

    vm = qnet.json("port", "create", "web-eth0", "--network", "web-net")
    fip = qnet.json("floating", "ip", "create", "public", "--port", "web-eth0")
    assert (fip["port_id"], fip["fixed_ip_address"], fip["router_id"]) == (
        vm["id"], vm["fixed_ips"][0]["ip_address"], router["id"])
    shown = qnet.json("floating", "ip", "show", fip["floating_ip_address"])
    assert shown["id"] == fip["id"]
    assert qnet.json("floating", "ip", "set", fip["id"], "--port", "none")["port_id"] is None
    qnet("floating", "ip", "set", fip["floating_ip_address"], "--port", "web-eth0")
    assert [f["id"] for f in qnet.json("floating", "ip", "list")] == [fip["id"]]
    err = qnet("router", "remove", "subnet", "r1", "web-v4", expect=1)
    assert "HTTP 409" in err and "floating IP" in err
    qnet("floating", "ip", "delete", fip["floating_ip_address"])
    assert qnet.json("floating", "ip", "list") == []

    err = qnet("router", "delete", "r1", expect=1)
    assert "HTTP 409" in err
    qnet("router", "remove", "subnet", "r1", "web-v4")
    qnet("router", "remove", "subnet", "r1", "db-v4")
    assert qnet.json("router", "set", "r1", "--external-gateway", "none")[
        "external_gateway_info"] is None
    qnet("router", "delete", "r1")
    assert qnet.json("router", "list") == []
    assert web["gateway_ip"] == "10.0.2.1"


def test_admin_knobs_are_refused_to_projects(qnet):
    err = qnet("network", "create", "mine", "--external", expect=1)
    assert "HTTP 403" in err
    flat = admin(qnet, "network", "create", "phys", "--physical-network", "physnet1")
    assert (flat["provider:network_type"], flat["provider:physical_network"]) == (
        "flat", "physnet1")
    admin(qnet, "network", "update", "phys", "--external")
    admin(qnet, "subnet", "create", "--network", "phys", "198.51.100.0/24")
    err = qnet("router", "create", "r", "--external-gateway", "phys", "--no-snat", expect=1)
    assert "HTTP 403" in err
    assert qnet.json("router", "create", "r", "--external-gateway", "phys")[
        "external_gateway_info"]["enable_snat"] is True
    err = qnet("floating", "ip", "create", "phys", "--address", "198.51.100.7", expect=1)
    assert "HTTP 403" in err
    assert "No floating IP with address or id '198.51.100.99'. (HTTP 404)" in qnet(
        "floating", "ip", "show", "198.51.100.99", expect=1)


def test_the_openstack_command_drives_routers_and_floating_ips(token_server, tmp_path):
    """python-openstackclient's own router and floating IP commands, unchanged."""
    token = token_server.manage("token", "create", "--project", "demo", "--admin")
    cli = OpenStackCli(tmp_path, os_auth_type="admin_token", os_token=token,
                       os_endpoint=token_server.url)
    try:
        cli("network", "create", "public", "--external")
        cli("subnet", "create", "pub", "--network", "public", "--subnet-range",
            "203.0.113.0/24")
        cli("network", "create", "web")
        web = cli("subnet", "create", "web-v4", "--network", "web", "--subnet-range",
                  "10.0.2.0/24")
        router = cli("router", "create", "r1")
        cli.ok("router", "set", "r1", "--external-gateway", "public")
        cli.ok("router", "add", "subnet", "r1", "web-v4")
        [interface] = cli("port", "list", "--device-owner", "network:router_interface")
        assert interface["Fixed IP Addresses"] == [{"subnet_id": web["id"],
                                                    "ip_address": "10.0.2.1"}]
        vm = cli("port", "create", "vm", "--network", "web")
        fip = cli("floating", "ip", "create", "public", "--port", "vm")
        assert (fip["port_id"], fip["router_id"]) == (vm["id"], router["id"])
        assert "409" in cli.fail("router", "remove", "subnet", "r1", "web-v4")
        cli.ok("floating", "ip", "delete", fip["id"])
        cli.ok("router", "remove", "subnet", "r1", "web-v4")
        cli.ok("router", "delete", "r1")
        assert cli("router", "list") == []
    finally:
        cli.close()
