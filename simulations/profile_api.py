"""Profile the API write path in-process: cProfile of N port creates + updates.

Same path as ``qnet serve`` minus HTTP (WSGI app called through webob, noop plug-in, SQLite
in WAL mode with synchronous=NORMAL), so the figures are the CPU the API spends before the
controller sees a change. Run: ``python -m simulations.profile_api``.
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
t = time.perf_counter(); c = time.process_time()
pr = cProfile.Profile(); pr.enable()
for i in range(N):
    s, p = api.post("/v2.0/ports", {"port": {"network_id": nid}})
    assert s == 201, (s, p)
    api.put(f"/v2.0/ports/{p['port']['id']}", {"port": {"name": "x"}})
pr.disable()
print("per POST+PUT: wall %.2f ms cpu %.2f ms (profiled)" % ((time.perf_counter()-t)/N*1e3, (time.process_time()-c)/N*1e3))
st = pstats.Stats(pr); st.sort_stats("cumulative").print_stats(35)
st.sort_stats("tottime").print_stats(20)
