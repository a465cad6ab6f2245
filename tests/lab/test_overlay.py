"""The overlay data plane end to end: a real ``qnet serve`` (openflow plug-in) programs three
namespaced hypervisors over a routed underlay. The seed's demo is typed as the seed's commands
(``qnet network create ...``, ``qnet-lab server create ...``) for two tenants with the same
CIDRs; the servers get their addresses by DHCP, and only servers that share a network can talk."""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from qnetclient import Client
from simulations.lab import check
from simulations.lab.control import LabControl
from simulations.lab.nodes import wait_for
from simulations.lab import seed
from simulations.serve import QnetServer

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="!!! LAB TESTS SKIPPED: not root (namespaces, OVS daemons) !!!")

TENANTS = ("tenant-a", "tenant-b")
BIN = os.path.dirname(sys.executable)
# Same CIDRs for both tenants, disjoint pools: a reply from the wrong tenant can never be
# mistaken for the right one.
POOLS = {"tenant-a": (10, 99), "tenant-b": (100, 199)}


class Shell:
    """Types commands as a tenant would: ``qnet ...`` and ``qnet-lab ...`` with QNET_* env."""

    def __init__(self, url, control):
        self.env = {**os.environ, "QNET_URL": url, "QNET_LAB_CONTROL": control,
                    "QNET_CONFIG": os.devnull}

    def __call__(self, tenant, line, expect=0):
        program, *args = line.split()
        out = subprocess.run([os.path.join(BIN, program), *args], capture_output=True,
                             text=True, timeout=120, env={**self.env, "QNET_PROJECT": tenant})
        assert out.returncode == expect, f"{line}: {out.stderr}"
        return out.stdout


def type_seed_demo(sh, tenant):
    """The seed's workflow, command by command (the second tenant uses the seed's spelling)."""
    low, high = POOLS[tenant]
    sh(tenant, "qnet network create dmz-net web-net db-net")
    for net, cidr in seed.NETWORKS.items():
        prefix = cidr.rsplit(".", 1)[0]
        sh(tenant, f"qnet subnet create --network {net} {cidr} --pool {prefix}.{low}-{prefix}.{high}")
    printed = []
    for i, (name, nics) in enumerate(seed.SERVERS.items()):
        if tenant == "tenant-a":       # placed on the least loaded hypervisor: hv1, hv2, hv3
            printed.append(sh(tenant, f"qnet-lab server create {name} --nics {','.join(nics)}"))
        else:                          # placed by hand, shifted by one: hv2, hv3, hv1
            hv = f"hv{(i + 1) % 3 + 1}"
            printed.append(sh(tenant, f"qnet-lab create-server {name} image={name}-img "
                                      f"nics={','.join(nics)} hypervisor={hv}"))
    return printed


@pytest.fixture(scope="module")
def overlay(tmp_path_factory):
    from simulations.lab.topo import start_lab
    tmp = tmp_path_factory.mktemp("overlay")
    ctl = QnetServer(tmp, plugin="openflow", log_level="INFO").start()
    try:
        with start_lab(hypervisors=3, subnets=2) as lab, \
                LabControl(lab, str(tmp / "control.sock")) as control:
            lab.connect(ctl)
            sh = Shell(ctl.url, control.path)
            printed = {t: type_seed_demo(sh, t) for t in TENANTS}
            clients = {t: Client(ctl.url, project=t) for t in TENANTS}
            yield lab, ctl, clients, dict(control.servers), sh, printed
    finally:
        ctl.stop()


def test_server_create_prints_the_addresses_dhcp_gave(overlay):
    _, _, _, servers, _, printed = overlay
    for tenant in TENANTS:
        for name, line in zip(seed.SERVERS, printed[tenant]):
            server = servers[(tenant, name)]
            assert line.strip() == f"{tenant}/{name} on {server.hypervisor.name}: " + ", ".join(
                f"{n.network}={n.ip}" for n in server.nics)
            low, high = POOLS[tenant]
            assert all(low <= int(n.ip.rsplit(".", 1)[1]) <= high for n in server.nics)
    # each tenant's servers were spread over the hypervisors
    assert len({servers[("tenant-a", n)].hypervisor.name for n in seed.SERVERS}) == 3


