"""The real ``openstack`` command against a real ``qnet serve``, as a new user would drive it:
``admin_token`` mode with qnet's own tokens, and ``--os-auth-type none`` against noauth.

Commands run in one worker process per client (tests/openstack_cli.py); one test walks a
whole workflow.
The same commands in Keystone mode, found through the catalog: tests/keystone/.
"""
import pytest

from simulations.serve import QnetServer
from tests.openstack_cli import OpenStackCli


@pytest.fixture
def token_server(tmp_path):
    with QnetServer(tmp_path, auth="token") as srv:
        yield srv


@pytest.fixture
def cli(token_server, tmp_path):
    token = token_server.manage("token", "create", "--project", "demo", "--admin")
    client = OpenStackCli(tmp_path, os_auth_type="admin_token", os_token=token,
                          os_endpoint=token_server.url)
    yield client
    client.close()


def test_networks_subnets_ports_with_their_usual_options(cli):
    net = cli("network", "create", "web-net", "--description", "web tier",
              "--disable-port-security")
    assert (net["name"], net["description"], net["project_id"]) == ("web-net", "web tier", "demo")
    assert net["port_security_enabled"] is False and net["mtu"] == 1450
    sub = cli("subnet", "create", "web-sub", "--network", "web-net",
              "--subnet-range", "10.0.2.0/24", "--allocation-pool",
              "start=10.0.2.10,end=10.0.2.20", "--dns-nameserver", "10.0.2.1")
    assert (sub["cidr"], sub["gateway_ip"]) == ("10.0.2.0/24", "10.0.2.1")
    assert sub["allocation_pools"] == [{"start": "10.0.2.10", "end": "10.0.2.20"}]
    # a port that states nothing takes its network's port security
    port = cli("port", "create", "web-eth0", "--network", "web-net",
               "--fixed-ip", "subnet=web-sub,ip-address=10.0.2.15")
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.2.15"}]
    assert port["port_security_enabled"] is False
    cli.ok("network", "set", "web-net", "--enable-port-security", "--name", "web")
    shown = cli("network", "show", "web")
    assert (shown["port_security_enabled"], shown["subnets"]) == (True, [sub["id"]])
    second = cli("port", "create", "web-eth1", "--network", "web")
    assert second["port_security_enabled"] is True
    assert len(second["security_group_ids"]) == 1       # the project's default group
    # as in Neutron, port security goes off only with the port's groups
    assert "security groups" in cli.fail("port", "set", "web-eth1", "--disable-port-security")
    cli.ok("port", "set", "web-eth1", "--disable-port-security", "--no-security-group")
    shown = cli("port", "show", "web-eth1")
    assert (shown["port_security_enabled"], shown["security_group_ids"]) == (False, [])

    assert [p["Name"] for p in cli("port", "list", "--network", "web", "--sort-column",
                                   "Name")] == ["web-eth0", "web-eth1"]
    assert [s["ID"] for s in cli("subnet", "list", "--network", "web")] == [sub["id"]]
    assert [n["ID"] for n in cli("network", "list")] == [net["id"]]

    # a network with ports cannot go; then everything can, in order
    assert "409" in cli.fail("network", "delete", "web")
    cli.ok("port", "delete", "web-eth0", "web-eth1")
    cli.ok("subnet", "delete", "web-sub")
    cli.ok("network", "delete", "web")
    assert cli("network", "list") == []


def test_qos_extensions_and_ip_availability(cli):
    assert {"qos", "port-security", "network-ip-availability"} <= {
        e["Alias"] for e in cli("extension", "list", "--network")}
    assert cli("network", "qos", "rule", "type", "list") == [{"Type": "bandwidth_limit"}]
    detail = cli("network", "qos", "rule", "type", "show", "bandwidth_limit")
    assert {p["parameter_name"] for p in detail["drivers"][0]["supported_parameters"]} == \
        {"max_kbps", "max_burst_kbps", "direction"}
    policy = cli("network", "qos", "policy", "create", "10M")
    rule = cli("network", "qos", "rule", "create", "--type", "bandwidth-limit",
               "--max-kbps", "10000", "--egress", "10M")
    assert (rule["max_kbps"], rule["direction"]) == (10000, "egress")
    assert [r["ID"] for r in cli("network", "qos", "rule", "list", "10M")] == [rule["id"]]
    net = cli("network", "create", "db-net", "--qos-policy", "10M")
    assert net["qos_policy_id"] == policy["id"]
    assert "409" in cli.fail("network", "qos", "policy", "delete", "10M")

    cli("subnet", "create", "v4", "--network", "db-net", "--subnet-range", "10.0.3.0/24")
    cli("subnet", "create", "v6", "--network", "db-net", "--ip-version", "6",
        "--subnet-range", "fd00:3::/64")
    cli("port", "create", "db-eth0", "--network", "db-net")
    # the client always sends ip_version=4: only the IPv4 subnet is counted
    [usage] = cli("ip", "availability", "list")
    assert (usage["Network ID"], usage["Total IPs"], usage["Used IPs"]) == (net["id"], 253, 1)
    v6 = cli("ip", "availability", "list", "--ip-version", "6")
    assert [u["Network ID"] for u in v6] == [net["id"]]
    shown = cli("ip", "availability", "show", "db-net")
    assert sorted(s["ip_version"] for s in shown["subnet_ip_availability"]) == [4, 6]


