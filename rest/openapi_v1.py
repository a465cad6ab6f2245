"""The Quantum v1.0 part of the OpenAPI document (rest/v1.py serves it): its paths, bodies and
fault shapes, from the same value types the handlers validate with.

v1.0 faults are one key naming the fault (``{"networkNotFound": {"code", "message",
"detail"}}``), so their schema is an object of exactly one such property.
"""
from controller.qos import DIRECTIONS
from rest import v1
from rest.attributes import PROJECT

FAULT = {"type": "object", "minProperties": 1, "maxProperties": 1,
         "additionalProperties": {
             "type": "object", "additionalProperties": False,
             "required": ["code", "message", "detail"],
             "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                            "detail": {"type": "string"}}}}
ID = {"type": "string", "format": "uuid"}
STATE = {"enum": list(v1.STATES)}
LIMITS = {"type": "object", "nullable": True, "additionalProperties": False,
          "properties": {d: v1.LIMIT.schema for d in DIRECTIONS},
          "description": "Per direction; {} or null: no limits (qos extension)."}


def _obj(properties, required=()):
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = sorted(required)
    return schema


def _wrapped(key, schema):
    return _obj({key: schema}, (key,))


def _json(schema):
    return {"content": {"application/json": {"schema": schema}}}


def _op(op_id, summary, codes, ok=None, body=None, body_required=True, params=(), links=None):
    """One v1.0 operation; ``codes`` its statuses, ``ok`` the schema of its 200 body, ``links``
    the operations its answer's ``id`` feeds (as ``{operationId: path parameter}``)."""
    responses = {}
    for code in codes:
        if code == 204:
            responses["204"] = {"description": "Done"}
        elif code < 300:
            responses[str(code)] = {"description": "OK", **_json(ok)}
            if links:
                resource = next(iter(ok["properties"]))
                responses[str(code)]["links"] = {target: {"operationId": target, "parameters": {
                    "tenant": "$request.path.tenant",
                    **({"net": "$request.path.net"} if param == "port" else {}),
                    param: f"$response.body#/{resource}/id"}}
                    for target, param in links.items()}
        else:
            responses[str(code)] = {"description": f"Fault ({code})",
                                    **_json({"$ref": "#/components/schemas/V1Fault"})}
    op = {"operationId": op_id, "summary": summary, "tags": ["v1.0"],
          "parameters": list(params), "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": body_required, **_json(body)}
    return op


def _param(name, schema):
    return {"name": name, "in": "path", "required": True, "schema": schema}


def paths(registry, errors_of):
    """The v1.0 paths; ``errors_of(kind)`` gives the statuses of a list/show/create/... ."""
    tenant = _param("tenant", {**PROJECT.schema, "minLength": 1})
    net, port = _param("net", ID), _param("port", ID)
    qos = registry.enabled("qos")
    port_view = _obj({"id": ID, "state": STATE, **({"bandwidth_limits": LIMITS} if qos else {})},
                     ("id", "state"))
    attachment = _obj({"id": v1.INTERFACE.schema}, ("id",))
    port_detail = _obj({"id": ID, "state": STATE, "attachment": attachment,
                        **({"bandwidth_limits": LIMITS} if qos else {})}, ("id", "state"))
    port_update = {"state": STATE, **({"bandwidth_limits": LIMITS} if qos else {})}
    name = v1.NAME.schema
    base = "/v1.0/tenants/{tenant}/networks"
    n = base + "/{net}"
    p = n + "/ports/{port}"
    list_net = {"type": "array", "items": _obj({"id": ID}, ("id",))}
    list_net_detail = {"type": "array", "items": _obj({"id": ID, "name": name}, ("id", "name"))}
    list_ports = {"type": "array", "items": _obj({"id": ID}, ("id",))}
    list_ports_detail = {"type": "array", "items": _obj({"id": ID, "state": STATE},
                                                        ("id", "state"))}
    # a v1.0 port's attachment, as the interface plugged in (or {})
    plugged = {"type": "object", "additionalProperties": False,
               "properties": {"id": v1.INTERFACE.schema}}
    return {
        "/v1.0/extensions": {"get": _op(
            "v1_list_extensions", "List enabled API extensions (v1.0)", (200, 400, 401),
            {"type": "object", "required": ["extensions"]})},
        base: {
            "get": _op("v1_list_networks", "List a tenant's networks", errors_of("list"),
                       _wrapped("networks", list_net), params=[tenant]),
            "post": _op("v1_create_network", "Create a network", errors_of("create", 200),
                        _wrapped("network", _obj({"id": ID}, ("id",))),
                        _wrapped("network", _obj({"name": name}, ("name",))),
                        params=[tenant], links=dict.fromkeys(
                            ("v1_show_network", "v1_show_network_detail", "v1_update_network",
                             "v1_delete_network", "v1_list_ports", "v1_create_port"), "net"))},
        base + "/detail": {"get": _op(
            "v1_list_networks_detail", "List a tenant's networks with names",
            errors_of("list"), _wrapped("networks", list_net_detail), params=[tenant])},
        n: {
            "get": _op("v1_show_network", "Show a network", errors_of("show"),
                       _wrapped("network", _obj({"id": ID, "name": name}, ("id", "name"))),
                       params=[tenant, net]),
            "put": _op("v1_update_network", "Rename a network", errors_of("update", 204),
                       body=_wrapped("network", _obj({"name": name})), params=[tenant, net]),
            "delete": _op("v1_delete_network", "Delete a network (no ports left)",
                          errors_of("delete"), params=[tenant, net])},
        n + "/detail": {"get": _op(
            "v1_show_network_detail", "Show a network with its ports", errors_of("show"),
            _wrapped("network", _obj({"id": ID, "name": name,
                                      "ports": {"type": "array", "items": _obj(
                                          {"id": ID, "state": STATE, "attachment": attachment},
                                          ("id", "state"))}}, ("id", "name", "ports"))),
            params=[tenant, net])},
        n + "/ports": {
            "get": _op("v1_list_ports", "List a network's ports", errors_of("show"),
                       _wrapped("ports", list_ports), params=[tenant, net]),
            "post": _op("v1_create_port", "Create a port (state ACTIVE unless given)",
                        errors_of("create", 200), _wrapped("port", _obj({"id": ID}, ("id",))),
                        _wrapped("port", _obj({"state": STATE})), body_required=False,
                        params=[tenant, net], links=dict.fromkeys(
                            ("v1_show_port", "v1_show_port_detail", "v1_update_port",
                             "v1_delete_port", "v1_show_attachment", "v1_plug", "v1_unplug"),
                            "port"))},
        n + "/ports/detail": {"get": _op(
            "v1_list_ports_detail", "List a network's ports with states", errors_of("show"),
            _wrapped("ports", list_ports_detail), params=[tenant, net])},
        p: {
            "get": _op("v1_show_port", "Show a port", errors_of("show"),
                       _wrapped("port", port_view), params=[tenant, net, port]),
            "put": _op("v1_update_port", "Change a port's state or bandwidth limits",
                       errors_of("update", 204), body=_wrapped("port", _obj(port_update)),
                       params=[tenant, net, port]),
            "delete": _op("v1_delete_port", "Delete an unplugged port", errors_of("delete"),
                          params=[tenant, net, port])},
        p + "/detail": {"get": _op(
            "v1_show_port_detail", "Show a port with its attachment", errors_of("show"),
            _wrapped("port", port_detail), params=[tenant, net, port])},
        p + "/attachment": {
            "get": _op("v1_show_attachment", "The interface plugged into a port",
                       errors_of("show"), _wrapped("attachment", plugged),
                       params=[tenant, net, port]),
            "put": _op("v1_plug", "Plug an interface into a port", errors_of("update", 204),
                       body=_wrapped("attachment", attachment), params=[tenant, net, port]),
            "delete": _op("v1_unplug", "Unplug a port's interface", errors_of("delete"),
                          params=[tenant, net, port])},
    }
