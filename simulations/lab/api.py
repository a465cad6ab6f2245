"""A minimal client of qnet's v2.0 API for labs and benchmarks (the CLI issue brings the real one)."""
import requests


class ApiError(RuntimeError):
    def __init__(self, resp):
        self.status = resp.status_code
        try:
            body = resp.json()
            detail = body.get("NeutronError", body)
        except ValueError:
            detail = resp.text
        super().__init__(f"{resp.request.method} {resp.url} -> {resp.status_code}: {detail}")


class Api:
    """``Api(url, project='a')`` (noauth) or ``Api(url, token='qnet-...')``."""

    def __init__(self, url, project=None, token=None, admin=False):
        """With a token, ``project`` names the project an admin token creates things for;
        without one (noauth mode), it is sent as X-Project-Id."""
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.owner = None
        if token:
            self.session.headers["X-Auth-Token"] = token
            self.owner = project
        elif project:
            self.session.headers["X-Project-Id"] = project
        if admin:
            self.session.headers["X-Roles"] = "admin"

    def call(self, method, path, body=None):
        resp = self.session.request(method, self.url + path, json=body, timeout=30)
        if resp.status_code >= 400:
            raise ApiError(resp)
        return resp.json() if resp.content else None

    def create(self, resource, **attrs):
        if self.owner:
            attrs.setdefault("project_id", self.owner)
        return self.call("POST", f"/v2.0/{resource}s", {resource: attrs})[resource]

    def update(self, resource, id_, **attrs):
        return self.call("PUT", f"/v2.0/{resource}s/{id_}", {resource: attrs})[resource]

    def show(self, resource, id_):
        return self.call("GET", f"/v2.0/{resource}s/{id_}")[resource]

    def delete(self, resource, id_):
        self.call("DELETE", f"/v2.0/{resource}s/{id_}")

    def list(self, resource, **filters):
        if self.owner:
            filters.setdefault("project_id", self.owner)
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        return self.call("GET", f"/v2.0/{resource}s?{query}")[resource + "s"]
