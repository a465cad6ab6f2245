"""GET /v2.0/qnet/trace: what the data plane does with one packet from a port, and why.

``?port_id=P&to=IP|MAC[&protocol=tcp&dport=80][&src_ip=..][&src_mac=..][&live=true]``; the
answer is the plug-in's (``Plugin.trace``: apps/trace.py in overlay mode). A caller traces only
ports it owns (``get_trace``; any other port answers 404, as if it did not exist), and the
reasons name other resources only when the caller may see them.
"""
from apps.trace import Query
from controller import errors
from rest import v2
from rest.wsgi import json_response

TRUE = ("1", "true", "yes", "on")


def namer(core, ctx):
    """``describe(kind, id)``: a resource's name (or id) if ``ctx`` may see it, else words
    that say it is another project's."""
    cache = {}

    def describe(kind, id_):
        if (kind, id_) not in cache:
            manager = core.managers.get(kind + "s") or core.managers.get(
                kind[:-1] + "ies" if kind.endswith("y") else "")
            try:
                item = manager.get(ctx, id_) if manager is not None else {"id": id_}
            except errors.NotFound:
                item = None
            cache[(kind, id_)] = (f"of another project ({id_[:8]})" if item is None else
                                  item.get("name") or item["id"])
        return cache[(kind, id_)]
    return describe


def register(router, core):
    def trace(req, ctx):
        params = req.GET
        unknown = set(params) - {"port_id", "to", "protocol", "dport", "src_ip", "src_mac",
                                 "live"}
        if unknown:
            raise errors.InvalidInput(error=f"unknown parameter(s) {', '.join(sorted(unknown))}")
        port_id = params.get("port_id")
        if not port_id:
            raise errors.InvalidInput(error="port_id is required")
        query = Query.parse(port_id, params.get("to"), params.get("protocol"),
                            params.get("dport"), params.get("src_ip"), params.get("src_mac"))
        port = core.ports.get(ctx, port_id)
        if not core.policy.check(ctx, "get_trace", {"project_id": port["project_id"]}):
            raise errors.PortNotFound(id=port_id)
        live = params.get("live", "").lower() in TRUE
        result = core.plugin.trace(query, namer(core, ctx), live=live)
        return json_response({"trace": result})

    router.add("GET", "/v2.0/qnet/trace", trace, v2.render_error)
