"""Three ``qnet serve`` on one PostgreSQL program three namespaced hypervisors whose bridges and
ovsdb-servers connect to all three (docs/cluster.md). One lab for the whole module:

* a port created through a standby is programmed by the master (the first ping crosses the
  tunnel) with no restart;
* ``kill -9`` of the master while VMs on two hypervisors ping each other every 20 ms: no ping
  is lost, a port created through a survivor right after the kill is reachable (the time is
  printed), and the killed instance, restarted, rejoins as a standby and changes no flow;
* the master paused (SIGSTOP): a standby takes over, the switches make the paused one a slave,
  and once resumed it changes no flow.
"""
import json
import os
import re
import signal
import time

import pytest

from qnetclient import Client
from simulations.lab import seed
from simulations.lab.nodes import wait_for
from simulations.serve import QnetServer
from tests.integration.test_cluster import master_of, status
from tests.integration.test_postgresql import _reset, pg_url  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="!!! LAB TESTS SKIPPED: not root (namespaces, OVS daemons) !!!")

NET = "cluster-net"
PING_INTERVAL = 0.02


@pytest.fixture(scope="module")
def cluster_lab(pg_url, tmp_path_factory):  # noqa: F811 - pytest fixture by name
    from simulations.lab.topo import start_lab
    _reset(pg_url)
    tmp = tmp_path_factory.mktemp("cluster-lab")
    servers = [QnetServer(tmp, plugin="openflow", db_url=pg_url, log_level="INFO",
                          log_name=f"serve-{name}.log", ofp_unix=False)   # relay_target
               for name in "abc"]
    try:
        servers[0].start()                        # a is master: it was first
        wait_for(lambda: master_of(servers)[0] is servers[0], timeout=20, what="a master")
        for srv in servers[1:]:
            srv.start()
        with start_lab(hypervisors=3, subnets=2) as lab:
            lab.connect(*servers)
            api = Client(servers[1].url, project="tenant")    # everything through b
            seed.create_networks(api, {NET: "10.0.7.0/24"})
            vms = [boot(lab, api, f"vm{i + 1}", hv) for i, hv in enumerate(lab.hypervisors[:2])]
            # the first packets over two hypervisors that never exchanged one are lost while
            # each one's Open vSwitch resolves its underlay next hop (README): both ways once,
            # so that the pings the tests count meet resolved tunnels
            for src, dst in (vms, vms[::-1]):
                reachable_within(src, dst.nics[0].ip, timeout=10)
            yield lab, servers, vms
    finally:
        for srv in servers:
            srv.stop()


def boot(lab, api, name, hypervisor):
    ports = seed.create_ports(api, name, [NET])
    server = seed.start_vm(lab, "tenant", name, ports, hypervisor, name)
    seed.wait_active(api, server)
    seed.dhcp(server)
    assert server.nics[0].ip == ports[0][1]["fixed_ips"][0]["ip_address"]
    return server


def flows(lab):
    """Every switch's flows without counters: what a controller wrote."""
    return {hv.name: sorted(re.sub(r" (duration|n_packets|n_bytes|idle_age|hard_age)=[^ ,]+,?",
                                   "", line)
                            for line in hv.ofctl("dump-flows", "br-int").splitlines()[1:])
            for hv in lab.hypervisors}


def roles(hv):
    """{controller target: role} as the switch sees its connections."""
    out = json.loads(hv.vsctl("--format=json", "--columns=target,role", "list", "Controller"))
    return {target: role if isinstance(role, str) else None for target, role in out["data"]}


def relay_target(hv, srv):
    """The Controller target of ``hv`` that leads to ``srv`` (through its socat relay)."""
    for relay in [hv.relay, *hv.more_relays]:
        if relay.args[-1] == f"TCP:127.0.0.1:{srv.ofp_port}":
            return "unix:" + relay.args[1].split(":", 1)[1].split(",")[0]
    raise AssertionError(f"{hv.name} has no relay to {srv.url}")


def start_pinging(src, dst_ip, seconds):
    return src.vm.popen(["ping", "-i", str(PING_INTERVAL), "-W", "1", "-c",
                         str(int(seconds / PING_INTERVAL)), dst_ip])


def ping_result(proc):
    out, _ = proc.communicate(timeout=60)
    out = out.decode() if isinstance(out, bytes) else out
    sent, got = re.search(r"(\d+) packets transmitted, (\d+) received", out).groups()
    return int(sent), int(got)


