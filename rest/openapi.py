"""The service's own OpenAPI 3 document, generated from the attribute maps the API validates with,
so it cannot drift from what the server accepts.

It is meant to be as strict as the server, so that a client generated from it and a fuzzer reading
it (tests/fuzz) agree with the server: standard formats (uuid, ipv4/ipv6, date-time) and patterns
(MAC, CIDR), ``additionalProperties: false`` wherever the server refuses unknown keys, and every
status an operation can answer with. Create responses carry links to the new resource's
operations, which is how a stateful client (or fuzzer) finds what to read, change and delete.
"""
import re

from rest import openapi_v1, types as t

STATUS = {
    400: "Bad input: an invalid attribute, filter or query, or a URL or body that is not "
         "well-formed (not UTF-8, NUL, nested too deep)",
    401: "No token, or one that is unknown, revoked or expired",
    403: "Not allowed by policy (e.g. an admin-only attribute or collection)",
    404: "Not found, or not visible to the caller",
    409: "Conflict (in use, address taken, pool exhausted)",
    413: "Request body larger than the server's max_request_body_size",
    414: "Request line longer than the HTTP server takes (8 KiB): answered before the API "
         "sees it, with an empty body",
    501: "The back-end keeps no statistics",
}
ERROR = {"type": "object", "additionalProperties": False, "required": ["NeutronError"],
         "properties": {"NeutronError": {
             "type": "object", "additionalProperties": False,
             "required": ["type", "message", "detail"],
             "properties": {"type": {"type": "string"}, "message": {"type": "string"},
                            "detail": {"type": "string"}}}}}
# Every operation can refuse a malformed URL (400); every one behind a token answers 401.
ALWAYS = (400, 401)
ALLOWED = {
    "list": (200, *ALWAYS, 403),
    "show": (200, *ALWAYS, 403, 404),
    "create": (201, *ALWAYS, 403, 404, 409, 413),
    "update": (200, *ALWAYS, 403, 404, 409, 413),
    "delete": (204, *ALWAYS, 403, 404, 409),
}


def _json(schema):
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _responses(codes, ok=None):
    """The responses of an operation: ``ok`` for its 2xx, the Error body for the others."""
    out = {}
    for code in codes:
        if code < 300:
            out[str(code)] = ok or {"description": "No content"}
        else:
            out[str(code)] = {"description": STATUS[code], **_json(_ref("Error"))}
    return out


def _schema(attr):
    schema = dict(attr.type.schema)
    if attr.nullable:
        schema["nullable"] = True
    if attr.doc:
        schema["description"] = attr.doc
    return schema


def _query_schema(attr):
    """A filter's value: the attribute's own type (an element of a list attribute), as text
    that the server converts; an empty value means null where the attribute is nullable."""
    kind = attr.type.item if isinstance(attr.type, t.ListOf) else attr.type
    if isinstance(kind, t.Record):  # structured filters: fixed_ips=ip_address=X
        schema = dict(t.String().schema)
    else:
        schema = dict(kind.schema)
    if attr.nullable:
        schema = {"anyOf": [schema, {"type": "string", "maxLength": 0}]}
    return schema


def _resource_schemas(spec):
    name = spec.resource.title().replace("_", "")
    full = {"type": "object", "additionalProperties": False, "properties": {
        n: {**_schema(a), "readOnly": not (a.post or a.put)}
        for n, a in spec.attributes.items()}}
    create = {"type": "object", "additionalProperties": False,
              "properties": {n: _schema(a) for n, a in spec.attributes.items() if a.post},
              "required": sorted(n for n, a in spec.attributes.items() if a.required)}
    if not create["required"]:
        del create["required"]
    update = {"type": "object", "additionalProperties": False,
              "properties": {n: _schema(a) for n, a in spec.attributes.items() if a.put}}
    return name, full, create, update


