"""Bandwidth limits end to end: a real ``qnet serve`` (openflow plug-in) meters a VM's port on a
namespaced userspace OVS, and iperf3 TCP measures the limit, its change without re-plugging,
the ingress direction and its change, a neighbour on the same switch that stays unlimited, and
a controller restart that leaves the meters alone."""
import os
import re
import time

import pytest

from apps import meters
from qnetclient import Client
from simulations.lab import check, seed
from simulations.lab.nodes import wait_for
from simulations.serve import QnetServer

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="!!! LAB TESTS SKIPPED: not root (namespaces, OVS daemons) !!!")

TOLERANCE = 0.15
SECONDS, OMIT = 3, 1   # steady rate: the first second (slow start, full bucket) left out


def mbits(client, server):
    return check.iperf3(client.vm, server.vm, server.nics[0].ip, seconds=SECONDS,
                        omit=OMIT) / 1e6


def wait_meter_rate(hv, kbps):
    """Until the switch's meter config carries ``kbps`` (the API does not wait for switches)."""
    wait_for(lambda: re.search(rf"\brate={kbps}\b", hv.ofctl("dump-meters", "br-int")), timeout=10,
             what=f"a meter at {kbps} kbit/s")


def meter_packets(hv):
    """{meter id: packets counted} of the bandwidth meters (not the packet-in meters): OVS's
    userspace meters start counting from 0 whenever a meter is added or modified, so counts
    that only grow prove nobody rewrote the meter."""
    out = hv.ofctl("meter-stats", "br-int")
    return {int(m): int(n) for m, n in re.findall(r"meter:(\d+) .*?packet_in_count:(\d+)", out)
            if int(m) < meters.PACKET_IN_METERS}


@pytest.fixture(scope="module")
def qos_lab(tmp_path_factory):
    from simulations.lab.topo import start_lab
    ctl = QnetServer(tmp_path_factory.mktemp("qos"), plugin="openflow", log_level="INFO").start()
    try:
        with start_lab(hypervisors=1, subnets=1) as lab:
            lab.connect(ctl)
            hv = lab.hypervisors[0]
            api = Client(ctl.url, project="qos")
            seed.create_networks(api, {"web-net": seed.NETWORKS["web-net"]})
            servers = {name: seed.add_server(lab, api, "qos", name, ("web-net",), hv,
                                             host_number=10 + i)
                       for i, name in enumerate(("limited", "sink", "neighbour"))}
            for server in servers.values():
                seed.wait_active(api, server)
                seed.dhcp(server)
            yield hv, api, servers, ctl
    finally:
        ctl.stop()


def test_bandwidth_limits_follow_the_policy(qos_lab):
    hv, api, servers, ctl = qos_lab
    limited, sink, neighbour = (servers[n] for n in ("limited", "sink", "neighbour"))
    port_id = limited.nics[0].port["id"]
    ofport = hv.ofport(limited.nics[0].hv_intf)

    unlimited = mbits(limited, sink)
    policy = api.qos_policies.create(name="ten")
    rules = api.qos_rules(policy["id"])
    egress = rules.create(max_kbps=10000)
    api.ports.update(port_id, qos_policy_id=policy["id"])
    wait_meter_rate(hv, 10000)
    at_10 = mbits(limited, sink)
    beside_10 = mbits(neighbour, sink)

    rules.update(egress["id"], max_kbps=50000)
    wait_meter_rate(hv, 50000)
    at_50 = mbits(limited, sink)

    ingress = rules.create(max_kbps=10000, direction="ingress")
    wait_meter_rate(hv, 10000)
    into_10 = mbits(sink, limited)
    from_neighbour = mbits(neighbour, sink)
    rules.update(ingress["id"], max_kbps=20000)
    wait_meter_rate(hv, 20000)
    into_20 = mbits(sink, limited)
    stats = api.ports.stats(port_id)

    # a restarted controller reads the meters back and rewrites none
    counted = meter_packets(hv)
    ctl.stop()
    ctl.start()
    wait_for(lambda: api.ports.stats(port_id)["bound"],
             timeout=20, what="the restarted controller to bind the port")
    time.sleep(1)
    recounted = meter_packets(hv)

    api.ports.update(port_id, qos_policy_id=None)
    wait_for(lambda: not meter_packets(hv), timeout=10, what="meters removed")
    after = mbits(limited, sink)

    print(f"\nTCP Mbit/s: no policy {unlimited:.1f}; egress 10 Mbit/s: {at_10:.2f} "
          f"(neighbour {beside_10:.1f}); raised to 50: {at_50:.2f}; ingress 10: {into_10:.2f} "
          f"(neighbour {from_neighbour:.1f}), raised to 20: {into_20:.2f}; policy removed: "
          f"{after:.1f}")
    print("qnet-stats:", stats)
    assert unlimited > 100
    assert abs(at_10 - 10) <= 10 * TOLERANCE
    assert beside_10 > 100
    assert abs(at_50 - 50) <= 50 * TOLERANCE
    assert abs(into_10 - 10) <= 10 * TOLERANCE
    assert abs(into_20 - 20) <= 20 * TOLERANCE
    assert from_neighbour > 100
    assert after > 100
    # the port was never re-plugged: same OpenFlow port, the meter modified in place
    assert hv.ofport(limited.nics[0].hv_intf) == ofport
    by_direction = {m["direction"]: m for m in stats["meters"]}
    assert stats["bound"] and stats["ofport"] == ofport
    assert by_direction["egress"]["rate_kbps"] == 50000
    assert by_direction["egress"]["dropped_packets"] > 0
    assert by_direction["ingress"]["rate_kbps"] == 20000
    assert by_direction["ingress"]["dropped_packets"] > 0
    assert by_direction["egress"]["packets"] > by_direction["egress"]["dropped_packets"]
    assert sorted(counted) == sorted(recounted) == sorted(m["meter_id"] for m in stats["meters"])
    assert all(recounted[m] >= counted[m] > 0 for m in counted), (counted, recounted)
