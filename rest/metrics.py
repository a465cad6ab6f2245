"""GET /metrics: the service's Prometheus metrics (controller/metrics.py), for operators.

Who may read them: admins only (policy rule ``get_metrics``), with an admin token in
``X-Auth-Token`` or, as Prometheus sends one, ``Authorization: Bearer <token>``. The metrics
hold no tenant's data (route patterns, not ids; counts, not names), but they describe the whole
service -- its load, its switches -- which is the operator's business, not a tenant's.

Besides the counters the service keeps, a scrape reads the state now: switches connected and
in sync, flows each switch should hold, ports by status, and the process's own CPU and memory.
"""
import prometheus_client
import webob
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from controller import metrics
from controller.models import Port
from rest import v2


class StateCollector:
    """What the service holds at scrape time (read, never counted)."""

    def __init__(self, core):
        self.core = core

    def collect(self):
        ports = GaugeMetricFamily("qnet_ports", "Ports by status.", labels=("status",))
        with self.core.db.read() as session:
            counts = dict(session.execute(select(Port.status, func.count())
                                          .group_by(Port.status)).all())
        for status in sorted({"ACTIVE", "DOWN", *counts}):
            ports.add_metric((status,), counts.get(status, 0))
        yield ports
        app = getattr(self.core.plugin, "app", None)
        if app is None or not hasattr(app, "switches"):
            return
        yield GaugeMetricFamily("qnet_switches_connected", "Switches with an OpenFlow session.",
                                value=len(app.switches))
        yield GaugeMetricFamily("qnet_switches_synced", "Switches holding their desired state.",
                                value=len(app.synced))
        flows = GaugeMetricFamily("qnet_switch_desired_flows", "Flows a switch should hold.",
                                  labels=("switch",))
        for key, held in sorted(app.desired.switches.items(), key=lambda kv: str(kv[0])):
            flows.add_metric((str(key),), len(held.flows))
        yield flows


def registry_for(core):
    """A registry of the service's metrics, its state at scrape time and its process."""
    registry = prometheus_client.CollectorRegistry()
    for metric in metrics.ALL:
        registry.register(metric)
    registry.register(StateCollector(core))
    prometheus_client.ProcessCollector(registry=registry)
    return registry


def observe(route, method, status, seconds):
    """Count one API request (``route``: the pattern it matched, None for none)."""
    route = route or "unmatched"
    metrics.API_REQUESTS.labels(route, method, str(status)).inc()
    metrics.API_LATENCY.labels(route, method).observe(seconds)


def register(router, core):
    registry = registry_for(core)
    router.observe = observe

    def show(req, ctx):
        bearer = req.headers.get("Authorization", "")
        if bearer.lower().startswith("bearer ") and "X-Auth-Token" not in req.headers:
            req.headers["X-Auth-Token"] = bearer[len("bearer "):].strip()
        ctx = router.authenticate(req)
        core.policy.enforce(ctx, "get_metrics", {"project_id": ctx.project_id})
        resp = webob.Response()
        resp.body = prometheus_client.generate_latest(registry)
        resp.headers["Content-Type"] = prometheus_client.CONTENT_TYPE_LATEST
        return resp

    # public: authenticated here, so that a Bearer token (Prometheus' way) is taken too
    router.add("GET", "/metrics", show, v2.render_error, public=True)
