"""The Neutron v2.0 API shape: /v2.0/<collection>[/<id>], served generically for every resource
the registry knows, so an extension's new resource gets the same filters, fields, sorting and
pagination as the core ones.

A resource nested under another (``qos/policies/{policy_id}/bandwidth_limit_rules``) is served
the same way: the path's parameters (the *scope*) go to its manager's ``within(ctx, ...)``,
which answers 404 when the parent is not visible and serves the children of that parent only.
"""
import urllib.parse

from controller import errors
from controller.qos import DIRECTIONS, MAX_KBPS
from rest import types as t
from rest.wsgi import json_body, json_response

#: The QoS rule types and their parameters, in the shape of Neutron's rule-type details.
QOS_RULE_TYPES = {"bandwidth_limit": [
    {"parameter_name": "max_kbps", "parameter_type": "range",
     "parameter_values": {"start": 1, "end": MAX_KBPS}},
    {"parameter_name": "max_burst_kbps", "parameter_type": "range",
     "parameter_values": {"start": 0, "end": MAX_KBPS}},
    {"parameter_name": "direction", "parameter_type": "choices",
     "parameter_values": list(DIRECTIONS)}]}
LIST_PARAMS = {"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir"}


def render_error(exc):
    return json_response({"NeutronError": {"type": exc.type, "message": str(exc),
                                            "detail": exc.detail}}, exc.status)


