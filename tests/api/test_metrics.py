"""GET /metrics: Prometheus' text format (parsed with prometheus_client's own parser), for
admins only; API requests are counted by route pattern and status."""
from prometheus_client.parser import text_string_to_metric_families

from rest.app import build_app
from tests.conftest import Client


def samples(text):
    """{(name, labels as a sorted tuple): value} of every sample."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(app, **headers):
    import webob
    req = webob.Request.blank("/metrics", headers=headers)
    resp = req.get_response(app)
    return resp.status_int, resp.headers.get("Content-Type"), resp.text


def test_admins_read_metrics_that_parse_and_count_requests(app, api):
    admin = {"X-Project-Id": "ops", "X-Roles": "admin"}
    _, _, before = scrape(app, **admin)
    route = (("method", "POST"), ("route", "/v2.0/networks"), ("status", "201"))
    start = samples(before).get(("qnet_api_requests_total", route), 0)
    for name in ("a", "b"):
        assert api.post("/v2.0/networks", {"network": {"name": name}})[0] == 201
    net = api.get("/v2.0/networks")[1]["networks"][0]
    assert api.post("/v2.0/ports", {"port": {"network_id": net["id"]}})[0] == 201
    assert api.get("/v2.0/networks/nope")[0] == 404
    status, content_type, text = scrape(app, **admin)
    assert status == 200 and content_type.startswith("text/plain; version=")
    now = samples(text)
    assert now[("qnet_api_requests_total", route)] == start + 2
    assert now[("qnet_api_requests_total", (("method", "GET"), ("route", "/v2.0/networks/{id}"),
                                            ("status", "404")))] >= 1
    assert now[("qnet_api_request_duration_seconds_count",
                (("method", "POST"), ("route", "/v2.0/networks")))] >= 2
    assert now[("qnet_ports", (("status", "DOWN"),))] == 1     # the port: no back-end binds it
    assert "nope" not in text and net["id"] not in text        # patterns, never ids


def test_tenants_and_strangers_may_not(app, core):
    assert scrape(app, **{"X-Project-Id": "alice"})[0] == 403
    token_app = build_app(core, auth="token")
    assert scrape(token_app)[0] == 401
    assert scrape(token_app, Authorization="Bearer qnet-not-a-token")[0] == 401


def test_a_bearer_admin_token_is_taken(core):
    from rest.auth import create_token
    app = build_app(core, auth="token")
    admin, member = create_token(core.db, "ops", is_admin=True), create_token(core.db, "alice")
    assert scrape(app, Authorization=f"Bearer {admin}")[0] == 200
    assert scrape(app, **{"X-Auth-Token": admin})[0] == 200
    assert scrape(app, Authorization=f"Bearer {member}")[0] == 403
    assert Client(app, {"X-Auth-Token": member}).get("/v2.0/networks")[0] == 200


def test_switch_programming_moves_the_counters():
    from controller.context import Context
    from simulations.fakecloud import FakeCloud
    cloud = FakeCloud.on_core(hypervisors=2)
    core = cloud.plugin.core
    app = build_app(core, auth="noauth")
    admin = {"X-Project-Id": "ops", "X-Roles": "admin"}
    before = samples(scrape(app, **admin)[2])
    tenant = Context("t")
    net = core.networks.create(tenant, {"name": "n"})
    core.subnets.create(tenant, {"network_id": net["id"], "cidr": "10.0.0.0/24"})
    for h in (1, 2):
        core.ports.create(tenant, {"network_id": net["id"], "attachment": f"vm{h}"})
        cloud.plug(f"hv{h}", f"tap{h}", f"vm{h}", "t")
    cloud.settle()
    after = samples(scrape(app, **admin)[2])

    def moved(name, labels=()):
        return after.get((name, labels), 0) - before.get((name, labels), 0)
    assert moved("qnet_openflow_messages_sent_total", (("type", "flow_mod"),)) > 0
    assert moved("qnet_openflow_messages_sent_total", (("type", "group_mod"),)) > 0
    assert moved("qnet_switch_resyncs_total") >= 2           # each switch read back once
    assert moved("qnet_reconcile_pass_duration_seconds_count") >= 1
    assert after[("qnet_switches_connected", ())] == 2
    assert after[("qnet_ports", (("status", "ACTIVE"),))] == 2
    assert after[("qnet_switch_desired_flows", (("switch", "hv1"),))] > 0


def test_the_example_grafana_dashboard_queries_only_metrics_that_exist():
    """Every metric name the dashboard's queries use is one /metrics exposes (overlay mode)."""
    import json
    import os
    import re

    from simulations.fakecloud import FakeCloud
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                           "grafana-dashboard.json"), encoding="utf-8") as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b((?:qnet|process)_\w+)", e)}
    cloud = FakeCloud.on_core(hypervisors=1)
    cloud.settle()
    app = build_app(cloud.plugin.core, auth="noauth")
    scrape(app)      # one request, so the API's series exist
    text = scrape(app, **{"X-Project-Id": "ops", "X-Roles": "admin"})[2]
    exposed = {s.name for family in text_string_to_metric_families(text)
               for s in family.samples}
    assert len(used) >= 10 and used <= exposed, used - exposed
