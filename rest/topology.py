"""GET /v2.0/qnet/topology: the back-end's view of the switches (admins only).

The answer comes from the plug-in (``Plugin.topology``): in fabric mode the switches, their
ports, the links LLDP found with their state, where bound ports sit and the links each network
uses; back-ends without a topology (noop, overlay) answer 404 with the reason.
"""
from rest import v2
from rest.wsgi import json_response


def register(router, core):
    def show(req, ctx):
        core.policy.enforce(ctx, "get_topology", {"project_id": ctx.project_id})
        return json_response({"topology": core.plugin.topology()})

    router.add("GET", "/v2.0/qnet/topology", show, v2.render_error)