class V2Api:
    def __init__(self, core, registry, max_limit=None):
        self.core = core
        self.registry = registry
        self.max_limit = max_limit
        self._visible = {}

    def register(self, router):
        router.add("GET", "/v2.0", self.index, render_error)
        router.add("GET", "/v2.0/extensions", self.list_extensions, render_error)
        router.add("GET", "/v2.0/extensions/{alias}", self.show_extension, render_error)
        if self.registry.enabled("qnet-port-stats"):
            router.add("GET", "/v2.0/ports/{id}/qnet-stats", self.port_stats, render_error)
        if self.registry.enabled("qos"):
            router.add("GET", "/v2.0/qos/rule-types", self.list_rule_types, render_error)
            router.add("GET", "/v2.0/qos/rule-types/{type}", self.show_rule_type, render_error)
        for spec in self.registry.resources.values():
            base = "/v2.0/" + spec.url
            bind = (lambda f, s: lambda req, ctx, **kw: f(req, ctx, s, **kw))
            router.add("GET", base, bind(self.list, spec), render_error)
            router.add("GET", base + "/{id}", bind(self.show, spec), render_error)
            if not spec.read_only:
                if spec.creatable:
                    router.add("POST", base, bind(self.create, spec), render_error)
                router.add("PUT", base + "/{id}", bind(self.update, spec), render_error)
                router.add("DELETE", base + "/{id}", bind(self.delete, spec), render_error)
            for name in spec.actions:
                router.add("PUT", f"{base}/{{id}}/{name}",
                           (lambda s, n: lambda req, ctx, **kw: self.act(req, ctx, s, n, **kw))(
                               spec, name), render_error)

    # -- discovery ------------------------------------------------------------------------------
    def index(self, req, ctx):
        return json_response({"resources": [
            {"name": s.resource, "collection": s.collection,
             "links": [{"rel": "self", "href": f"{req.host_url}/v2.0/{s.url}"}]}
            for s in self.registry.resources.values()]})

    def list_extensions(self, req, ctx):
        return json_response({"extensions": self.registry.describe()})

    def show_extension(self, req, ctx, alias):
        for ext in self.registry.describe():
            if ext["alias"] == alias:
                return json_response({"extension": ext})
        raise errors.NotFound(f"Extension {alias} could not be found.")

    # -- helpers --------------------------------------------------------------------------------
    def manager(self, spec, ctx, scope=None):
        # a collection only some may read at all (get_network_ip_availability: admin only)
        self.core.policy.enforce(ctx, f"get_{spec.resource}", {"project_id": ctx.project_id})
        manager = self.core.managers[spec.collection]
        return manager.within(ctx, **scope) if scope else manager

    def visible_keys(self, spec, ctx):
        """The attributes ``ctx`` may read (``get_<resource>:<attribute>`` rules)."""
        key = (spec.collection, self.core.policy.caller(ctx))
        if key not in self._visible:
            if len(self._visible) > 10000:  # one entry per collection and caller: bounded
                self._visible.clear()
            self._visible[key] = [name for name in spec.attributes
                                  if self.core.policy.readable(ctx, spec.resource, name)]
        return self._visible[key]

    def shape(self, item, keys):
        return {k: item[k] for k in keys if k in item}

    def parse_input(self, req, ctx, spec, action):
        """Validate a create/update body against the attribute map; return clean attrs."""
        body = json_body(req)
        if action == "create" and spec.collection in body:
            raise errors.BadRequest("Bulk creation is not supported: send one "
                                    f"{{\"{spec.resource}\": {{...}}}} per request.")
        if set(body) != {spec.resource} or not isinstance(body[spec.resource], dict):
            raise errors.BadRequest(
                f"The body must be a JSON object {{\"{spec.resource}\": {{...}}}}.")
        data = body[spec.resource]
        unknown = sorted(k for k in data if k not in spec.attributes)
        if unknown:
            raise errors.BadRequest("Unrecognized attribute(s) '" + ", ".join(unknown) + "'")
        verb = "POST" if action == "create" else "PUT"
        clean = {}
        for name, value in data.items():
            attr = spec.attributes[name]
            if not (attr.post if action == "create" else attr.put):
                raise errors.BadRequest(f"Attribute '{name}' not allowed in {verb}")
            if value is None:
                if not attr.nullable:
                    raise errors.InvalidInput(error=f"'{name}' may not be null")
                clean[name] = None
            else:
                clean[name] = attr.type.convert(name, value)
        if action == "create":
            missing = sorted(n for n, a in spec.attributes.items() if a.required and n not in clean)
            if missing:
                raise errors.BadRequest("Missing attribute(s): " + ", ".join(missing))
        return clean

    def parse_query(self, req, ctx, spec):
        params = req.GET.dict_of_lists()
        keys = self.visible_keys(spec, ctx)
        filters = {}
        for name, values in params.items():
            if name in LIST_PARAMS:
                continue
            attr = spec.attributes.get(name)
            if attr is None or name not in keys:
                raise errors.BadRequest(f"{name} is not a valid filter for {spec.collection}")
            if not attr.filter:
                raise errors.BadRequest(f"Filtering on {name} is not supported")
            filters[name] = [None if (v == "" and attr.nullable)
                             else attr.type.parse_query(name, v) for v in values]
        sort_keys, sort_dirs = params.get("sort_key", []), params.get("sort_dir", [])
        if sort_dirs and len(sort_dirs) != len(sort_keys):
            raise errors.BadRequest("The number of sort_key and sort_dir must be the same")
        sorts = []
        for i, name in enumerate(sort_keys):
            attr = spec.attributes.get(name)
            if attr is None or not attr.sort or name not in keys:
                raise errors.BadRequest(f"{name} is not a valid sort_key for {spec.collection}")
            direction = sort_dirs[i] if sort_dirs else "asc"
            if direction not in ("asc", "desc"):
                raise errors.BadRequest(f"sort_dir must be asc or desc, not {direction}")
            sorts.append((name, direction))
        limit = None
        if params.get("limit"):
            text = params["limit"][-1]
            if not text.isascii() or not text.isdigit():  # "²".isdigit(), but int() refuses it
                raise errors.BadRequest(f"limit must be a non-negative integer, not '{text}'")
            limit = min(int(text), t.INT32_MAX) or None  # the database takes no larger LIMIT
            if self.max_limit and (limit is None or limit > self.max_limit):
                limit = self.max_limit
        elif self.max_limit:  # as Neutron's pagination_max_limit: caps unbounded lists too
            limit = self.max_limit
        marker = params.get("marker", [None])[-1]
        if marker is not None:  # any UUID will do (unknown: an empty page), but only a UUID
            marker = t.Uuid().convert("marker", marker)
        reverse = t.Boolean().parse_query("page_reverse",
                                          params.get("page_reverse", ["false"])[-1])
        fields = [f for f in params.get("fields", []) if f in keys]
        return filters, sorts, limit, marker, reverse, fields

    def links(self, req, spec, items, more, limit, marker, reverse, scope):
        """Neutron-style <collection>_links: next/previous hrefs that carry every other param."""
        if limit is None or not items:
            return None
        base = {k: v for k, v in req.GET.items() if k not in ("marker", "page_reverse")}
        url = f"{req.host_url}/v2.0/{spec.url.format(**scope)}?"
        out = []
        has_next, has_prev = (marker is not None, more) if reverse else (more, marker is not None)
        if has_next:
            q = list(base.items()) + [("marker", items[-1]["id"])]
            out.append({"rel": "next", "href": url + urllib.parse.urlencode(q)})
        if has_prev:
            q = list(base.items()) + [("marker", items[0]["id"]), ("page_reverse", "True")]
            out.append({"rel": "previous", "href": url + urllib.parse.urlencode(q)})
        return out

    # -- handlers -------------------------------------------------------------------------------
    def list(self, req, ctx, spec, **scope):
        manager = self.manager(spec, ctx, scope)
        filters, sorts, limit, marker, reverse, fields = self.parse_query(req, ctx, spec)
        items, more = manager.list(ctx, filters, sorts, limit, marker, reverse)
        keys = fields or self.visible_keys(spec, ctx)
        body = {spec.collection: [self.shape(i, keys) for i in items]}
        links = self.links(req, spec, items, more, limit, marker, reverse, scope)
        if links is not None:
            body[spec.collection + "_links"] = links
        return json_response(body)

    def show(self, req, ctx, spec, id, **scope):
        manager = self.manager(spec, ctx, scope)
        fields = [f for f in req.GET.getall("fields") if f in self.visible_keys(spec, ctx)]
        item = manager.get(ctx, id)
        return json_response({spec.resource: self.shape(item, fields or
                                                        self.visible_keys(spec, ctx))})

    def create(self, req, ctx, spec, **scope):
        manager = self.manager(spec, ctx, scope)
        attrs = self.parse_input(req, ctx, spec, "create")
        item = manager.create(ctx, attrs)
        return json_response({spec.resource: self.shape(item, self.visible_keys(spec, ctx))},
                             201)

    def update(self, req, ctx, spec, id, **scope):
        manager = self.manager(spec, ctx, scope)
        attrs = self.parse_input(req, ctx, spec, "update")
        item = manager.update(ctx, id, attrs)
        return json_response({spec.resource: self.shape(item, self.visible_keys(spec, ctx))})

    def delete(self, req, ctx, spec, id, **scope):
        self.manager(spec, ctx, scope).delete(ctx, id)
        return json_response(None, 204)

    def act(self, req, ctx, spec, name, id, **scope):
        """A member action: its body checked against the action's record, its answer the
        manager's, unwrapped (as Neutron's add_router_interface answers)."""
        manager = self.manager(spec, ctx, scope)
        attrs = spec.actions[name].request.convert(name, json_body(req))
        return json_response(getattr(manager, name)(ctx, id, attrs))

    def list_rule_types(self, req, ctx):
        """The QoS rule types this service enforces (``openstack network qos rule type
        list``); Neutron's filters for it are about drivers, of which qnet has one."""
        return json_response({"rule_types": [{"type": t} for t in QOS_RULE_TYPES]})

    def show_rule_type(self, req, ctx, type):
        if type not in QOS_RULE_TYPES:
            raise errors.NotFound(f"QoS rule type {type} could not be found.")
        return json_response({"rule_type": {"type": type, "drivers": [
            {"name": "qnet", "supported_parameters": QOS_RULE_TYPES[type]}]}})

    def port_stats(self, req, ctx, id):
        return json_response({"port_stats": self.core.ports.stats(ctx, id)})
