"""qnet trace on the seed scenario in a fake cloud (the real core, the real overlay controller,
in-process switches): two tenants with the same CIDRs, fw/web/db on three hypervisors, traced
through GET /v2.0/qnet/trace as their owners ask it."""
import urllib.parse

import pytest

from rest.app import build_app
from simulations.fakecloud import FakeCloud
from simulations.lab.seed import NETWORKS, SERVERS
from tests.conftest import Client


class Seed:
    def __init__(self):
        self.cloud = FakeCloud.on_core(hypervisors=3)
        self.core = self.cloud.plugin.core
        app = build_app(self.core, auth="noauth")
        self.api = {t: Client(app).as_project(t) for t in ("tenant-a", "tenant-b")}
        self.admin = Client(app).as_project("ops", admin=True)
        self.ports = {}     # (tenant, server, network) -> port
        for t, (tenant, api) in enumerate(self.api.items()):
            nets = {}
            for name, cidr in NETWORKS.items():
                nets[name] = api.post("/v2.0/networks", {"network": {"name": name}})[1]["network"]
                api.post("/v2.0/subnets", {"subnet": {"network_id": nets[name]["id"],
                                                      "cidr": cidr, "ip_version": 4}})
            for i, (server, nics) in enumerate(SERVERS.items()):
                for n, net in enumerate(nics):
                    attachment = f"{tenant}/{server}/eth{n}"
                    status, body = api.post("/v2.0/ports", {"port": {
                        "network_id": nets[net]["id"], "name": f"{server}-eth{n}",
                        "attachment": attachment,
                        "fixed_ips": [{"ip_address": NETWORKS[net].rsplit(".", 1)[0] +
                                       f".{10 + 10 * t + i}"}]}})
                    assert status == 201, body
                    self.ports[(tenant, server, net)] = body["port"]
                    self.cloud.plug(f"hv{(i + t) % 3 + 1}", f"t{t}{i}{n}", attachment, tenant)
        self.cloud.settle()

    def port(self, tenant, server, net):
        return self.ports[(tenant, server, net)]

    def trace(self, tenant, port, to, api=None, **params):
        query = urllib.parse.urlencode({"port_id": port["id"], "to": to, **params})
        return (api or self.api[tenant]).get(f"/v2.0/qnet/trace?{query}")


@pytest.fixture(scope="module")
def seed():
    return Seed()


def ip(port):
    return port["fixed_ips"][0]["ip_address"]


def test_fw_reaches_web_across_the_tunnel(seed):
    fw, web = seed.port("tenant-a", "fw", "web-net"), seed.port("tenant-a", "web", "web-net")
    status, body = seed.trace("tenant-a", fw, ip(web), protocol="tcp", dport=80)
    assert status == 200, body
    trace = body["trace"]
    assert [v["result"] for v in trace["verdicts"]] == ["delivered"]
    assert trace["verdicts"][0]["port_id"] == web["id"]
    arp, tcp = trace["phases"]
    assert arp["answer"] == web["mac_address"]           # resolved by the ARP responder
    stages = [s["stage"] for s in tcp["steps"]]
    assert stages[:2] == ["classify", "port_security"] and "tunnel" in stages
    # on web's hypervisor: in from the tunnel, then web's security groups (default group)
    assert stages[stages.index("tunnel_in"):] == [
        "tunnel_in", "l2_lookup", "sg_ingress", "sg_ingress_rules", "sg_ingress_deliver"]
    assert {s["hypervisor"] for s in tcp["steps"]} == {"hv1", "hv2"}
    classify = tcp["steps"][0]
    assert "port fw-eth1" in classify["reason"] and "network web-net" in classify["reason"]
    assert trace["summary"] == ["delivered to port web-eth0 on hv2"]


