"""``Client``: one object per server and identity, one ``Resource`` per collection.

Every collection offers the same verbs (list/iter/get/find/create/update/delete), so the CLI and
the labs drive networks, subnets and ports -- and the extensions' resources -- the same way.
"""
import re
import urllib.parse

import requests

from qnetclient import errors
from qnetclient.settings import DEFAULT_URL, Settings

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def _query_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""                       # the API's spelling of "is null" in filters
    return value


class Resource:
    """One v2.0 collection, e.g. ``Resource(client, "network", "networks")``."""

    def __init__(self, client, resource, collection, path=None, owned=True, label=None):
        """``owned``: the items carry a project_id (an admin acting for a project sets it
        on create and filters lists by it). ``label``: the resource's name in messages."""
        self.client = client
        self.resource, self.collection = resource, collection
        self.label = label or resource
        self.path = "/v2.0/" + (path or collection)
        self.owned = owned

    def iter(self, page_size=None, **filters):
        """Yield every matching item, following the server's ``next`` links page by page
        (also when the server caps pages by itself)."""
        params = {k: ([_query_value(x) for x in v] if isinstance(v, (list, tuple))
                      else _query_value(v)) for k, v in filters.items()}
        if self.owned and self.client.owner and "project_id" not in params:
            params["project_id"] = self.client.owner
        if page_size:
            params["limit"] = page_size
        path = self.path
        while path:
            body = self.client.request("GET", path, params=params)
            yield from body[self.collection]
            nxt = [link["href"] for link in body.get(self.collection + "_links", [])
                   if link.get("rel") == "next"]
            if not nxt:
                break
            # keep our base URL (the server may sit behind a proxy): take path and query
            href = urllib.parse.urlsplit(nxt[0])
            path, params = href.path + "?" + href.query, None

    def list(self, **filters):
        return list(self.iter(**filters))

    def get(self, id_):
        return self.client.request("GET", f"{self.path}/{id_}")[self.resource]

    def find(self, name_or_id):
        """The item with this id, else the only one with this name; ``NotFound`` if none,
        ``Ambiguous`` if several share the name."""
        if UUID.match(name_or_id):
            try:
                return self.get(name_or_id)
            except errors.NotFound:
                pass
        matches = self.list(name=name_or_id)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise errors.NotFound(f"No {self.label} with name or id '{name_or_id}'.",
                                  status=404)
        raise errors.Ambiguous(
            f"{len(matches)} {self.collection} are named '{name_or_id}' "
            f"({', '.join(m['id'] for m in matches)}): use an id.")

    def create(self, **attrs):
        if self.owned and self.client.owner:
            attrs.setdefault("project_id", self.client.owner)
        return self.client.request("POST", self.path, {self.resource: attrs})[self.resource]

    def update(self, id_, **attrs):
        return self.client.request("PUT", f"{self.path}/{id_}",
                                   {self.resource: attrs})[self.resource]

    def delete(self, id_):
        self.client.request("DELETE", f"{self.path}/{id_}")


class Ports(Resource):
    def attach(self, id_, interface_id):
        """Plug ``interface_id`` (e.g. nova.example.com/<tenant>/server/<id>/eth0) in."""
        return self.update(id_, attachment=interface_id)

    def detach(self, id_):
        return self.update(id_, attachment=None)

    def stats(self, id_):
        """The back-end's counters of a port (e.g. what its bandwidth-limit meters passed
        and dropped)."""
        return self.client.request("GET", f"{self.path}/{id_}/qnet-stats")["port_stats"]


class Routers(Resource):
    def add_interface(self, id_, subnet_id=None, port_id=None):
        """Attach a subnet (the router takes its gateway address) or a free port."""
        return self._interface("add", id_, subnet_id, port_id)

    def remove_interface(self, id_, subnet_id=None, port_id=None):
        """Detach a subnet or port (the interface's port is deleted)."""
        return self._interface("remove", id_, subnet_id, port_id)

    def _interface(self, verb, id_, subnet_id, port_id):
        body = {k: v for k, v in (("subnet_id", subnet_id), ("port_id", port_id)) if v}
        return self.client.request("PUT", f"{self.path}/{id_}/{verb}_router_interface", body)


class AddressGroups(Resource):
    def add_addresses(self, id_, addresses):
        """Add CIDRs to an address group; the group as it is then."""
        return self._addresses("add", id_, addresses)

    def remove_addresses(self, id_, addresses):
        """Remove CIDRs from an address group; the group as it is then."""
        return self._addresses("remove", id_, addresses)

    def _addresses(self, verb, id_, addresses):
        return self.client.request("PUT", f"{self.path}/{id_}/{verb}_addresses",
                                   {"addresses": list(addresses)})["address_group"]