def _wrapped(key, schema):
    """``{"network": {...}}``: the one key the server accepts around a resource."""
    return {"type": "object", "additionalProperties": False, "required": [key],
            "properties": {key: schema}}


def _fields():
    """Attributes to return; the server ignores names it does not know (or hides)."""
    return {"name": "fields", "in": "query", "explode": True,
            "schema": {"type": "array", "items": {"type": "string"}}}


def _list_params(spec):
    sortable = [n for n, a in spec.attributes.items() if a.sort]
    params = [
        _fields(),
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {"name": "marker", "in": "query", "schema": {"type": "string", "format": "uuid"}},
        {"name": "page_reverse", "in": "query", "schema": {"type": "boolean"}},
        {"name": "sort_key", "in": "query", "explode": True,
         "schema": {"type": "array", "items": {"enum": sortable}}},
        {"name": "sort_dir", "in": "query", "explode": True,
         "schema": {"type": "array", "items": {"enum": ["asc", "desc"]}}},
    ]
    return params + [{"name": n, "in": "query", "explode": True,
                      "schema": {"type": "array", "items": _query_schema(a)}}
                     for n, a in spec.attributes.items() if a.filter]


def _path_param(name, schema=None):
    return {"name": name, "in": "path", "required": True,
            "schema": schema or {"type": "string", "format": "uuid"}}


def _resource_paths(spec, schemas):
    name, full, create, update = _resource_schemas(spec)
    schemas[name] = full
    one = _json(_wrapped(spec.resource, _ref(name)))
    many = _json({"type": "object", "additionalProperties": False,
                  "required": [spec.collection], "properties": {
                      spec.collection: {"type": "array", "items": _ref(name)},
                      spec.collection + "_links": {"type": "array", "items": {
                          "type": "object", "additionalProperties": False,
                          "required": ["rel", "href"],
                          "properties": {"rel": {"enum": ["next", "previous"]},
                                         "href": {"type": "string"}}}}}})
    scope_names = re.findall(r"\{(\w+)\}", spec.url)
    scope = [_path_param(n) for n in scope_names]
    id_params = scope + [_path_param("id", spec.id_schema)]
    tag = [spec.collection]
    # A nested collection can be missing its parent: 404 on every operation.
    nested = (404,) if scope else ()
    collection = {"get": {
        "operationId": f"list_{spec.collection}", "summary": f"List {spec.collection}",
        "tags": tag, "description": spec.doc, "parameters": scope + _list_params(spec),
        "responses": _responses(ALLOWED["list"] + nested, {"description": "OK", **many})}}
    item = {"get": {"operationId": f"show_{spec.resource}", "summary": f"Show a {spec.resource}",
                    "tags": tag, "parameters": id_params + [_fields()],
                    "responses": _responses(ALLOWED["show"], {"description": "OK", **one})}}
    if not spec.read_only:
        schemas[name + "Update"] = update
        new_id = {"id": f"$response.body#/{spec.resource}/id",
                  **{n: f"$request.path.{n}" for n in scope_names}}
        links = {f"{verb.title()}{name}": {"operationId": f"{verb}_{spec.resource}",
                                           "parameters": new_id}
                 for verb in ("show", "update", "delete")}
        if spec.creatable:
            schemas[name + "Create"] = create
            collection["post"] = {
                "operationId": f"create_{spec.resource}", "summary": f"Create a {spec.resource}",
                "tags": tag, "parameters": scope,
                "requestBody": {"required": True, **_json(_wrapped(spec.resource,
                                                                   _ref(name + "Create")))},
                "responses": _responses(ALLOWED["create"],
                                        {"description": "Created", **one, "links": links})}
        item["put"] = {
            "operationId": f"update_{spec.resource}", "summary": f"Update a {spec.resource}",
            "tags": tag, "parameters": id_params,
            "requestBody": {"required": True, **_json(_wrapped(spec.resource,
                                                               _ref(name + "Update")))},
            "responses": _responses(ALLOWED["update"], {"description": "OK", **one})}
        item["delete"] = {
            "operationId": f"delete_{spec.resource}", "summary": f"Delete a {spec.resource}",
            "tags": tag, "parameters": id_params, "responses": _responses(ALLOWED["delete"])}
    paths = {f"/v2.0/{spec.url}": collection, f"/v2.0/{spec.url}/{{id}}": item}
    for action_name, action in spec.actions.items():
        paths[f"/v2.0/{spec.url}/{{id}}/{action_name}"] = {"put": {
            "operationId": action_name, "summary": action.doc, "tags": tag,
            "parameters": id_params,
            "requestBody": {"required": True, **_json(action.request.schema)},
            "responses": _responses(ALLOWED["update"], {"description": "OK",
                                                        **_json(action.response)})}}
    return paths