def test_web_cannot_reach_tenant_b_web_and_the_trace_says_where(seed):
    web = seed.port("tenant-a", "web", "web-net")
    other = seed.port("tenant-b", "web", "web-net")
    status, body = seed.trace("tenant-a", web, other["mac_address"])
    assert status == 200, body
    (verdict,) = body["trace"]["verdicts"]
    assert verdict["result"] == "dropped" and verdict["stage"] == "l2_lookup"
    assert f"no port with MAC {other['mac_address']} on network web-net" in verdict["reason"]
    # by address, the same CIDR: only tenant-a's own network answers ARP, and nobody holds it
    status, body = seed.trace("tenant-a", web, ip(other))
    (verdict,) = body["trace"]["verdicts"]
    assert verdict["stage"] == "arp_responder" and "nobody answers" in verdict["reason"]


def test_a_spoofed_source_is_dropped_at_port_security(seed):
    web = seed.port("tenant-a", "web", "web-net")
    fw = seed.port("tenant-a", "fw", "web-net")
    status, body = seed.trace("tenant-a", web, fw["mac_address"], src_ip="10.0.2.99")
    (verdict,) = body["trace"]["verdicts"]
    assert verdict["result"] == "dropped" and verdict["stage"] == "port_security"
    assert "port web-eth0 may send only from" in verdict["reason"] and \
        "10.0.2.99" in verdict["reason"] and ip(web) in verdict["reason"]
    status, body = seed.trace("tenant-a", web, fw["mac_address"], src_mac="fa:16:3e:00:00:99")
    assert body["trace"]["verdicts"][0]["stage"] == "port_security"
    # the same packet from its own address passes
    status, body = seed.trace("tenant-a", web, fw["mac_address"])
    assert [v["result"] for v in body["trace"]["verdicts"]] == ["delivered"]


def test_only_the_owner_traces_a_port(seed):
    web = seed.port("tenant-a", "web", "web-net")
    status, body = seed.trace("tenant-b", web, "10.0.2.10", api=seed.api["tenant-b"])
    assert status == 404, body
    status, body = seed.trace("tenant-a", web, "10.0.2.10", api=seed.admin)
    assert status == 200, body


@pytest.mark.parametrize("params, words", [
    ({"to": "nowhere"}, "IP or a MAC"),
    ({"to": "10.0.2.10", "protocol": "sctpx"}, "protocol"),
    ({"to": "10.0.2.10", "dport": "80"}, "dport needs"),
    ({"to": "10.0.2.10", "protocol": "tcp", "dport": "70000"}, "1-65535"),
    ({"to": "10.0.2.10", "src_ip": "10.0.2"}, "src_ip"),
    ({"to": "10.0.2.10", "colour": "red"}, "unknown parameter"),
])
def test_bad_queries_are_400(seed, params, words):
    web = seed.port("tenant-a", "web", "web-net")
    status, body = seed.api["tenant-a"].get("/v2.0/qnet/trace?" + urllib.parse.urlencode(
            {"port_id": web["id"], **params}))
    assert status == 400 and words in body["NeutronError"]["message"], body


def test_the_cli_prints_steps_reasons_and_the_verdict(seed, capsys):
    from argparse import Namespace

    from qnetclient.cli import print_trace
    web = seed.port("tenant-a", "web", "web-net")
    fw = seed.port("tenant-a", "fw", "web-net")
    status, body = seed.trace("tenant-a", fw, ip(web), protocol="udp", dport=53)
    print_trace(body["trace"], Namespace(format=None))
    out = capsys.readouterr().out
    assert f"ARP answer: {web['mac_address']}" in out
    assert "why: the way to port web-eth0" in out and "udp_dst=53" in out
    assert out.rstrip().endswith("verdict: delivered to port web-eth0 on hv2")