class FloatingIPs(Resource):
    def find(self, address_or_id):
        """A floating IP by id or by its address (floating IPs have no names)."""
        if UUID.match(address_or_id):
            return self.get(address_or_id)
        matches = self.list(floating_ip_address=address_or_id)
        if not matches:
            raise errors.NotFound(f"No floating IP with address or id '{address_or_id}'.",
                                  status=404)
        return matches[0]


class Client:
    """``Client(url, token=T)``; on a noauth server ``Client(url, project="demo")``.

    With a token, ``project`` names the project an admin token creates in and lists from.
    """

    def __init__(self, url=None, token=None, project=None, admin=False, timeout=30.0,
                 settings=None):
        s = settings or Settings(url=url or DEFAULT_URL, token=token, project=project,
                                 admin=admin, timeout=timeout)
        self.url, self.timeout = s.url.rstrip("/"), s.timeout
        self.session = self._session(self.url)
        self.owner = None
        if s.token:
            self.session.headers["X-Auth-Token"] = s.token
            self.owner = s.project
        elif s.project:
            self.session.headers["X-Project-Id"] = s.project
        if s.admin:
            self.session.headers["X-Roles"] = "admin"
        self.networks = Resource(self, "network", "networks")
        self.subnets = Resource(self, "subnet", "subnets")
        self.ports = Ports(self, "port", "ports")
        self.qos_policies = Resource(self, "policy", "policies", path="qos/policies",
                                     label="QoS policy")
        self.security_groups = Resource(self, "security_group", "security_groups",
                                        path="security-groups", label="security group")
        self.security_group_rules = Resource(self, "security_group_rule",
                                             "security_group_rules", path="security-group-rules",
                                             owned=False, label="security group rule")
        self.address_groups = AddressGroups(self, "address_group", "address_groups",
                                            path="address-groups", label="address group")
        self.routers = Routers(self, "router", "routers")
        self.floating_ips = FloatingIPs(self, "floatingip", "floatingips", label="floating IP")
        self.rbac_policies = Resource(self, "rbac_policy", "rbac_policies",
                                      path="rbac-policies", owned=False, label="RBAC policy")

    @staticmethod
    def _session(url):
        """A requests session that read the environment (proxies and ``NO_PROXY``, the CA
        bundle, ~/.netrc) once, for ``url``'s server: every call goes there, and requests
        would otherwise read it all again on each call (file lookups included), which is a
        good part of a call's client-side time."""
        session = requests.Session()
        found = session.merge_environment_settings(url, {}, None, None, None)
        session.proxies.update(found["proxies"])
        session.verify = found["verify"]
        session.auth = requests.utils.get_netrc_auth(url)
        session.trust_env = False
        return session

    def qos_rules(self, policy_id):
        """The bandwidth limit rules of one QoS policy (at most one per direction)."""
        return Resource(self, "bandwidth_limit_rule", "bandwidth_limit_rules",
                        path=f"qos/policies/{policy_id}/bandwidth_limit_rules", owned=False)

    def request(self, method, path, body=None, params=None):
        """JSON in, JSON out; an error status raises the matching ``ClientError``."""
        try:
            resp = self.session.request(method, self.url + path, json=body, params=params,
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            why = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
            raise errors.ConnectionFailed(f"cannot reach qnet at {self.url}: "
                                          f"{why.group(0) if why else type(exc).__name__}"
                                          ) from None
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            data = None
        if resp.status_code >= 400:
            raise errors.from_response(resp.status_code, data,
                                       resp.text.strip()[:200] or resp.reason)
        return data

    def trace(self, port_id, to, live=False, **params):
        """What the data plane does with a packet from ``port_id`` to ``to`` (an IP or MAC
        address) and why: ``protocol``, ``dport``, ``src_ip``, ``src_mac`` shape the packet;
        ``live`` compares with what the switches hold."""
        query = {"port_id": port_id, "to": to,
                 **{k: v for k, v in params.items() if v is not None}}
        if live:
            query["live"] = "true"
        return self.request("GET", "/v2.0/qnet/trace", params=query)["trace"]

    def topology(self):
        """The fabric as the controller sees it (admins only)."""
        try:
            return self.request("GET", "/v2.0/qnet/topology")["topology"]
        except errors.NotFound as exc:
            raise errors.NotFound(f"{self.url} serves no topology (GET /v2.0/qnet/topology; "
                                  f"fabric mode): {exc.message}", status=404) from None