def test_dhcp_gives_every_nic_its_port_address(overlay):
    servers = overlay[3]
    for server in servers.values():
        for nic in server.nics:
            assert nic.ip == nic.fixed_ip, (server.name, nic.intf)
            mtu = server.vm.cmd(f"cat /sys/class/net/{nic.intf}/mtu").strip()
            assert mtu == "1450"


def test_seed_reachability_matrix(overlay):
    servers = overlay[3]
    ordered = list(servers.values())
    matrix = seed.reachability(ordered)
    print("\n" + seed.format_matrix(matrix, ordered))
    assert matrix == seed.expected(ordered)


def test_tcp_passes_only_between_servers_that_share_a_network(overlay):
    servers = overlay[3]
    fw, web, db = (servers[("tenant-a", n)] for n in ("fw", "web", "db"))
    assert check.tcp_transfer(fw.vm, web.vm, web.nic("web-net").ip, nbytes=1 << 20)
    assert check.tcp_transfer(web.vm, db.vm, db.nic("db-net").ip, nbytes=1 << 20)
    other_db = servers[("tenant-b", "db")]
    with pytest.raises(Exception):
        check.tcp_transfer(web.vm, other_db.vm, other_db.nic("db-net").ip, nbytes=1 << 16,
                           timeout=4)


def test_spoofed_source_ip_and_mac_are_dropped(overlay):
    _, _, clients, servers, _, _ = overlay
    fw, web = servers[("tenant-a", "fw")], servers[("tenant-a", "web")]
    nic, peer = fw.nic("web-net"), web.nic("web-net")
    # outside both tenants' pools: a port's own (random) address can never be the "spoof"
    spoof_ip = "10.0.2.250"
    assert spoof_ip not in {n.ip for s in servers.values() for n in s.nics}
    fw.vm.cmd(f"ip addr add {spoof_ip}/32 dev {nic.intf}")
    # the peer would answer a spoofed request: it knows where the spoofed address lives
    web.vm.cmd(f"ip neigh replace {spoof_ip} lladdr {nic.port['mac_address']} dev {peer.intf} "
               "nud permanent")
    ports = clients["tenant-a"].ports
    groups = {p["id"]: ports.get(p["id"])["security_groups"] for p in (nic.port, peer.port)}
    try:
        out = fw.vm.cmd(f"ping -c 3 -i 0.2 -W 1 -I {spoof_ip} {peer.ip}")
        assert " 0 received" in out
        # control: the same packets pass once port security is off on both ports (off on
        # fw's alone, web's security groups would still refuse a source that is no member)
        for port_id in groups:
            ports.update(port_id, security_groups=[], port_security_enabled=False)
        wait_for(lambda: " 0% packet loss" in fw.vm.cmd(
            f"ping -c 1 -W 1 -I {spoof_ip} {peer.ip}"), timeout=10, what="unprotected ping")
    finally:
        for port_id, names in groups.items():
            ports.update(port_id, port_security_enabled=True, security_groups=names)
        fw.vm.cmd(f"ip addr del {spoof_ip}/32 dev {nic.intf}")
    # a forged source MAC is dropped too
    real = nic.port["mac_address"]
    fw.vm.cmd(f"ip link set dev {nic.intf} address fa:16:3e:ee:ee:ee")
    try:
        assert " 0 received" in fw.vm.cmd(f"ping -c 3 -i 0.2 -W 1 {peer.ip}")
    finally:
        fw.vm.cmd(f"ip link set dev {nic.intf} address {real}")
    wait_for(lambda: seed.ping(fw, peer.ip), timeout=10, what="ping after unspoofing")


def test_port_detach_stops_traffic_and_attach_resumes(overlay):
    _, _, clients, servers, sh, _ = overlay
    web, db = servers[("tenant-a", "web")], servers[("tenant-a", "db")]
    nic = db.nic("db-net")
    client = clients["tenant-a"]
    target = web.nic("db-net").ip
    assert seed.ping(db, target)
    sh("tenant-a", "qnet port detach db-eth0")
    wait_for(lambda: client.ports.get(nic.port["id"])["status"] == "DOWN", timeout=10,
             what="port DOWN after detach")
    # DOWN means the OpenFlow tables no longer carry the port; the userspace datapath's flow
    # cache is revalidated asynchronously, so under load a packet may still pass for a moment.
    wait_for(lambda: not seed.ping(db, target), timeout=5, what="traffic stops after detach")
    assert not seed.ping(db, target, count=3)
    sh("tenant-a", f"qnet port attach db-eth0 {nic.port['attachment']}")
    wait_for(lambda: client.ports.get(nic.port["id"])["status"] == "ACTIVE", timeout=10,
             what="port ACTIVE after re-attach")
    wait_for(lambda: seed.ping(db, target), timeout=10, what="ping after re-attach")


