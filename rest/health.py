"""``/healthz`` and ``/readyz`` for load balancers and orchestrators (no token needed).

``/healthz``: the process answers (200). ``/readyz``: it can serve a request with current data:
the database answers and the change log was read to its end recently (controller/changelog.py),
so an instance cut off from PostgreSQL, or stuck behind the others' writes, is taken out of
rotation (503, with the reason).
"""
from sqlalchemy import text

from controller.cluster import READY_LAG
from rest.wsgi import json_response


def register(router, core):
    def healthz(req, ctx):
        return json_response({"status": "ok"})

    def readyz(req, ctx):
        try:
            with core.db.read() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", with why
            return json_response({"status": "unavailable",
                                  "reason": f"database: {type(exc).__name__}"}, 503)
        lag = core.feed.lag()
        if lag is not None and lag > READY_LAG:
            return json_response({"status": "unavailable",
                                  "reason": f"change log last read {lag:.1f} s ago"}, 503)
        return json_response({"status": "ok", "instance": core.instance_id,
                              "change_log": core.feed.position})

    router.add("GET", "/healthz", healthz, public=True)
    router.add("GET", "/readyz", readyz, public=True)
