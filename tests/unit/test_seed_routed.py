"""The routed seed scenario's API side (``qnet-lab overlay --scenario seed-routed``) against a
real ``qnet serve``: the seed's networks and fw's ports as the lab makes them, then the
external network, a router from dmz-net to it and fw's floating IP, as the tenant sees them
(the lab part, VMs and pings, is the scenario's own matrix check)."""
from qnetclient import Client
from simulations.lab import cli, seed


def test_the_cli_offers_the_routed_scenario():
    args = cli.build_parser().parse_args(["overlay", "--scenario", "seed-routed", "--once"])
    assert (args.scenario, args.outside) == ("seed-routed", None)   # outside: hv1,hv2


def test_a_router_joins_dmz_net_to_the_outside_with_a_floating_ip_for_fw(server):
    admin = Client(server.url, project="admin", admin=True)
    tenant = Client(server.url, project="tenant-a")
    nets = seed.create_networks(tenant)
    ports = dict(seed.create_ports(tenant, "fw", list(seed.SERVERS["fw"])))
    external = seed.create_external(admin)
    assert seed.create_external(admin)["id"] == external["id"]       # made once
    assert (external["router:external"], external["provider:physical_network"]) == \
        (True, "physnet1")

    router, interface_ip, fip = seed.add_router(tenant, external, ports[seed.ROUTED_NETWORK])
    assert interface_ip == "10.0.1.1"                  # dmz-net's gateway: DHCP's router
    assert router["external_gateway_info"]["network_id"] == external["id"]
    assert router["external_gateway_info"]["enable_snat"] is True
    interfaces = tenant.ports.list(device_id=router["id"],
                                   device_owner="network:router_interface")
    assert [p["network_id"] for p in interfaces] == [nets[seed.ROUTED_NETWORK]["id"]]
    fw_dmz = tenant.ports.get(ports[seed.ROUTED_NETWORK]["id"])
    assert (fip["port_id"], fip["fixed_ip_address"], fip["router_id"]) == \
        (fw_dmz["id"], fw_dmz["fixed_ips"][0]["ip_address"], router["id"])
    assert fip["floating_ip_address"].startswith("203.0.113.")
    # fw's dmz NIC admits the external subnet besides its default group; web-net's is as it was
    groups = {g["id"]: g for g in tenant.security_groups.list()}
    assert sorted(groups[g]["name"] for g in fw_dmz["security_groups"]) == \
        ["default", "from-outside"]
    [rule] = [r for r in groups[next(g for g in fw_dmz["security_groups"]
                                     if groups[g]["name"] == "from-outside")]
              ["security_group_rules"] if r["direction"] == "ingress"]
    assert (rule["ethertype"], rule["remote_ip_prefix"]) == ("IPv4", "203.0.113.0/24")
    assert [groups[g]["name"] for g in
            tenant.ports.get(ports["web-net"]["id"])["security_groups"]] == ["default"]


def test_the_routed_matrix_expects_only_fw_and_the_outside_to_meet():
    servers = [seed.Server(name, "t", None, None, [seed.Nic(n, {}, "", "") for n in nics])
               for name, nics in seed.SERVERS.items()]
    expected = seed.expected_routed(servers)
    assert {k for k, v in expected.items() if seed.OUTSIDE in k and v} == \
        {("t/fw", "outside"), ("outside", "t/fw")}
    assert {k: v for k, v in expected.items() if seed.OUTSIDE not in k} == \
        seed.expected(servers)
    matrix = seed.format_matrix(expected, servers + [seed.OUTSIDE])
    assert matrix.splitlines()[-1].split() == ["outside", "yes", "no", "no", "-"]