def test_server_list_exec_and_delete(overlay):
    lab, _, _, servers, sh, _ = overlay
    web = servers[("tenant-a", "web")]
    sh("tenant-a", "qnet-lab server create tmp --nics web-net --hypervisor hv3")
    listed = {(s["tenant"], s["name"]): s
              for s in json.loads(sh("tenant-a", "qnet-lab server list -f json"))}
    tmp = listed[("tenant-a", "tmp")]
    assert tmp["hypervisor"] == "hv3" and len(listed) == 7
    assert sh("tenant-a", f"qnet-lab exec tmp ping -c 1 -W 2 {web.nic('web-net').ip}")
    # the other tenant's web server holds an address tmp cannot reach
    other = servers[("tenant-b", "web")].nic("web-net").ip
    sh("tenant-a", f"qnet-lab exec tmp ping -c 1 -W 1 {other}", expect=1)
    err = subprocess.run([os.path.join(BIN, "qnet-lab"), "exec", "fw", "true"], env={
        **sh.env, "QNET_PROJECT": "tenant-a"}, capture_output=True, text=True).stderr
    assert "several servers are named fw" in err and "tenant-a/fw" in err

    assert sh("tenant-a", "qnet-lab server delete tmp").strip() == "deleted tenant-a/tmp"
    assert json.loads(sh("tenant-a", "qnet port list --device-id tmp -f json")) == []
    assert not [h.name for h in lab.net.hosts if h.name.startswith("tmp")]
    assert len(json.loads(sh("tenant-a", "qnet-lab server list -f json"))) == 6


def test_controller_restart_loses_no_packets(overlay):
    lab, ctl, clients, servers, _, _ = overlay
    fw, web = servers[("tenant-a", "fw")], servers[("tenant-a", "web")]
    assert fw.hypervisor is not web.hypervisor
    target = web.nic("web-net").ip
    client = clients["tenant-a"]
    ports = seed.create_ports(client, "late", ["web-net"])
    pinger = fw.vm.popen(["ping", "-D", "-O", "-i", "0.1", "-c", "80", target],
                         stdout=subprocess.PIPE, universal_newlines=True)
    events = []
    time.sleep(1)
    events.append(("stop", time.time()))
    ctl.stop()
    # While the controller is away, a server whose port exists is plugged in on a hypervisor:
    # the restarted controller must bind and program it without disturbing the others.
    events.append(("plug late", time.time()))
    late = seed.start_vm(lab, "tenant-a", "late", ports, lab.hypervisors[2], "late")
    time.sleep(1)
    events.append(("start", time.time()))
    ctl.start()
    events.append(("started", time.time()))
    out, _ = pinger.communicate(timeout=60)
    sent, got = map(int, re.search(r"(\d+) packets transmitted, (\d+) received", out).groups())
    print(f"\nping at 10/s across the controller restart: {sent} sent, {got} received")
    lost = [line for line in out.splitlines() if "no answer" in line]
    if got != sent:
        print("lost:", *lost, "events:", *(f"{t:.3f} {e}" for e, t in events),
              "controller log:", ctl.read_log()[-6000:], sep="\n")
    assert sent == 80 and got == 80
    seed.wait_active(client, late)
    seed.dhcp(late)
    wait_for(lambda: seed.ping(late, target), timeout=10, what="new server reaches web")


# -- observability (docs/observability.md): trace, --live, /metrics, the dashboard ------------
def trace(sh, line):
    out = sh("tenant-a", f"qnet trace {line}")
    print(f"\n$ qnet trace {line}\n{out}")
    return out


