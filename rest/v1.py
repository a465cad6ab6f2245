"""The Quantum v1.0 API shape: /v1.0/tenants/{tenant}/networks/{net}/ports/{port}/attachment.

With the qos extension a port carries ``bandwidth_limits``, ``{"egress": {"max_kbps": N,
"max_burst_kbps": B}, "ingress": {...}}`` (either direction optional; ``{}`` or null: none), set
with ``PUT .../ports/{port}`` and shown with the port when it has any. v1.0 has no policies: the core keeps the
limits in a policy private to the port.

Bodies follow Quantum v1.0 (create returns 200 with the new id; updates and deletes return 204; a
``/detail`` variant adds names, states and attachments). Faults keep v1.0's body shape
``{"networkNotFound": {"code", "message", "detail"}}`` but use standard HTTP codes (404/409/400),
as Quantum v1.1 did, instead of v1.0's private 420-440 codes that HTTP tooling does not know.
"""
import dataclasses

from controller import errors
from controller.qos import DIRECTIONS, MAX_KBPS
from rest import types as t
from rest.attributes import PROJECT
from rest.wsgi import json_body, json_response

FAULT_NAMES = {
    "NetworkNotFound": "networkNotFound",
    "PortNotFound": "portNotFound",
    "NetworkInUse": "networkInUse",
    "PortInUse": "portInUse",
    "AlreadyAttached": "alreadyAttached",
    "RequestedStateInvalid": "requestedStateInvalid",
    "NotAuthenticated": "unauthorized",
    "PolicyNotAuthorized": "forbidden",
    "HTTPRequestEntityTooLarge": "requestEntityTooLarge",
}
STATES = {"ACTIVE": True, "DOWN": False}
LIMIT = t.Record({"max_kbps": t.Integer(1, MAX_KBPS), "max_burst_kbps": t.Integer(0, MAX_KBPS)},
                 ("max_kbps",))
NAME = t.String(255)
INTERFACE = t.String(255)


class RequestedStateInvalid(errors.BadRequest):
    message = "Unsupported port state {state}: use ACTIVE or DOWN."


def render_error(exc):
    if exc.status == 400 and exc.type not in FAULT_NAMES:
        name = "malformedRequest"
    elif exc.status == 404 and exc.type not in FAULT_NAMES:
        name = "itemNotFound"
    else:
        name = FAULT_NAMES.get(exc.type, "quantumServiceFault")
    return json_response({name: {"code": exc.status, "message": str(exc),
                                 "detail": exc.detail}}, exc.status)