def _nested_links(registry, paths):
    """Links from a parent's create to its children's collection (a policy to its rules)."""
    for spec in registry.resources.values():
        scope = re.findall(r"\{(\w+)\}", spec.url)
        if len(scope) != 1 or spec.read_only:
            continue
        parent_url = spec.url.split("/{")[0]
        parent = registry.by_path(parent_url)
        if parent is None:
            continue
        created = paths[f"/v2.0/{parent.url}"]["post"]["responses"]["201"]["links"]
        for verb in ("list", "create"):
            target = spec.collection if verb == "list" else spec.resource
            created[f"{verb.title()}{spec.resource.title().replace('_', '')}"] = {
                "operationId": f"{verb}_{target}",
                "parameters": {scope[0]: f"$response.body#/{parent.resource}/id"}}


def _discovery_paths(registry):
    link = {"type": "object", "required": ["rel", "href"],
            "properties": {"rel": {"type": "string"}, "href": {"type": "string"}}}
    extension = {"type": "object", "additionalProperties": False,
                 "required": ["alias", "name", "description", "updated", "links"],
                 "properties": {"alias": {"type": "string"}, "name": {"type": "string"},
                                "description": {"type": "string"},
                                "updated": {"type": "string"},
                                "links": {"type": "array", "items": link}}}
    versions = {"type": "object", "required": ["versions"], "properties": {"versions": {
        "type": "array", "items": {"type": "object", "required": ["id", "status", "links"],
                                   "properties": {"id": {"type": "string"},
                                                  "status": {"type": "string"},
                                                  "links": {"type": "array",
                                                            "items": link}}}}}}
    resources = {"type": "object", "required": ["resources"], "properties": {"resources": {
        "type": "array", "items": {"type": "object", "required": ["name", "collection"],
                                   "properties": {"name": {"type": "string"},
                                                  "collection": {"type": "string"},
                                                  "links": {"type": "array",
                                                            "items": link}}}}}}
    paths = {
        "/": {"get": {"operationId": "list_versions", "summary": "API versions",
                      "security": [], "tags": ["discovery"],
                      "responses": _responses((200, 400),
                                              {"description": "OK", **_json(versions)})}},
        "/v2.0": {"get": {"operationId": "list_resources", "summary": "v2.0 resources",
                          "tags": ["discovery"],
                          "responses": _responses((200, *ALWAYS),
                                                  {"description": "OK", **_json(resources)})}},
        "/v2.0/extensions": {"get": {
            "operationId": "list_extensions", "summary": "List enabled API extensions",
            "tags": ["discovery"],
            "responses": _responses((200, *ALWAYS), {"description": "OK", **_json(_wrapped(
                "extensions", {"type": "array", "items": extension}))})}},
        "/v2.0/extensions/{alias}": {"get": {
            "operationId": "show_extension", "summary": "Show one API extension",
            "tags": ["discovery"],
            "parameters": [{"name": "alias", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": _responses((200, *ALWAYS, 404), {"description": "OK", **_json(
                _wrapped("extension", extension))})}},
        "/v2.0/qnet/topology": {"get": {
            "operationId": "show_topology", "tags": ["discovery"],
            "summary": "The back-end's switches and links (admin only; 404 without one)",
            "responses": _responses((200, *ALWAYS, 403, 404), {"description": "OK", **_json(
                _wrapped("topology", {"type": "object"}))})}},
    }
    paths["/v2.0/qnet/trace"] = {"get": {
        "operationId": "trace_packet", "tags": ["ports"],
        "summary": "What the data plane does with a packet from one of your ports, and why "
                   "(501 from back-ends that program no switches)",
        "parameters": [
            {"name": name, "in": "query", "required": name in ("port_id", "to"),
             "description": text, "schema": {"type": "string"}}
            for name, text in (
                ("port_id", "the source port"), ("to", "destination IP or MAC address"),
                ("protocol", "tcp, udp, icmp or 0-255 (default: icmp echo)"),
                ("dport", "destination port (tcp/udp)"),
                ("src_ip", "send from this address instead of the port's"),
                ("src_mac", "send from this MAC instead of the port's"),
                ("live", "true: compare with the flows the switches hold"))],
        "responses": _responses((200, *ALWAYS, 404, 501), {"description": "OK", **_json(
            _wrapped("trace", {"type": "object"}))})}}
    if registry.enabled("qos"):
        paths["/v2.0/qos/rule-types"] = {"get": {
            "operationId": "list_qos_rule_types", "tags": ["policies"],
            "summary": "The QoS rule types this service enforces",
            "responses": _responses((200, *ALWAYS), {"description": "OK", **_json(_wrapped(
                "rule_types", {"type": "array", "items": {"type": "object"}}))})}}
        paths["/v2.0/qos/rule-types/{type}"] = {"get": {
            "operationId": "show_qos_rule_type", "tags": ["policies"],
            "summary": "One QoS rule type and its parameters",
            "parameters": [{"name": "type", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": _responses((200, *ALWAYS, 404), {"description": "OK", **_json(
                _wrapped("rule_type", {"type": "object"}))})}}
    if registry.enabled("qnet-port-stats"):
        paths["/v2.0/ports/{id}/qnet-stats"] = {"get": {
            "operationId": "show_port_stats", "tags": ["ports"],
            "summary": "A port's data-plane counters (bandwidth-limit meters)",
            "parameters": [_path_param("id")],
            "responses": _responses((200, *ALWAYS, 403, 404, 501), {
                "description": "OK", **_json(_wrapped("port_stats", {"type": "object"}))})}}
    return paths