def test_trace_says_why_servers_can_or_cannot_talk(overlay):
    _, _, _, servers, sh, _ = overlay
    web = servers[("tenant-a", "web")]
    other = servers[("tenant-b", "web")]
    out = trace(sh, f"fw-eth1 --to {web.nic('web-net').ip} --proto tcp --dport 80")
    assert out.rstrip().endswith(f"verdict: delivered to port web-eth0 on {web.hypervisor.name}")
    assert "why: the way to port web-eth0" in out and "tunnel" in out
    out = trace(sh, f"web-eth0 --to {other.nic('web-net').port['mac_address']}")
    assert "verdict: dropped at l2_lookup" in out and \
        f"no port with MAC {other.nic('web-net').port['mac_address']} on network web-net" in out
    out = trace(sh, f"web-eth0 --to {servers[('tenant-a', 'fw')].nic('web-net').ip} "
                    "--src-ip 10.0.2.250")
    assert "verdict: dropped at port_security" in out and "10.0.2.250" in out


def test_trace_live_reports_a_flow_deleted_by_hand(overlay):
    lab, ctl, _, servers, sh, _ = overlay
    web = servers[("tenant-a", "web")]
    hv, mac = web.hypervisor, web.nic("web-net").port["mac_address"]
    line = f"fw-eth1 --to {web.nic('web-net').ip} --live"
    assert f"live: {hv.name}: in sync" in trace(sh, line)
    hv.ofctl("del-flows", "br-int", f"table=20,dl_dst={mac}")
    try:
        out = trace(sh, line)
        assert f"live: {hv.name}: 1 flow(s) missing, 0 extra" in out
        assert "[NOT ON THE SWITCH]" in out and f"eth_dst={mac}" in out
        assert f"but {hv.name} lacks the flow of l2_lookup" in out
    finally:
        hv.set_controller(f"127.0.0.1:{ctl.ofp_port}")     # a new session resyncs the switch
    wait_for(lambda: f"live: {hv.name}: in sync" in sh("tenant-a", f"qnet trace {line}"),
             timeout=20, what="the switch resynced")
    wait_for(lambda: seed.ping(servers[("tenant-a", "fw")], web.nic("web-net").ip),
             timeout=10, what="fw reaches web again")


def scrape(ctl):
    import requests
    from prometheus_client.parser import text_string_to_metric_families
    resp = requests.get(ctl.url + "/metrics", headers={"X-Project-Id": "ops",
                                                        "X-Roles": "admin"}, timeout=10)
    resp.raise_for_status()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def test_metrics_move_as_the_lab_runs(overlay):
    _, ctl, _, servers, sh, _ = overlay
    before = scrape(ctl)
    sh("tenant-a", "qnet-lab server create mtr --nics web-net --hypervisor hv1")
    try:
        after = scrape(ctl)
    finally:
        sh("tenant-a", "qnet-lab server delete mtr")

    def moved(name, labels=()):
        return after.get((name, labels), 0) - before.get((name, labels), 0)
    assert moved("qnet_openflow_messages_sent_total", (("type", "flow_mod"),)) > 0
    assert moved("qnet_packet_ins_total") >= 1 and moved("qnet_dhcp_replies_total") >= 1
    assert moved("qnet_api_requests_total", (("method", "POST"), ("route", "/v2.0/ports"),
                                             ("status", "201"))) == 1
    assert after[("qnet_switches_connected", ())] == 3
    assert after[("qnet_ports", (("status", "ACTIVE"),))] >= 10   # the seed's, both tenants


def test_the_dashboard_shows_a_port_turn_active_when_a_vm_plugs_in(overlay, browser):
    from tests.browser import Page
    lab, ctl, clients, _, _, _ = overlay
    client = clients["tenant-a"]
    ports = seed.create_ports(client, "pagevm", ["web-net"])
    port = ports[0][1]
    page = Page(browser, ctl.url)
    page.login(project="tenant-a")
    dot = f"circle.port-dot[data-port-id='{port['id']}']"
    try:
        page.wait(lambda: page.attribute(dot, "data-status") == "DOWN", "the new port, DOWN")
        seed.start_vm(lab, "tenant-a", "pagevm", ports, lab.hypervisors[1], "pagevm")
        page.wait(lambda: page.attribute(dot, "data-status") == "ACTIVE",
                  "the port ACTIVE once the VM plugged in", timeout=30)
        assert page.by("g.device[data-name='pagevm']")
        assert not page.by("g.network[data-name='dmz-net'] text.cidrs")[0].text == ""
    finally:
        client.ports.delete(port["id"])
