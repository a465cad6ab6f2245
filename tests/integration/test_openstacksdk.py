"""A real client against a real ``qnet serve``: openstacksdk's network proxy, over HTTP.

The sdk discovers the API version with ``GET /`` (no token needed), then talks /v2.0. With
``auth_type='none'`` the server runs in noauth mode (project ``demo``); with ``admin_token`` it
sends the token as X-Auth-Token.
"""
import re

import openstack
import pytest
import requests
from openstack import exceptions

# The sdk warns about its own future API changes (PendingDeprecationWarning subclasses).
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]


def connect(url, token=None):
    if token is None:
        auth = {"auth_type": "none", "auth": {"endpoint": url}}
    else:
        auth = {"auth_type": "admin_token", "auth": {"endpoint": url, "token": token}}
    return openstack.connect(load_yaml_config=False, load_envvars=False,
                             network_endpoint_override=url, **auth)


@pytest.fixture
def conn(server):
    c = connect(server.url)
    yield c
    c.close()


def test_discovery_document(server):
    # What the sdk reads first; the v2.0 link must point back at this server.
    resp = requests.get(server.url, timeout=10)
    assert resp.status_code == 200
    body = resp.json()
    current = [v for v in body["versions"] if v["status"] == "CURRENT"]
    assert [v["id"] for v in current] == ["v2.0"]
    assert current[0]["links"][0]["href"] == server.url + "/v2.0/"


def test_network_subnet_port_lifecycle(conn):
    net = conn.network.create_network(name="sdk-net")
    assert net.name == "sdk-net" and net.project_id == "demo"
    assert net.mtu == 1450 and net.is_admin_state_up is True and net.is_shared is False
    sub = conn.network.create_subnet(network_id=net.id, cidr="10.9.0.0/24", ip_version=4,
                                     name="sdk-sub")
    assert sub.cidr == "10.9.0.0/24" and sub.gateway_ip == "10.9.0.1"
    assert sub.allocation_pools == [{"start": "10.9.0.2", "end": "10.9.0.254"}]
    port = conn.network.create_port(network_id=net.id, name="sdk-port")
    assert port.network_id == net.id and port.mac_address.startswith("fa:16:3e:")
    [fixed] = port.fixed_ips
    assert fixed["subnet_id"] == sub.id and fixed["ip_address"].startswith("10.9.0.")

    assert conn.network.get_network(net.id).subnet_ids == [sub.id]
    assert conn.network.get_port(port.id).fixed_ips == port.fixed_ips

    revision = net.revision_number
    updated = conn.network.update_network(net.id, name="sdk-renamed")
    assert updated.name == "sdk-renamed"
    assert conn.network.get_network(net.id).name == "sdk-renamed"
    assert conn.network.get_network(net.id).revision_number == revision + 1
    conn.network.update_port(port, name="p2", is_admin_state_up=False)
    fetched = conn.network.get_port(port.id)
    assert fetched.name == "p2" and fetched.is_admin_state_up is False

    # A subnet with addresses in use, or a network with ports, cannot go first.
    with pytest.raises(exceptions.ConflictException):
        conn.network.delete_subnet(sub)
    with pytest.raises(exceptions.ConflictException):
        conn.network.delete_network(net)

    conn.network.delete_port(port)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_port(port.id)
    conn.network.delete_subnet(sub)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_subnet(sub.id)
    conn.network.delete_network(net)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_network(net.id)
    assert list(conn.network.networks()) == []
    assert list(conn.network.subnets()) == []
    assert list(conn.network.ports()) == []


def test_list_filters(conn):
    a = conn.network.create_network(name="alpha")
    b = conn.network.create_network(name="beta")
    assert [n.id for n in conn.network.networks(name="alpha")] == [a.id]
    assert [n.id for n in conn.network.networks(name="nope")] == []
    assert sorted(n.id for n in conn.network.networks()) == sorted([a.id, b.id])
    assert conn.network.find_network("beta", ignore_missing=False).id == b.id
    with pytest.raises(exceptions.NotFoundException):
        conn.network.find_network("gamma", ignore_missing=False)

    pa = conn.network.create_port(network_id=a.id)
    pb = conn.network.create_port(network_id=b.id, device_id="vm-1")
    assert [p.id for p in conn.network.ports(network_id=a.id)] == [pa.id]
    assert [p.id for p in conn.network.ports(network_id=b.id)] == [pb.id]
    assert [p.id for p in conn.network.ports(device_id="vm-1")] == [pb.id]


