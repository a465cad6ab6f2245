"""Assembles the WSGI application: version discovery, OpenAPI, v1.0 and v2.0 routes."""
from rest import health, metrics, openapi, request_checks, topology, trace, ui, v1, v2
from rest.auth import Authenticator
from rest.extensions import Registry
from rest.wsgi import Router, json_response


def versions(req, ctx):
    """Neutron's discovery document: openstacksdk reads it before any /v2.0 call."""
    return json_response({"versions": [
        {"id": "v2.0", "status": "CURRENT",
         "links": [{"rel": "self", "href": f"{req.host_url}/v2.0/"}]},
        {"id": "v1.0", "status": "SUPPORTED",
         "links": [{"rel": "self", "href": f"{req.host_url}/v1.0/"}]},
    ]})


def build_app(core, auth="token", noauth_project="demo", extensions=None, max_limit=None,
              max_body=request_checks.DEFAULT_MAX_BODY):
    registry = Registry(extensions)
    registry.bind(core)
    router = Router(Authenticator(core.db, auth, noauth_project), v2.render_error,
                    {"/v1.0/": v1.render_error}, max_body=max_body)
    router.add("GET", "/", versions, public=True)
    document = openapi.build(registry)
    router.add("GET", "/openapi", lambda req, ctx: json_response(document), public=True)
    v2.V2Api(core, registry, max_limit).register(router)
    v1.V1Api(core, registry).register(router)
    topology.register(router, core)
    trace.register(router, core)
    metrics.register(router, core)
    health.register(router, core)
    ui.register(router, auth, noauth_project)
    return router