def reachable_within(src, dst_ip, timeout):
    """Seconds until ``src`` gets an answer from ``dst_ip`` (one ping each 50 ms)."""
    start = time.monotonic()
    wait_for(lambda: " 0% packet loss" in src.vm.cmd(f"ping -c 1 -W 0.2 {dst_ip}"),
             timeout=timeout, interval=0.05, what=f"{dst_ip} reachable")
    return time.monotonic() - start


def test_a_port_created_through_a_standby_is_programmed_by_the_master(cluster_lab):
    lab, servers, (vm1, vm2) = cluster_lab
    assert master_of(servers)[0] is servers[0]       # the ports were made through b
    out = vm1.vm.cmd(f"ping -c 1 -W 2 {vm2.nics[0].ip}")
    assert " 0% packet loss" in out, out             # it crosses the tunnel
    for hv in lab.hypervisors:
        try:
            wait_for(lambda: roles(hv)[relay_target(hv, servers[0])] == "master", timeout=15,
                     what=f"{hv.name}: a is master")
        except Exception:
            raise AssertionError(str(roles(hv)) + hv.vsctl("list", "Controller"))


def test_kill_9_of_the_master_loses_no_ping(cluster_lab):
    lab, servers, (vm1, vm2) = cluster_lab
    master, generation = master_of(servers)
    pinging = start_pinging(vm1, vm2.nics[0].ip, seconds=8)
    time.sleep(1.0)
    master.proc.send_signal(signal.SIGKILL)          # our own child, by its pid
    master.proc.wait()
    killed = time.monotonic()
    survivor = next(s for s in servers if s is not master)
    api = Client(survivor.url, project="tenant")
    vm3 = boot(lab, api, "vm3", lab.hypervisors[2])  # a new port through a survivor
    reachable_within(vm1, vm3.nics[0].ip, timeout=30)
    reach = time.monotonic() - killed
    print(f"\nnew port through a survivor reachable {reach:.2f} s after kill -9 of the master")
    sent, got = ping_result(pinging)
    assert sent == got, f"{sent - got} of {sent} pings lost"
    new, new_generation = master_of(servers)
    assert new is not master and new_generation == generation + 1
    assert " 0% packet loss" in vm1.vm.cmd(f"ping -c 1 -W 2 {vm3.nics[0].ip}")

    before = flows(lab)
    master.start()                                   # rejoins as a standby
    wait_for(lambda: sum(i["alive"] for i in status(master)["instances"]) >= 3, timeout=20,
             what="the restarted instance alive")
    wait_for(lambda: all(roles(hv).get(relay_target(hv, master)) == "slave"
                         for hv in lab.hypervisors), timeout=20,
             what="the restarted instance connected as a slave")
    time.sleep(2.0)
    assert master_of(servers) == (new, new_generation)
    assert flows(lab) == before


def test_a_paused_master_is_replaced_and_made_a_slave_by_the_switches(cluster_lab):
    lab, servers, (vm1, vm2) = cluster_lab
    master, generation = master_of(servers)
    before = flows(lab)
    pinging = start_pinging(vm1, vm2.nics[0].ip, seconds=8)
    master.proc.send_signal(signal.SIGSTOP)
    try:
        new = wait_for(lambda: master_of(servers)[0] not in (None, master) and
                       master_of(servers)[0], timeout=20, what="a standby taking over")
        assert master_of(servers)[1] == generation + 1
        for hv in lab.hypervisors:
            wait_for(lambda: roles(hv)[relay_target(hv, new)] == "master", timeout=10,
                     what=f"{hv.name}: the new master announced")
            # a slave now, or no connection at all when the paused one stayed silent past
            # the switch's inactivity probe (5 s; a loaded machine takes that long to fail
            # over): either way the switch takes no write from it
            assert roles(hv)[relay_target(hv, master)] in ("slave", None)
    finally:
        master.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: "is not master any more" in master.read_log(), timeout=20,
             what="the resumed master to stand by")
    sent, got = ping_result(pinging)
    assert sent == got, f"{sent - got} of {sent} pings lost"
    wait_for(lambda: all(roles(hv).get(relay_target(hv, master)) == "slave"
                         for hv in lab.hypervisors), timeout=20, what="the resumed one a slave")
    time.sleep(1.0)
    assert flows(lab) == before