def test_a_routed_packet_is_traced_through_the_router_to_the_other_network():
    """Across subnets the VM asks for its gateway by ARP; the router's flows (a family the
    tracer has no code for) get their reasons from their keys."""
    cloud = FakeCloud.on_core(hypervisors=2)
    api = Client(build_app(cloud.plugin.core, auth="noauth")).as_project("t")
    router = api.post("/v2.0/routers", {"router": {"name": "r1"}})[1]["router"]
    ports = {}
    for i in (1, 2):
        net = api.post("/v2.0/networks", {"network": {"name": f"n{i}"}})[1]["network"]
        sub = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                                    "cidr": f"10.0.{i}.0/24"}})[1]["subnet"]
        assert api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                       {"subnet_id": sub["id"]})[0] == 200
        ports[i] = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "name": f"p{i}",
                                                     "port_security_enabled": False,
                                                     "attachment": f"v{i}"}})[1]["port"]
        cloud.plug(f"hv{i}", f"t{i}", f"v{i}", "t")
    cloud.settle()
    query = urllib.parse.urlencode({"port_id": ports[1]["id"], "to": ip(ports[2]),
                                    "protocol": "tcp", "dport": 80})
    status, body = api.get(f"/v2.0/qnet/trace?{query}")
    assert status == 200, body
    trace = body["trace"]
    arp, tcp = trace["phases"]
    assert "arp_tpa=10.0.1.1" in arp["packet"]             # the gateway, not the target
    steps = {s["stage"]: s["reason"] for s in tcp["steps"]}
    assert steps["router_in"] == "the routing of router r1"
    assert trace["summary"] == ["delivered to port p2 on hv2"]
    # the router has no route to a network it is not on
    status, body = api.get("/v2.0/qnet/trace?" + urllib.parse.urlencode(
        {"port_id": ports[1]["id"], "to": "10.0.9.9"}))
    (verdict,) = body["trace"]["verdicts"]
    assert verdict["result"] == "controller" and verdict["stage"] == "ip_routing"
    assert verdict["reason"].startswith("the router has no route to 10.0.9.9")


def test_the_trace_names_the_security_group_rule_that_admits_or_none_that_does(seed):
    api = seed.api["tenant-b"]
    fw, web = seed.port("tenant-b", "fw", "web-net"), seed.port("tenant-b", "web", "web-net")
    # the default group (in from its members) admits fw, and the trace says which rule
    status, body = seed.trace("tenant-b", fw, ip(web), protocol="tcp", dport=81)
    assert status == 200, body
    (step,) = [s for s in body["trace"]["phases"][-1]["steps"]
               if s["stage"] == "sg_ingress_rules"]
    default = api.get("/v2.0/security-groups?name=default")[1]["security_groups"][0]
    [member_rule] = [r for r in default["security_group_rules"] if r["direction"] == "ingress"
                     and r["ethertype"] == "IPv4"]
    assert f"rule {member_rule['id']} (ingress IPv4 any protocol from members of " \
           f"security_group default) of security_group default" in step["reason"], step
    # web in a group that admits TCP 80 only: 80 named, 81 refused with the group named
    status, body = api.post("/v2.0/security-groups", {"security_group": {"name": "web-only"}})
    group = body["security_group"]
    status, body = api.post("/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 80, "port_range_max": 80,
        "remote_ip_prefix": "0.0.0.0/0"}})
    assert status == 201, body
    rule = body["security_group_rule"]
    status, body = api.put(f"/v2.0/ports/{web['id']}",
                           {"port": {"security_groups": [group["id"]]}})
    assert status == 200, body
    seed.cloud.settle()
    try:
        status, body = seed.trace("tenant-b", fw, ip(web), protocol="tcp", dport=80)
        assert [v["result"] for v in body["trace"]["verdicts"]] == ["delivered"], body
        (step,) = [s for s in body["trace"]["phases"][-1]["steps"]
                   if s["stage"] == "sg_ingress_rules"]
        assert f"rule {rule['id']} (ingress IPv4 tcp ports 80-80 from 0.0.0.0/0) of " \
               f"security_group web-only" in step["reason"], step
        status, body = seed.trace("tenant-b", fw, ip(web), protocol="tcp", dport=81)
        (verdict,) = body["trace"]["verdicts"]
        assert verdict["result"] == "dropped" and verdict["stage"] == "sg_ingress_rules"
        assert verdict["reason"] == \
            "no rule of the groups of port web-eth0 (security_group web-only) lets it in"
    finally:
        api.put(f"/v2.0/ports/{web['id']}", {"port": {"security_groups": [default["id"]]}})
        seed.cloud.settle()
