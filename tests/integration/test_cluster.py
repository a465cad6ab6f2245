"""Three ``qnet serve`` on one PostgreSQL (started by the tests, tests/integration/
test_postgresql.py): any instance serves reads and writes, IPAM holds across them, every
instance sees every write, and exactly one holds the switches' lease, which a standby takes
when the master dies or is paused (docs/cluster.md)."""
import concurrent.futures
import json
import signal
import time

import pytest
import requests

from simulations.serve import QnetServer
from tests.integration.test_postgresql import _reset, pg_url  # noqa: F401 - the fixture

H = {"X-Project-Id": "alice"}


@pytest.fixture(scope="module")
def cluster(pg_url, tmp_path_factory):  # noqa: F811 - pytest fixture by name
    _reset(pg_url)
    work = tmp_path_factory.mktemp("cluster")
    servers = [QnetServer(work, db_url=pg_url, log_name=f"serve{i}.log", log_level="INFO")
               for i in range(3)]
    try:
        for srv in servers:
            srv.start()
        try:
            wait_for(lambda: len(alive(servers[0])) == 3, "three instances alive")
        except AssertionError:
            raise AssertionError(servers[0].read_log()[-3000:]) from None
        yield servers
    finally:
        for srv in servers:
            srv.stop()


def wait_for(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def status(srv):
    return json.loads(srv.manage("cluster", "status", "--json"))


def alive(srv):
    return [i for i in status(srv)["instances"] if i["alive"]]


def master_of(servers):
    """(the server holding the lease, its generation), read from the database."""
    found = status(servers[0])
    lease = found["lease"]
    holder = next((i for i in found["instances"] if i["id"] == lease["holder"]), None)
    by_url = {srv.url: srv for srv in servers}
    return (by_url.get(holder["api_url"]) if holder else None), lease["generation"]


def create_port(url, net):
    r = requests.post(url + "/v2.0/ports", json={"port": {"network_id": net}}, headers=H)
    return r


def test_eight_clients_over_three_instances_fill_a_slash_24(cluster):
    urls = [srv.url for srv in cluster]
    net = requests.post(urls[0] + "/v2.0/networks", json={"network": {"name": "fill"}},
                        headers=H).json()["network"]["id"]
    requests.post(urls[1] + "/v2.0/subnets", json={"subnet": {
        "network_id": net, "cidr": "10.50.0.0/24", "ip_version": 4}}, headers=H).raise_for_status()

    def client(n):
        made, refused = [], []
        while True:
            r = create_port(urls[n % 3], net)
            if r.status_code == 201:
                made.append(r.json()["port"])
            else:
                refused.append((r.status_code, r.json()))
                if len(refused) >= 3:
                    return made, refused

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    ports = [p for made, _ in results for p in made]
    refusals = [r for _, refused in results for r in refused]
    assert len(ports) == 253                        # .1 is the gateway, .0 and .255 are not
    assert len({p["fixed_ips"][0]["ip_address"] for p in ports}) == 253
    assert len({p["mac_address"] for p in ports}) == 253
    assert {code for code, _ in refusals} == {409}
    assert all(body["NeutronError"]["type"] == "IpAddressGenerationFailure"
               for _, body in refusals)
    for url in urls:                                # every instance reads the same ports
        listed = requests.get(url + f"/v2.0/ports?network_id={net}", headers=H).json()["ports"]
        assert {p["id"] for p in listed} == {p["id"] for p in ports}


def test_every_instance_is_ready_and_one_is_master(cluster):
    for srv in cluster:
        assert requests.get(srv.url + "/healthz").status_code == 200
        ready = requests.get(srv.url + "/readyz")
        assert ready.status_code == 200, ready.text
    found = wait_for(lambda: (lambda f: f if all(i["behind"] == 0 for i in f["instances"]
                                                if i["alive"]) else None)(status(cluster[0])),
                     "every instance to report it applied the whole log (heartbeat: 1 s)")
    assert sorted(i["role"] for i in found["instances"] if i["alive"]) == \
        ["master", "standby", "standby"]
    lines = cluster[0].manage("cluster", "status").splitlines()   # as an operator reads it
    assert f"switches mastered by {found['lease']['holder']}" in lines[0]
    assert sum("\tmaster\talive\t" in line for line in lines[1:]) == 1


def test_a_standby_takes_over_from_a_killed_master_and_the_killed_one_rejoins(cluster):
    master, generation = master_of(cluster)
    master.proc.send_signal(signal.SIGKILL)      # our own child, by its pid
    master.proc.wait()
    new, new_generation = wait_for(
        lambda: (lambda m: m if m[0] not in (None, master) else None)(master_of(cluster)),
        "a new master")
    assert new_generation == generation + 1
    master.start()                                # same ports, same database: rejoins ...
    wait_for(lambda: len(alive(cluster[0])) == 3, "the restarted instance alive")
    time.sleep(1.0)
    assert master_of(cluster) == (new, new_generation)   # ... as a standby


def test_a_paused_master_loses_the_lease_and_stands_by_when_resumed(cluster):
    master, generation = master_of(cluster)
    master.proc.send_signal(signal.SIGSTOP)
    try:
        new, new_generation = wait_for(
            lambda: (lambda m: m if m[0] not in (None, master) else None)(master_of(cluster)),
            "a standby taking the expired lease")
    finally:
        master.proc.send_signal(signal.SIGCONT)
    assert new_generation == generation + 1
    wait_for(lambda: "is not master any more" in master.read_log(),
             "the resumed master to stand by")
    time.sleep(1.0)
    assert master_of(cluster) == (new, new_generation)