def test_pagination_returns_every_item_once(conn):
    net = conn.network.create_network(name="paged")
    other = conn.network.create_network(name="other")
    conn.network.create_port(network_id=other.id)
    ids = {conn.network.create_port(network_id=net.id).id for _ in range(7)}
    # Every request the sdk sends, seen on its HTTP session (its debug log depends on logging
    # set-up elsewhere in the run, the transport does not).
    sent = []
    conn.session.session.hooks["response"].append(
        lambda resp, *args, **kwargs: sent.append((resp.request.method, resp.request.url)))
    got = [p.id for p in conn.network.ports(limit=2, network_id=net.id)]
    assert len(got) == len(ids) and set(got) == ids
    # The sdk really paged: one request per page of 2 (4 pages for 7 ports), not one big list.
    pages = [url for method, url in sent
             if method == "GET" and re.search(r"/v2\.0/ports\?", url)]
    assert len(pages) >= 4, sent
    # Pages come in the server's order with no overlap, so a second listing agrees.
    assert [p.id for p in conn.network.ports(limit=3, network_id=net.id)] == got


def test_missing_network_is_not_found(conn):
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(exceptions.NotFoundException) as info:
        conn.network.get_network(missing)
    assert info.value.status_code == 404
    assert f"Network {missing} could not be found." in str(info.value)
    assert issubclass(exceptions.ResourceNotFound, exceptions.NotFoundException) or \
        exceptions.ResourceNotFound is exceptions.NotFoundException