class V1Api:
    def __init__(self, core, registry):
        self.core = core
        self.registry = registry

    def register(self, router):
        t = "/v1.0/tenants/{tenant}"
        n = t + "/networks/{net}"
        p = n + "/ports/{port}"
        add = (lambda method, path, handler: router.add(method, path, handler, render_error))
        add("GET", "/v1.0/extensions", self.list_extensions)
        add("GET", t + "/networks", self.list_networks)
        add("GET", t + "/networks/detail", lambda r, c, **k: self.list_networks(r, c, True, **k))
        add("POST", t + "/networks", self.create_network)
        add("GET", n, self.show_network)
        add("GET", n + "/detail", lambda r, c, **k: self.show_network(r, c, True, **k))
        add("PUT", n, self.update_network)
        add("DELETE", n, self.delete_network)
        add("GET", n + "/ports", self.list_ports)
        add("GET", n + "/ports/detail", lambda r, c, **k: self.list_ports(r, c, True, **k))
        add("POST", n + "/ports", self.create_port)
        add("GET", p, self.show_port)
        add("GET", p + "/detail", lambda r, c, **k: self.show_port(r, c, True, **k))
        add("PUT", p, self.update_port)
        add("DELETE", p, self.delete_port)
        add("GET", p + "/attachment", self.show_attachment)
        add("PUT", p + "/attachment", self.plug)
        add("DELETE", p + "/attachment", self.unplug)

    # -- tenancy ---------------------------------------------------------------------------------
    def tenant_context(self, ctx, tenant):
        """The URL names the tenant: callers act in their own; admins in any (as that tenant's
        owner, so they see exactly what the tenant sees): the ``access_tenant`` rule."""
        PROJECT.convert("tenant", tenant)  # an admin's tenant must fit where projects are kept
        self.core.policy.enforce(ctx, "access_tenant", {"project_id": tenant,
                                                        "tenant_id": tenant})
        return dataclasses.replace(ctx, project_id=tenant, is_admin=False)

    def network(self, ctx, net):
        network = self.core.networks.get(ctx, net)
        if network["project_id"] != ctx.project_id:  # shared networks are a v2.0 notion
            raise errors.NetworkNotFound(id=net)
        return network

    def port(self, ctx, net, port):
        self.network(ctx, net)
        try:
            item = self.core.ports.get(ctx, port)
        except errors.PortNotFound:
            item = None
        if item is None or item["network_id"] != net:
            raise errors.PortNotFound(id=port)
        return item

    @staticmethod
    def body(req, key, required=True):
        if not req.body and not required:
            return {}
        data = json_body(req)
        if not isinstance(data.get(key), dict) or set(data) != {key}:
            raise errors.BadRequest(f"The body must be a JSON object {{\"{key}\": {{...}}}}.")
        return data[key]

    @staticmethod
    def only(data, allowed):
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise errors.BadRequest("Unrecognized attribute(s) '" + ", ".join(unknown) + "'")

    @staticmethod
    def name(data, required):
        if "name" not in data:
            if required:
                raise errors.BadRequest("Missing attribute(s): name")
            return {}
        return {"name": NAME.convert("name", data["name"])}

    @staticmethod
    def state(data):
        if "state" not in data:
            return {}
        if not isinstance(data["state"], str) or data["state"] not in STATES:
            raise RequestedStateInvalid(state=data["state"])
        return {"admin_state_up": STATES[data["state"]]}

    @staticmethod
    def limits(data):
        """{direction: (max_kbps, max_burst_kbps)} from a body's bandwidth_limits."""
        value = data.get("bandwidth_limits")
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise errors.InvalidInput(error="bandwidth_limits must be an object keyed by "
                                            "direction (egress, ingress)")
        unknown = sorted(set(value) - set(DIRECTIONS))
        if unknown:
            raise errors.InvalidInput(error=f"unknown direction(s) {', '.join(unknown)} in "
                                            "bandwidth_limits: use egress, ingress")
        out = {}
        for direction, limit in value.items():
            limit = LIMIT.convert(f"bandwidth_limits.{direction}", limit)
            out[direction] = (limit["max_kbps"], limit.get("max_burst_kbps", 0))
        return out

    @staticmethod
    def port_view(port, detail):
        view = {"id": port["id"], "state": "ACTIVE" if port["admin_state_up"] else "DOWN"}
        if detail and port["attachment"] is not None:
            view["attachment"] = {"id": port["attachment"]}
        return view

    def ports_of(self, ctx, net):
        return self.core.ports.list(ctx, {"network_id": [net]}, [("created_at", "asc")])[0]

    # -- handlers -----------------------------------------------------------------------------------
    def list_extensions(self, req, ctx):
        return json_response({"extensions": self.registry.describe()})

    def list_networks(self, req, ctx, detail=False, tenant=None):
        ctx = self.tenant_context(ctx, tenant)
        nets, _ = self.core.networks.list(ctx, {"project_id": [tenant]}, [("created_at", "asc")])
        return json_response({"networks": [
            {"id": n["id"], "name": n["name"]} if detail else {"id": n["id"]} for n in nets]})

    def create_network(self, req, ctx, tenant):
        ctx = self.tenant_context(ctx, tenant)
        data = self.body(req, "network")
        self.only(data, ("name",))
        network = self.core.networks.create(ctx, self.name(data, required=True))
        return json_response({"network": {"id": network["id"]}}, 200)

    def show_network(self, req, ctx, detail=False, tenant=None, net=None):
        ctx = self.tenant_context(ctx, tenant)
        network = self.network(ctx, net)
        view = {"id": network["id"], "name": network["name"]}
        if detail:
            view["ports"] = [self.port_view(p, True) for p in self.ports_of(ctx, net)]
        return json_response({"network": view})

    def update_network(self, req, ctx, tenant, net):
        ctx = self.tenant_context(ctx, tenant)
        data = self.body(req, "network")
        self.only(data, ("name",))
        self.network(ctx, net)
        self.core.networks.update(ctx, net, self.name(data, required=False))
        return json_response(None, 204)

    def delete_network(self, req, ctx, tenant, net):
        ctx = self.tenant_context(ctx, tenant)
        self.network(ctx, net)
        self.core.networks.delete(ctx, net)
        return json_response(None, 204)

    def list_ports(self, req, ctx, detail=False, tenant=None, net=None):
        ctx = self.tenant_context(ctx, tenant)
        self.network(ctx, net)
        ports = self.ports_of(ctx, net)
        return json_response({"ports": [
            {"id": p["id"], "state": self.port_view(p, False)["state"]} if detail
            else {"id": p["id"]} for p in ports]})

    def create_port(self, req, ctx, tenant, net):
        ctx = self.tenant_context(ctx, tenant)
        data = self.body(req, "port", required=False)
        self.only(data, ("state",))
        self.network(ctx, net)
        # Quantum v1.0 defaulted to DOWN; a port that is plugged in is expected to carry
        # traffic, so qnet defaults to ACTIVE (admin up), as v2.0 does.
        attrs = {"network_id": net, **self.state(data)}
        port = self.core.ports.create(ctx, attrs)
        return json_response({"port": {"id": port["id"]}}, 200)

    def show_port(self, req, ctx, detail=False, tenant=None, net=None, port=None):
        ctx = self.tenant_context(ctx, tenant)
        item = self.port(ctx, net, port)
        view = self.port_view(item, detail)
        limits = self.core.qos.port_limits(ctx, item) if self.registry.enabled("qos") else {}
        if limits:  # a port without limits looks as it always did in v1.0
            view["bandwidth_limits"] = limits
        return json_response({"port": view})

    def update_port(self, req, ctx, tenant, net, port):
        ctx = self.tenant_context(ctx, tenant)
        data = self.body(req, "port")
        qos = self.registry.enabled("qos")
        self.only(data, ("state", "bandwidth_limits") if qos else ("state",))
        state = self.state(data)
        limits = self.limits(data) if "bandwidth_limits" in data else None
        self.port(ctx, net, port)
        if limits is None:
            self.core.ports.update(ctx, port, state)
        else:
            self.core.qos.set_port_limits(ctx, port, limits, state)
        return json_response(None, 204)

    def delete_port(self, req, ctx, tenant, net, port):
        ctx = self.tenant_context(ctx, tenant)
        self.port(ctx, net, port)
        self.core.ports.delete(ctx, port, only_if_unplugged=True)  # v1.0: unplug first
        return json_response(None, 204)

    def show_attachment(self, req, ctx, tenant, net, port):
        ctx = self.tenant_context(ctx, tenant)
        item = self.port(ctx, net, port)
        attachment = {"id": item["attachment"]} if item["attachment"] is not None else {}
        return json_response({"attachment": attachment})

    def plug(self, req, ctx, tenant, net, port):
        ctx = self.tenant_context(ctx, tenant)
        data = self.body(req, "attachment")
        self.only(data, ("id",))
        interface = INTERFACE.convert("attachment.id", data.get("id"))
        if not interface:
            raise errors.InvalidInput(error="attachment id must not be empty")
        self.port(ctx, net, port)
        self.core.ports.plug(ctx, port, interface)
        return json_response(None, 204)

    def unplug(self, req, ctx, tenant, net, port):
        ctx = self.tenant_context(ctx, tenant)
        item = self.port(ctx, net, port)
        if item["attachment"] is not None:
            self.core.ports.update(ctx, port, {"attachment": None})
        return json_response(None, 204)
