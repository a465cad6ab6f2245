"""The service's own OpenAPI 3 document, generated from the attribute maps the API validates with,
so it cannot drift from what the server accepts."""
import re

ERROR = {"type": "object", "properties": {"NeutronError": {
    "type": "object", "properties": {"type": {"type": "string"}, "message": {"type": "string"},
                                     "detail": {"type": "string"}}}}}


def _schema(attr, nullable):
    schema = dict(attr.type.schema)
    if nullable:
        schema["nullable"] = True
    if attr.doc:
        schema["description"] = attr.doc
    return schema


def _resource_schemas(spec):
    name = spec.resource.title().replace("_", "")
    full = {"type": "object", "properties": {
        n: {**_schema(a, a.nullable), "readOnly": not (a.post or a.put)}
        for n, a in spec.attributes.items()}}
    create = {"type": "object", "additionalProperties": False,
              "properties": {n: _schema(a, a.nullable) for n, a in spec.attributes.items()
                             if a.post},
              "required": sorted(n for n, a in spec.attributes.items() if a.required)}
    if not create["required"]:
        del create["required"]
    update = {"type": "object", "additionalProperties": False,
              "properties": {n: _schema(a, a.nullable) for n, a in spec.attributes.items()
                             if a.put}}
    return name, full, create, update


def _errors(*codes):
    text = {400: "Bad input", 401: "No or invalid token", 403: "Not allowed (admin only)",
            404: "Not found, or not yours", 409: "Conflict (in use, address taken, exhausted)"}
    return {str(c): {"description": text[c], "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


def _json(ref_or_schema):
    return {"content": {"application/json": {"schema": ref_or_schema}}}


def build(registry, server_url="/"):
    schemas = {"Error": ERROR}
    paths = {}
    list_params = [
        {"name": "fields", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
         "explode": True},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {"name": "marker", "in": "query", "schema": {"type": "string", "format": "uuid"}},
        {"name": "page_reverse", "in": "query", "schema": {"type": "boolean"}},
        {"name": "sort_key", "in": "query",
         "schema": {"type": "array", "items": {"type": "string"}}, "explode": True},
        {"name": "sort_dir", "in": "query",
         "schema": {"type": "array", "items": {"enum": ["asc", "desc"]}}, "explode": True},
    ]
    for spec in registry.resources.values():
        name, full, create, update = _resource_schemas(spec)
        schemas[name] = full
        ref = {"$ref": f"#/components/schemas/{name}"}
        one = {"type": "object", "properties": {spec.resource: ref}, "required": [spec.resource]}
        many = {"type": "object", "properties": {
            spec.collection: {"type": "array", "items": ref},
            spec.collection + "_links": {"type": "array", "items": {
                "type": "object", "properties": {"rel": {"type": "string"},
                                                 "href": {"type": "string"}}}}}}
        filters = [{"name": n, "in": "query", "required": False,
                    "schema": {"type": "array", "items": {"type": "string"}}, "explode": True}
                   for n, a in spec.attributes.items() if a.filter]
        tag = [spec.collection]
        scope = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                 for n in re.findall(r"\{(\w+)\}", spec.url)]
        collection = {"get": {"summary": f"List {spec.collection}", "tags": tag,
                              "description": spec.doc,
                              "parameters": scope + list_params + filters,
                              "responses": {"200": {"description": "OK", **_json(many)},
                                            **_errors(400, 401, 403)}}}
        id_param = scope + [{"name": "id", "in": "path", "required": True,
                             "schema": {"type": "string"}}]
        item = {"get": {"summary": f"Show a {spec.resource}", "tags": tag,
                        "parameters": id_param,
                        "responses": {"200": {"description": "OK", **_json(one)},
                                      **_errors(401, 403, 404)}}}
        if not spec.read_only:
            schemas[name + "Create"] = create
            schemas[name + "Update"] = update
            body = (lambda s: {"required": True, **_json({
                "type": "object", "properties": {spec.resource: {
                    "$ref": f"#/components/schemas/{s}"}}, "required": [spec.resource]})})
            collection["post"] = {"summary": f"Create a {spec.resource}", "tags": tag,
                                  "parameters": scope,
                                  "requestBody": body(name + "Create"),
                                  "responses": {"201": {"description": "Created", **_json(one)},
                                                **_errors(400, 401, 403, 404, 409)}}
            item["put"] = {"summary": f"Update a {spec.resource}", "tags": tag,
                           "parameters": id_param, "requestBody": body(name + "Update"),
                           "responses": {"200": {"description": "OK", **_json(one)},
                                         **_errors(400, 401, 403, 404, 409)}}
            item["delete"] = {"summary": f"Delete a {spec.resource}", "tags": tag,
                              "parameters": id_param,
                              "responses": {"204": {"description": "Deleted"},
                                            **_errors(401, 403, 404, 409)}}
        paths[f"/v2.0/{spec.url}"] = collection
        paths[f"/v2.0/{spec.url}/{{id}}"] = item
    if registry.enabled("qnet-port-stats"):
        paths["/v2.0/ports/{id}/qnet-stats"] = {"get": {
            "summary": "A port's data-plane counters (bandwidth-limit meters)",
            "tags": ["ports"],
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK", **_json({"type": "object"})},
                          "501": {"description": "The back-end keeps no statistics"},
                          **_errors(401, 404)}}}
    paths["/v2.0/extensions"] = {"get": {"summary": "List enabled API extensions",
                                         "responses": {"200": {"description": "OK"},
                                                       **_errors(401)}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "qnet network API (Neutron v2.0 shape)", "version": "2.0"},
        "servers": [{"url": server_url}],
        "components": {"schemas": schemas, "securitySchemes": {
            "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}}},
        "security": [{"token": []}],
        "paths": paths,
    }