def _codes(kind, ok=None):
    """The statuses of a ``kind`` of operation; ``ok`` replaces its success code (v1.0's)."""
    return ((ok,) + ALLOWED[kind][1:]) if ok else ALLOWED[kind]


def build(registry, server_url="/"):
    schemas = {"Error": ERROR, "V1Fault": openapi_v1.FAULT}
    paths = _discovery_paths(registry)
    for spec in registry.resources.values():
        paths.update(_resource_paths(spec, schemas))
    paths.update(openapi_v1.paths(registry, _codes))
    _nested_links(registry, paths)
    for operations in paths.values():   # the HTTP server's own refusal, for any URL
        for operation in operations.values():
            operation["responses"]["414"] = {"description": STATUS[414]}
    if "/v2.0/ports/{id}/qnet-stats" in paths:
        paths["/v2.0/ports"]["post"]["responses"]["201"]["links"]["ShowPortStats"] = {
            "operationId": "show_port_stats",
            "parameters": {"id": "$response.body#/port/id"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "qnet network API (Neutron v2.0 and Quantum v1.0 shapes)",
                 "version": "2.0"},
        "servers": [{"url": server_url}],
        "components": {"schemas": schemas, "securitySchemes": {
            "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}}},
        "security": [{"token": []}],
        "paths": paths,
    }