def test_without_a_valid_token_nothing_happens(cli, token_server):
    # through the installed `openstack` script itself, each in a process of its own
    code, _, err = cli.with_vars(os_token="qnet-not-a-token").script("network", "create", "x")
    assert code != 0 and "401" in err
    # --os-auth-type none sends a placeholder token: a token server refuses it
    code, _, err = OpenStackCli(cli.workdir, os_auth_type="none",
                                os_endpoint=token_server.url).script("network", "list")
    assert code != 0 and "401" in err
    assert cli("network", "list") == []


def test_auth_type_none_against_noauth(tmp_path):
    with QnetServer(tmp_path) as srv:
        cli = OpenStackCli(tmp_path, os_auth_type="none", os_endpoint=srv.url)
        try:
            net = cli("network", "create", "open-net")
            assert net["project_id"] == "demo"
            assert [n["ID"] for n in cli("network", "list")] == [net["id"]]
        finally:
            cli.close()


def test_network_rbac_with_the_openstack_command(cli, token_server, tmp_path):
    """``openstack network rbac ...`` in admin_token mode. ``--target-project`` is resolved by
    the client through Keystone's identity API, which this mode has not: here the admin opens
    objects to every project (``--target-all-projects``); one project by name or id is driven
    in Keystone mode (tests/keystone/test_openstack_cli_keystone.py)."""
    carol = OpenStackCli(tmp_path, os_auth_type="admin_token", os_endpoint=token_server.url,
                         os_token=token_server.manage("token", "create", "--project", "carol"))
    try:
        net = cli("network", "create", "team-net")
        assert carol("network", "list") == []
        entry = cli("network", "rbac", "create", "--type", "network", "--action",
                    "access_as_shared", "--target-all-projects", "team-net")
        assert (entry["object_id"], entry["action"], entry["target_project_id"]) == (
            net["id"], "access_as_shared", "*")
        assert cli("network", "show", "team-net")["shared"] is True   # the `*` entry
        assert [n["ID"] for n in carol("network", "list")] == [net["id"]]
        port = carol("port", "create", "carol-eth0", "--network", net["id"])
        # carol's port depends on the entry: it cannot go, and carol cannot touch it
        assert "409" in cli.fail("network", "rbac", "delete", entry["id"])
        assert carol("network", "rbac", "list") == []
        assert cli("network", "show", "team-net")["shared"] is True
        carol.ok("port", "delete", port["id"])
        assert [e["ID"] for e in cli("network", "rbac", "list")] == [entry["id"]]
        assert cli("network", "rbac", "show", entry["id"])["target_project_id"] == "*"
        cli.ok("network", "rbac", "delete", entry["id"])
        assert cli("network", "show", "team-net")["shared"] is False
        assert carol("network", "list") == []
        # a QoS policy the same way
        policy = cli("network", "qos", "policy", "create", "gold")
        cli("network", "rbac", "create", "--type", "qos_policy", "--action",
            "access_as_shared", "--target-all-projects", "gold")
        assert [p["ID"] for p in carol("network", "qos", "policy", "list")] == [policy["id"]]
        # and an address group, which carol's rules may then name
        office = cli("address", "group", "create", "office", "--address", "192.0.2.0/24")
        cli("network", "rbac", "create", "--type", "address_group", "--action",
            "access_as_shared", "--target-all-projects", "office")
        assert [g["ID"] for g in carol("address", "group", "list")] == [office["id"]]
        carol("security", "group", "create", "ssh")
        rule = carol("security", "group", "rule", "create", "ssh", "--protocol", "tcp",
                     "--dst-port", "22", "--remote-address-group", office["id"])
        assert rule["remote_address_group_id"] == office["id"]
        assert "409" in cli.fail("address", "group", "delete", "office")
    finally:
        carol.close()


def test_address_groups_with_the_openstack_command(cli):
    office = cli("address", "group", "create", "office", "--address", "192.0.2.7",
                 "--address", "198.51.100.0/24", "--description", "HQ")
    assert (office["name"], office["description"]) == ("office", "HQ")
    assert sorted(office["addresses"]) == ["192.0.2.7/32", "198.51.100.0/24"]
    cli.ok("address", "group", "set", "office", "--address", "2001:db8::/64", "--name", "hq")
    cli.ok("address", "group", "unset", "hq", "--address", "192.0.2.7/32")
    shown = cli("address", "group", "show", "hq")
    assert sorted(shown["addresses"]) == ["198.51.100.0/24", "2001:db8::/64"]
    cli("security", "group", "create", "ssh")
    rule = cli("security", "group", "rule", "create", "ssh", "--protocol", "tcp",
               "--dst-port", "22", "--remote-address-group", "hq")
    assert rule["remote_address_group_id"] == office["id"]
    assert "409" in cli.fail("address", "group", "delete", "hq")
    cli.ok("security", "group", "rule", "delete", rule["id"])
    cli.ok("address", "group", "delete", "hq")
    assert cli("address", "group", "list") == []
