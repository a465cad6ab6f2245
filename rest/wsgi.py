"""Small WSGI plumbing over webob: a regex router, JSON bodies in and out, error rendering.

Each API shape (v1.0, v2.0) registers routes with its own error renderer, so a failure deep in the
core comes back in the format the client of that shape expects.
"""
import json
import logging
import re
import time

import webob

from controller import errors
from rest import request_checks

LOG = logging.getLogger(__name__)


def json_response(body, status=200):
    resp = webob.Response(status=status, content_type="application/json", charset="utf-8")
    if body is not None:
        resp.body = json.dumps(body, separators=(",", ":")).encode()
    return resp


def json_body(req):
    """The request's JSON object, or MalformedRequestBody."""
    raw = req.body  # webob copies the body on every access: read it once
    if not raw:
        raise errors.MalformedRequestBody(reason="the body is empty")
    body = request_checks.loads(raw)
    if not isinstance(body, dict):
        raise errors.MalformedRequestBody(reason="the body must be a JSON object")
    return body


class Route:
    def __init__(self, method, pattern, handler, render_error, public=False):
        self.method, self.pattern = method, pattern
        self.regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")
        self.handler = handler
        self.render_error = render_error
        self.public = public


class Router:
    """Dispatches (method, path) to a handler ``handler(req, ctx, **path_params)``."""

    def __init__(self, authenticate, render_error, prefix_renderers=None,
                 max_body=request_checks.DEFAULT_MAX_BODY):
        self.routes = []
        self.max_body = max_body
        self.authenticate = authenticate
        self.render_error = render_error
        #: error format for URLs that match no route, by path prefix (e.g. "/v1.0/")
        self.prefix_renderers = dict(prefix_renderers or {})
        #: ``observe(route pattern or None, method, status, seconds)`` after every request
        #: (rest/metrics.py counts them)
        self.observe = None

    def add(self, method, pattern, handler, render_error=None, public=False):
        self.routes.append(Route(method, pattern, handler, render_error or self.render_error,
                                 public))

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        req = webob.Request(environ)
        method = req.method
        # The raw (undecoded) path picks the error format: a path that does not decode must
        # still be refused in the format of the API it was meant for.
        render = next((r for prefix, r in self.prefix_renderers.items()
                       if environ.get("PATH_INFO", "").startswith(prefix)), self.render_error)
        route, params = None, {}
        try:
            # webob decodes path_info from the environ on every access: take it once.
            path = request_checks.check_url(req)
            if path.endswith(".json"):  # old Quantum clients name the format in the URL
                path = req.path_info = path[:-len(".json")]
            # The first pattern that matches names the resource (``networks/detail`` before
            # ``networks/{net}``); only its methods are allowed, each listed once in Allow.
            allowed, resource = [], None
            for candidate in self.routes:
                if resource not in (None, candidate.pattern):
                    continue
                match = candidate.regex.match(path)
                if match:
                    render, resource = candidate.render_error, candidate.pattern
                    if candidate.method == method:
                        route, params = candidate, match.groupdict()
                        break
                    allowed.append(candidate.method)
            if route is None:
                if allowed:
                    resp = render(MethodNotAllowed(method=method, allowed=", ".join(allowed)))
                    resp.allow = allowed
                else:
                    resp = render(errors.NotFound(f"The resource {path} does not exist."))
            else:
                request_checks.read_body(req, self.max_body)
                ctx = None if route.public else self.authenticate(req)
                resp = route.handler(req, ctx, **params)
        except errors.QnetError as exc:
            resp = render(exc)
        except Exception:
            LOG.exception("%s %s failed", req.method, req.path_info)
            resp = render(errors.QnetError("Request failed: internal server error."))
        if self.observe is not None:
            self.observe(route and route.pattern, method, resp.status_code,
                         time.perf_counter() - started)
        return resp(environ, start_response)


class MethodNotAllowed(errors.QnetError):
    status = 405
    message = "Method {method} is not allowed here; allowed: {allowed}."
