"""IPAM under concurrency: many creates racing for a small subnet never share an address, and
exactly the surplus gets 409 -- with threads, with separate processes (the database's unique
constraints and write locking are what hold then), and over HTTP against ``qnet serve``."""
import collections
import concurrent.futures
import json
import os
import subprocess
import sys
import textwrap

import requests

from controller import errors
from controller.context import Context
from controller.core import Core

SLASH_28_USABLE = 13  # 16 addresses - network - broadcast - gateway


def small_subnet(core, ctx):
    n = core.networks.create(ctx, {"name": "tiny"})
    core.subnets.create(ctx, {"network_id": n["id"], "cidr": "10.20.0.0/28"})
    return n["id"]


def test_threads_race_for_a_small_subnet(core):
    ctx = Context("alice")
    net = small_subnet(core, ctx)

    def create(_):
        try:
            return core.ports.create(ctx, {"network_id": net})["fixed_ips"][0]["ip_address"]
        except errors.IpAddressGenerationFailure:
            return 409

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(create, range(40)))
    ips = [r for r in results if r != 409]
    assert len(ips) == SLASH_28_USABLE and len(set(ips)) == SLASH_28_USABLE
    assert results.count(409) == 40 - SLASH_28_USABLE


WORKER = textwrap.dedent("""
    import json, sys
    from controller import errors
    from controller.context import Context
    from controller.core import Core
    core = Core.from_url(sys.argv[1], "noop")
    out = []
    for _ in range(int(sys.argv[3])):
        try:
            port = core.ports.create(Context("alice"), {"network_id": sys.argv[2]})
            out.append(port["fixed_ips"][0]["ip_address"])
        except errors.IpAddressGenerationFailure:
            out.append(409)
    print(json.dumps(out))
""")


def race_in_processes(url, processes=4, creates=8):
    """``processes`` processes, each with its own core on ``url``, create ``creates`` ports
    each on one /28: exactly 13 get an address, all different; the rest get 409."""
    core = Core.from_url(url, "noop")
    net = small_subnet(core, Context("alice"))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, net, str(creates)], cwd=root,
                              stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        results += json.loads(out)
    ips = [r for r in results if r != 409]
    assert len(ips) == SLASH_28_USABLE and len(set(ips)) == SLASH_28_USABLE
    assert results.count(409) == processes * creates - SLASH_28_USABLE
    return core


def test_processes_race_for_a_small_subnet(tmp_path):
    """Four processes on one SQLite file: no lock in memory is shared between them."""
    core = race_in_processes(f"sqlite:///{tmp_path}/shared.sqlite")
    with core.db.read() as session:
        from controller.models import IPAllocation
        from sqlalchemy import func, select
        assert session.scalar(select(func.count()).select_from(IPAllocation)) == SLASH_28_USABLE


def test_http_clients_race_for_a_small_subnet(server):
    h = {"X-Project-Id": "alice"}
    net = requests.post(server.url + "/v2.0/networks", json={"network": {"name": "t"}},
                        headers=h).json()["network"]["id"]
    r = requests.post(server.url + "/v2.0/subnets", headers=h, json={
        "subnet": {"network_id": net, "cidr": "10.30.0.0/28", "ip_version": 4}})
    assert r.status_code == 201

    def create(_):
        with requests.Session() as s:
            resp = s.post(server.url + "/v2.0/ports", json={"port": {"network_id": net}},
                          headers=h)
            return resp.status_code, resp.json()

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(create, range(30)))
    codes = collections.Counter(code for code, _ in results)
    assert codes == {201: SLASH_28_USABLE, 409: 30 - SLASH_28_USABLE}
    ips = [body["port"]["fixed_ips"][0]["ip_address"] for code, body in results if code == 201]
    assert len(set(ips)) == SLASH_28_USABLE
    assert {body["NeutronError"]["type"] for code, body in results if code == 409} == \
        {"IpAddressGenerationFailure"}
