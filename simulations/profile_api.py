"""Profile the API write path in-process: cProfile of N port creates + updates.

First, unprofiled: CPU per attachment PUT (port-up's API call) and per one-port status
report (the write that follows port-up's flows). Same path as ``qnet serve`` minus HTTP (WSGI
app called through webob, noop plug-in, SQLite in WAL mode with synchronous=NORMAL), so the
figures are the CPU the API spends before the controller sees a change. Run:
``python -m simulations.profile_api``.
"""
import cProfile
import pstats
import tempfile
import time

import json

import webob

from controller.core import Core, CoreConfig
from controller.plugins.noop import NoopPlugin
from rest.app import build_app
d = tempfile.mkdtemp()
core = Core.from_url(f"sqlite:///{d}/q.sqlite", NoopPlugin(), CoreConfig())
app = build_app(core, auth="noauth")


class _Api:
    """Calls the WSGI app in-process as project 'alice'; returns (status, parsed body)."""

    @staticmethod
    def call(method, path, body):
        req = webob.Request.blank(path, method=method, headers={"X-Project-Id": "alice"})
        req.body = json.dumps(body).encode()
        req.content_type = "application/json"
        resp = req.get_response(app)
        return resp.status_int, json.loads(resp.body)

    def post(self, path, body):
        return self.call("POST", path, body)

    def put(self, path, body):
        return self.call("PUT", path, body)


api = _Api()
s, n = api.post("/v2.0/networks", {"network": {"name": "n"}})
nid = n["network"]["id"]
api.post("/v2.0/subnets", {"subnet": {"network_id": nid, "cidr": "10.0.0.0/16", "ip_version": 4}})
for i in range(20):
    api.post("/v2.0/ports", {"port": {"network_id": nid}})
N = 300


def cpu_ms(call):
    """CPU ms per ``call()``, unprofiled, the median of 5 batches of N (the machine is shared:
    the slowest batches are other work's)."""
    batches = []
    for _ in range(5):
        c = time.process_time()
        for _ in range(N):
            call()
        batches.append((time.process_time() - c) / N * 1e3)
    return sorted(batches)[2]


s, probe = api.post("/v2.0/ports", {"port": {"network_id": nid}})
probe = probe["port"]["id"]
attached = []


def attach_or_detach():
    """The PUTs of port-up and its undoing, in turn."""
    attached.append(None if attached and attached[-1] else "h/p/probe/eth0")
    api.put(f"/v2.0/ports/{probe}", {"port": {"attachment": attached[-1]}})


def report_status():
    """The back-end's status report on one port (written just after port-up's flows leave)."""
    up = not report_status.up
    report_status.up = up
    core.ports.report_statuses([(probe, "ACTIVE", "hv1", "0000000000000001", 5, None) if up
                                else (probe, "DOWN", "", None, None, None)])


report_status.up = False
print("unprofiled CPU per call: attachment PUT %.2f ms, one-port status report %.2f ms"
      % (cpu_ms(attach_or_detach), cpu_ms(report_status)))
t = time.perf_counter(); c = time.process_time()
pr = cProfile.Profile(); pr.enable()
for i in range(N):
    s, p = api.post("/v2.0/ports", {"port": {"network_id": nid}})
    assert s == 201, (s, p)
    # the PUT of port-up: it sets the attachment (docs/benchmarks.md)
    api.put(f"/v2.0/ports/{p['port']['id']}", {"port": {"attachment": f"h/p/vm{i}/eth0"}})
pr.disable()
print("per POST+PUT: wall %.2f ms cpu %.2f ms (profiled)" % ((time.perf_counter()-t)/N*1e3, (time.process_time()-c)/N*1e3))
st = pstats.Stats(pr); st.sort_stats("cumulative").print_stats(35)
st.sort_stats("tottime").print_stats(20)
