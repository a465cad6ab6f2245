"""The dashboard at /ui/, served by ``qnet serve`` itself (no separate web server).

The server renders the page (its login form fits the auth mode) and serves one script and one
style sheet from rest/ui/; the script calls the same REST API as every other client, with the
user's own token (or noauth project), so the API's policy is the page's: it can do nothing the
API would refuse and shows nothing the API hides. No front-end build and no library: plain
DOM calls and SVG, polling for live updates (docs/observability.md).
"""
import html
import os

import webob

from controller import errors

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui")
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
#: The page runs only its own script and style: no inline code, nothing from elsewhere.
CSP = "default-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"


def _read(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


def _response(body, content_type):
    resp = webob.Response(body=body.encode(), content_type=content_type, charset="utf-8")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.cache_control = "no-cache"
    return resp


def register(router, auth, noauth_project):
    page = _read("index.html").replace("{auth}", html.escape(auth)).replace(
        "{noauth_project}", html.escape(noauth_project or ""))
    files = {name: (_read(name), kind) for name, kind in STATIC.items()}

    def index(req, ctx):
        return _response(page, "text/html")

    def static(req, ctx, name):
        if name not in files:
            raise errors.NotFound(f"The resource /ui/{name} does not exist.")
        return _response(*files[name])

    router.add("GET", "/ui", index, public=True)
    router.add("GET", "/ui/{name}", static, public=True)