def test_taken_ip_is_conflict_with_the_servers_message(conn):
    net = conn.network.create_network(name="n")
    sub = conn.network.create_subnet(network_id=net.id, cidr="10.8.0.0/24", ip_version=4)
    first = conn.network.create_port(network_id=net.id,
                                     fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.8.0.10"}])
    assert first.fixed_ips == [{"subnet_id": sub.id, "ip_address": "10.8.0.10"}]
    with pytest.raises(exceptions.ConflictException) as info:
        conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": "10.8.0.10"}])
    assert info.value.status_code == 409
    message = f"Unable to complete operation for network {net.id}. The IP address 10.8.0.10 is in use."
    assert info.value.details == message
    assert message in str(info.value)
    assert [p.id for p in conn.network.ports(network_id=net.id)] == [first.id]


def test_bad_input_is_bad_request(conn):
    net = conn.network.create_network(name="n")
    with pytest.raises(exceptions.BadRequestException) as info:
        conn.network.create_subnet(network_id=net.id, cidr="10.0.0.0/33", ip_version=4)
    assert "10.0.0.0/33" in info.value.details


# -- token auth ------------------------------------------------------------------------------------
def test_token_auth_basic_flow(token_server):
    token = token_server.manage("token", "create", "--project", "demo")
    conn = connect(token_server.url, token)
    try:
        net = conn.network.create_network(name="tok-net")
        assert net.project_id == "demo"
        sub = conn.network.create_subnet(network_id=net.id, cidr="192.168.5.0/24", ip_version=4)
        port = conn.network.create_port(network_id=net.id)
        assert port.fixed_ips[0]["subnet_id"] == sub.id
        assert [n.name for n in conn.network.networks(name="tok-net")] == ["tok-net"]
        conn.network.update_network(net, name="tok-renamed")
        assert conn.network.get_network(net.id).name == "tok-renamed"
        conn.network.delete_port(port)
        conn.network.delete_subnet(sub)
        conn.network.delete_network(net)
        assert list(conn.network.networks()) == []
    finally:
        conn.close()

    bad = connect(token_server.url, "qnet-not-a-token")
    try:
        with pytest.raises(exceptions.HttpException) as info:
            list(bad.network.networks())
        assert info.value.status_code == 401
        assert "The token is not valid." in str(info.value)
    finally:
        bad.close()


def test_token_auth_tenant_isolation(token_server):
    a = connect(token_server.url, token_server.manage("token", "create", "--project", "pa"))
    b = connect(token_server.url, token_server.manage("token", "create", "--project", "pb"))
    admin = connect(token_server.url,
                    token_server.manage("token", "create", "--project", "ops", "--admin"))
    try:
        net_a = a.network.create_network(name="a-net")
        net_b = b.network.create_network(name="b-net")
        assert [n.id for n in a.network.networks()] == [net_a.id]
        assert [n.id for n in b.network.networks()] == [net_b.id]
        with pytest.raises(exceptions.NotFoundException):
            b.network.get_network(net_a.id)
        with pytest.raises(exceptions.NotFoundException):
            b.network.find_network("a-net", ignore_missing=False)
        with pytest.raises(exceptions.NotFoundException):
            b.network.create_port(network_id=net_a.id)
        with pytest.raises(exceptions.NotFoundException):
            b.network.delete_network(net_a.id, ignore_missing=False)
        with pytest.raises(exceptions.ForbiddenException):
            b.network.create_network(name="sneaky", project_id="pa")
        assert sorted(n.id for n in admin.network.networks()) == sorted([net_a.id, net_b.id])
        assert [n.id for n in admin.network.networks(project_id="pa")] == [net_a.id]
        made = admin.network.create_network(name="for-b", project_id="pb")
        assert sorted(n.id for n in b.network.networks()) == sorted([net_b.id, made.id])
        assert a.network.get_network(net_a.id).name == "a-net"
    finally:
        for c in (a, b, admin):
            c.close()


def test_qos_policy_and_bandwidth_limit_rules(conn):
    policy = conn.network.create_qos_policy(name="sdk-gold", description="10M up")
    assert policy.name == "sdk-gold" and policy.is_shared is False
    rule = conn.network.create_qos_bandwidth_limit_rule(policy, max_kbps=10000,
                                                        direction="egress")
    assert (rule.max_kbps, rule.max_burst_kbps, rule.direction) == (10000, 0, "egress")
    conn.network.update_qos_bandwidth_limit_rule(rule, policy, max_kbps=50000)
    assert [r.max_kbps for r in conn.network.qos_bandwidth_limit_rules(policy)] == [50000]
    assert conn.network.get_qos_policy(policy.id).rules[0]["max_kbps"] == 50000
    with pytest.raises(exceptions.ConflictException):
        conn.network.create_qos_bandwidth_limit_rule(policy, max_kbps=1, direction="egress")
    net = conn.network.create_network(name="sdk-qos-net")
    port = conn.network.create_port(network_id=net.id, qos_policy_id=policy.id)
    assert port.qos_policy_id == policy.id
    with pytest.raises(exceptions.ConflictException):
        conn.network.delete_qos_policy(policy)
    conn.network.update_port(port, qos_policy_id=None)
    conn.network.delete_qos_bandwidth_limit_rule(rule, policy)
    conn.network.delete_qos_policy(policy)
    assert conn.network.find_qos_policy("sdk-gold") is None


def test_routers_and_floating_ips(token_server):
    """The sdk's own calls: an admin's external network; a project's router with a gateway,
    interfaces attached and detached by subnet and by port, extra routes, a floating IP moved
    between ports and released; refusals come back as the sdk's exceptions."""
    admin = connect(token_server.url,
                    token_server.manage("token", "create", "--project", "ops", "--admin"))
    conn = connect(token_server.url, token_server.manage("token", "create", "--project", "demo"))
    try:
        public = admin.network.create_network(name="public", is_router_external=True)
        admin.network.create_subnet(network_id=public.id, cidr="203.0.113.0/24", ip_version=4)
        assert conn.network.find_network("public").is_router_external is True
        with pytest.raises(exceptions.ForbiddenException):
            conn.network.create_network(name="mine", is_router_external=True)
        net = conn.network.create_network(name="sdk-l3")
        sub = conn.network.create_subnet(network_id=net.id, cidr="10.8.0.0/24", ip_version=4)
        vm = conn.network.create_port(network_id=net.id, name="vm")

        router = conn.network.create_router(name="sdk-r", external_gateway_info={
            "network_id": public.id})
        assert router.external_gateway_info["network_id"] == public.id
        assert router.external_gateway_info["external_fixed_ips"][0]["ip_address"] \
            .startswith("203.0.113.")
        info = conn.network.add_interface_to_router(router, subnet_id=sub.id)
        assert info["subnet_id"] == sub.id
        interface = conn.network.get_port(info["port_id"])
        assert interface.device_owner == "network:router_interface"
        assert interface.fixed_ips[0]["ip_address"] == sub.gateway_ip
        with pytest.raises(exceptions.BadRequestException):
            conn.network.add_interface_to_router(router, subnet_id=sub.id)
        with pytest.raises(exceptions.ConflictException):
            conn.network.delete_router(router)
        router = conn.network.update_router(router, routes=[
            {"destination": "172.16.0.0/12", "nexthop": "10.8.0.9"}])
        assert router.routes == [{"destination": "172.16.0.0/12", "nexthop": "10.8.0.9"}]
        conn.network.update_router(router, routes=[])

        fip = conn.network.create_ip(floating_network_id=public.id, port_id=vm.id)
        assert (fip.port_id, fip.fixed_ip_address, fip.router_id) == (
            vm.id, vm.fixed_ips[0]["ip_address"], router.id)
        other = conn.network.create_port(network_id=net.id, name="vm2")
        fip = conn.network.update_ip(fip, port_id=other.id)
        assert fip.fixed_ip_address == other.fixed_ips[0]["ip_address"]
        assert [f.id for f in conn.network.ips(port_id=other.id)] == [fip.id]
        with pytest.raises(exceptions.ConflictException):
            conn.network.remove_interface_from_router(router, subnet_id=sub.id)
        conn.network.update_ip(fip, port_id=None)
        conn.network.delete_ip(fip)

        spare_net = conn.network.create_network(name="sdk-l3b")
        conn.network.create_subnet(network_id=spare_net.id, cidr="10.9.0.0/24", ip_version=4)
        spare = conn.network.create_port(network_id=spare_net.id)
        conn.network.add_interface_to_router(router, port_id=spare.id)
        conn.network.remove_interface_from_router(router, port_id=spare.id)
        conn.network.remove_interface_from_router(router, subnet_id=sub.id)
        conn.network.delete_router(router)
        assert list(conn.network.routers()) == [] and list(conn.network.ips()) == []
        with pytest.raises(exceptions.NotFoundException):
            conn.network.get_port(spare.id)
    finally:
        admin.close()
        conn.close()


def test_quotas(token_server):
    """The sdk's quota calls: a project reads its own limits, an admin sets and resets them,
    and a router past the limit comes back as the sdk's ConflictException."""
    admin = connect(token_server.url,
                    token_server.manage("token", "create", "--project", "ops", "--admin"))
    conn = connect(token_server.url, token_server.manage("token", "create", "--project", "qa"))
    try:
        quota = conn.network.get_quota("qa")
        assert (quota.floating_ips, quota.routers) == (50, 10)
        with pytest.raises(exceptions.ForbiddenException):
            conn.network.get_quota("ops")
        admin.network.update_quota("qa", routers=1)
        assert conn.network.get_quota("qa").routers == 1
        conn.network.create_router(name="one")
        with pytest.raises(exceptions.ConflictException):
            conn.network.create_router(name="two")
        admin.network.delete_quota("qa")
        assert conn.network.get_quota("qa").routers == 10
        conn.network.create_router(name="two")
    finally:
        admin.close()
        conn.close()


def test_security_groups_and_rules(conn):
    """The sdk's own calls for security groups: the project's default group (made on first
    use), a group with rules of several shapes (protocol by name and number, port ranges, ICMP
    type/code, a prefix, a remote group, IPv6, egress), attached to a port, listed, shown,
    filtered; refusals as the sdk's exceptions; deleted with nothing left."""
    [default] = [g for g in conn.network.security_groups() if g.name == "default"]
    shapes = {(r["direction"], r["ethertype"], r["remote_group_id"])
              for r in default.security_group_rules}
    assert shapes == {("ingress", "IPv4", default.id), ("ingress", "IPv6", default.id),
                      ("egress", "IPv4", None), ("egress", "IPv6", None)}

    web = conn.network.create_security_group(name="sdk-web", description="web tier")
    assert (web.name, web.description, web.project_id) == ("sdk-web", "web tier", "demo")
    assert web.stateful is True
    made = [
        conn.network.create_security_group_rule(
            security_group_id=web.id, direction="ingress", ethertype="IPv4", protocol="tcp",
            port_range_min=80, port_range_max=80, remote_ip_prefix="0.0.0.0/0"),
        conn.network.create_security_group_rule(
            security_group_id=web.id, direction="ingress", ethertype="IPv4", protocol="17",
            port_range_min=5000, port_range_max=5010, remote_ip_prefix="10.0.0.0/8"),
        conn.network.create_security_group_rule(
            security_group_id=web.id, direction="ingress", ethertype="IPv4", protocol="icmp",
            port_range_min=8, port_range_max=0, remote_group_id=default.id),
        conn.network.create_security_group_rule(
            security_group_id=web.id, direction="ingress", ethertype="IPv6",
            protocol="ipv6-icmp", remote_ip_prefix="2001:db8::/32"),
    ]
    assert (made[0].protocol, made[0].port_range_min, made[0].port_range_max) == ("tcp", 80, 80)
    assert made[1].protocol == "17" and made[1].remote_ip_prefix == "10.0.0.0/8"
    assert made[2].remote_group_id == default.id and made[2].remote_ip_prefix is None
    assert made[3].ether_type == "IPv6"
    with pytest.raises(exceptions.ConflictException):       # the same rule twice
        conn.network.create_security_group_rule(
            security_group_id=web.id, direction="ingress", ethertype="IPv4", protocol="tcp",
            port_range_min=80, port_range_max=80, remote_ip_prefix="0.0.0.0/0")
    with pytest.raises(exceptions.BadRequestException):     # a prefix of the other family
        conn.network.create_security_group_rule(
            security_group_id=web.id, direction="ingress", ethertype="IPv4",
            remote_ip_prefix="2001:db8::/32")
    with pytest.raises(exceptions.BadRequestException):     # ports without a protocol
        conn.network.create_security_group_rule(
            security_group_id=web.id, direction="ingress", ethertype="IPv4",
            port_range_min=22, port_range_max=22)

    got = conn.network.get_security_group(web.id)
    ids = {r.id for r in made}
    assert ids <= {r["id"] for r in got.security_group_rules}
    assert {r.id for r in conn.network.security_group_rules(security_group_id=web.id,
                                                            direction="ingress")} == ids
    assert conn.network.get_security_group_rule(made[0].id).port_range_max == 80
    assert conn.network.find_security_group("sdk-web").id == web.id

    net = conn.network.create_network(name="sdk-sg-net")
    conn.network.create_subnet(network_id=net.id, cidr="10.7.0.0/24", ip_version=4)
    port = conn.network.create_port(network_id=net.id, security_group_ids=[web.id])
    assert port.security_group_ids == [web.id]
    plain = conn.network.create_port(network_id=net.id)
    assert plain.security_group_ids == [default.id]
    with pytest.raises(exceptions.ConflictException):       # in use
        conn.network.delete_security_group(web)
    port = conn.network.update_port(port, security_group_ids=[web.id, default.id])
    assert sorted(port.security_group_ids) == sorted([web.id, default.id])

    conn.network.delete_security_group_rule(made[1])
    assert made[1].id not in {r.id for r in conn.network.security_group_rules(
        security_group_id=web.id)}
    conn.network.update_port(port, security_group_ids=[default.id])
    conn.network.delete_security_group(web)
    assert conn.network.find_security_group("sdk-web") is None
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_security_group_rule(made[0].id)


def test_address_groups_round_trip(conn):
    """The sdk's own calls for address groups: create, add and remove addresses, rename,
    name one in a security group rule (then it cannot be deleted), delete."""
    office = conn.network.create_address_group(name="sdk-office", description="HQ",
                                               addresses=["192.0.2.7", "198.51.100.0/24"])
    assert (office.name, office.description, office.project_id) == ("sdk-office", "HQ", "demo")
    assert office.addresses == ["192.0.2.7/32", "198.51.100.0/24"]
    office = conn.network.add_addresses_to_address_group(office, ["2001:db8::/64"])
    assert office.addresses == ["192.0.2.7/32", "198.51.100.0/24", "2001:db8::/64"]
    office = conn.network.remove_addresses_from_address_group(office, ["192.0.2.7/32"])
    assert office.addresses == ["198.51.100.0/24", "2001:db8::/64"]
    with pytest.raises(exceptions.NotFoundException):        # not in the group
        conn.network.remove_addresses_from_address_group(office, ["192.0.2.7/32"])
    office = conn.network.update_address_group(office, name="sdk-hq")
    assert conn.network.find_address_group("sdk-hq").id == office.id
    assert office.id in {g.id for g in conn.network.address_groups()}

    group = conn.network.create_security_group(name="sdk-ssh")
    rule = conn.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol="tcp",
        port_range_min=22, port_range_max=22, remote_address_group_id=office.id)
    assert rule.remote_address_group_id == office.id
    assert conn.network.get_security_group_rule(rule.id).remote_address_group_id == office.id
    with pytest.raises(exceptions.ConflictException):        # a rule names it
        conn.network.delete_address_group(office)
    conn.network.delete_security_group(group)
    conn.network.delete_address_group(office)
    assert conn.network.find_address_group("sdk-hq") is None
