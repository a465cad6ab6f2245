"""The routed seed scenario's API side (``qnet-lab overlay --scenario seed-routed``) against a
real ``qnet serve``: fw's role played by a router per tenant (dmz-net and web-net, its gateway
on the external network), dmz, web and db's ports as the lab makes them, dmz's floating IP,
and what the API refuses around them (the lab part, VMs and pings, is the scenario's own
matrix check and tests/lab/test_seed_routed_lab.py)."""
import pytest

from qnetclient import Client, ClientError
from simulations.lab import cli, seed


def test_the_cli_offers_the_routed_scenario():
    args = cli.build_parser().parse_args(["overlay", "--scenario", "seed-routed", "--once"])
    assert (args.scenario, args.outside) == ("seed-routed", None)   # outside: hv1,hv2


def make_tenant(client):
    """The variant's networks and servers' ports, as build_routed makes them; {server:
    {network: port}}."""
    seed.create_networks(client, isolated=seed.ISOLATED)
    return {name: dict(seed.create_ports(client, name, list(nics)))
            for name, nics in seed.ROUTED_SERVERS.items()}


def test_a_router_named_fw_joins_dmz_net_and_web_net_to_the_outside(server):
    admin = Client(server.url, project="admin", admin=True)
    tenant = Client(server.url, project="tenant-a")
    ports = make_tenant(tenant)
    gateways = {s["name"]: s["gateway_ip"] for s in tenant.subnets.list()}
    # DHCP offers a default route only where the router will be: db-net has no gateway
    assert gateways == {"dmz-net-v4": "10.0.1.1", "web-net-v4": "10.0.2.1", "db-net-v4": None}
    external = seed.create_external(admin)
    assert seed.create_external(admin)["id"] == external["id"]       # made once
    assert (external["router:external"], external["provider:physical_network"]) == \
        (True, "physnet1")

    router, interfaces = seed.add_router(tenant, external)
    assert router["name"] == "fw"
    assert interfaces == {"dmz-net": "10.0.1.1", "web-net": "10.0.2.1"}   # the gateways
    assert router["external_gateway_info"]["network_id"] == external["id"]
    assert router["external_gateway_info"]["enable_snat"] is True
    assert seed.gateway_ip(router).startswith("203.0.113.")
    nets = {n["id"]: n["name"] for n in tenant.networks.list()}
    assert sorted(nets[p["network_id"]] for p in tenant.ports.list(
        device_id=router["id"], device_owner="network:router_interface")) == \
        ["dmz-net", "web-net"]

    dmz = ports["dmz"]["dmz-net"]
    fip = seed.expose(tenant, external, dmz)
    assert (fip["port_id"], fip["fixed_ip_address"], fip["router_id"]) == \
        (dmz["id"], dmz["fixed_ips"][0]["ip_address"], router["id"])
    assert fip["floating_ip_address"].startswith("203.0.113.")
    # dmz's NIC admits the external subnet besides its default group; the others are as they were
    groups = {g["id"]: g for g in tenant.security_groups.list()}
    dmz_groups = tenant.ports.get(dmz["id"])["security_groups"]
    assert sorted(groups[g]["name"] for g in dmz_groups) == ["default", "from-outside"]
    [rule] = [r for g in dmz_groups if groups[g]["name"] == "from-outside"
              for r in groups[g]["security_group_rules"] if r["direction"] == "ingress"]
    assert (rule["ethertype"], rule["remote_ip_prefix"]) == ("IPv4", "203.0.113.0/24")
    for name in ("web", "db"):
        for port in ports[name].values():
            assert [groups[g]["name"] for g in
                    tenant.ports.get(port["id"])["security_groups"]] == ["default"]


def test_db_net_stays_off_the_router_and_the_tenants_apart(server):
    admin = Client(server.url, project="admin", admin=True)
    a, b = Client(server.url, project="tenant-a"), Client(server.url, project="tenant-b")
    ports = {t: make_tenant(c) for t, c in (("a", a), ("b", b))}
    external = seed.create_external(admin)
    routers = {t: seed.add_router(c, external)[0] for t, c in (("a", a), ("b", b))}
    db_subnet = a.subnets.find("db-net-v4")

    with pytest.raises(ClientError) as no_gateway:          # db-net cannot join a router
        a.routers.add_interface(routers["a"]["id"], subnet_id=db_subnet["id"])
    assert no_gateway.value.status == 400 and "gateway IP" in str(no_gateway.value)
    for port in (ports["a"]["db"]["db-net"], ports["a"]["web"]["db-net"]):
        with pytest.raises(ClientError) as no_router:       # no floating IP behind no router
            a.floating_ips.create(floating_network_id=external["id"], port_id=port["id"])
        assert no_router.value.status == 404
    # same CIDRs, each tenant its own router on its own subnets, neither touching the other's
    with pytest.raises(ClientError) as foreign:
        b.routers.add_interface(routers["b"]["id"], subnet_id=a.subnets.find("web-net-v4")["id"])
    assert foreign.value.status == 404
    with pytest.raises(ClientError) as foreign_port:
        b.floating_ips.create(floating_network_id=external["id"],
                              port_id=ports["a"]["dmz"]["dmz-net"]["id"])
    assert foreign_port.value.status == 404
    assert [r["name"] for r in a.routers.list()] == [r["name"] for r in b.routers.list()] == \
        ["fw"]


def test_the_routed_matrix():
    servers = [seed.Server(name, t, None, None, [seed.Nic(n, {}, "", "") for n in nics])
               for t in ("a", "b") for name, nics in seed.ROUTED_SERVERS.items()]
    expected = seed.expected_routed(servers)
    meet = {k for k, v in expected.items() if v}
    within = {("dmz", "web"), ("web", "dmz"), ("web", "db"), ("db", "web"),
              ("dmz", "outside"), ("web", "outside"), ("outside", "dmz")}
    assert meet == {tuple(x if x == "outside" else f"{t}/{x}" for x in pair)
                    for t in ("a", "b") for pair in within}
    matrix = seed.format_matrix(expected, servers + [seed.OUTSIDE])
    assert matrix.splitlines()[-1].split() == ["outside", "yes", "no", "no", "yes", "no", "no",
                                               "-"]
