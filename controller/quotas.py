"""Quotas (Neutron's ``quotas`` extension) on what draws on pools that projects share.

A floating IP and a router's gateway each take an address of an external network, which every
project draws on: without a cap, one project could take them all and leave the others none.
So each project may hold at most ``quota_floatingip`` floating IPs and ``quota_router``
routers (Neutron's defaults, 50 and 10; -1: no limit); an admin changes a project's limits with
``PUT /v2.0/quotas/{project_id}`` and puts them back to the defaults with ``DELETE``.

A create checks the count in its own transaction (409 ``OverQuota``, nothing changed). Two
creates of one project racing on two instances of a cluster may both pass at the limit, as in
Neutron without reservations: the cap is against exhausting a pool, not an exact count.
"""
from sqlalchemy import delete, func, select

from controller import errors
from controller.models import FloatingIP, Quota, Router

#: the resources with a quota: (model counted by project_id, CoreConfig field of the default)
COUNTED = {"floatingip": (FloatingIP, "quota_floatingip"), "router": (Router, "quota_router")}


class QuotaManager:
    """``/v2.0/quotas``: one item per project, ``{project_id, tenant_id, floatingip, router}``;
    the list holds the projects whose limits differ from the defaults (admin only)."""

    resource = "quota"
    collection = "quotas"

    def __init__(self, core):
        self.core = core

    def defaults(self):
        return {name: getattr(self.core.config, field) for name, (_, field) in COUNTED.items()}

    def limits(self, session, project_id):
        rows = session.execute(select(Quota.resource, Quota.limit).where(
            Quota.project_id == project_id)).all()
        return {**self.defaults(), **dict(rows)}

    def check(self, session, project_id, resource):
        """Refuse (409 OverQuota) a new ``resource`` that ``project_id`` has no room for."""
        limit = self.limits(session, project_id)[resource]
        if limit < 0:
            return
        model = COUNTED[resource][0]
        used = session.scalar(select(func.count()).select_from(model).where(
            model.project_id == project_id))
        if used >= limit:
            raise errors.OverQuota(overs=[resource])

    def _authorize(self, ctx, action, project_id):
        if len(project_id) > 64:
            raise errors.InvalidInput(error=f"project id {project_id[:64]}... is longer than "
                                            "64 characters")
        self.core.policy.enforce(ctx, f"{action}_quota", {"project_id": project_id,
                                                          "tenant_id": project_id})

    @staticmethod
    def _body(project_id, limits):
        return {"project_id": project_id, "tenant_id": project_id, **limits}

    # -- the API ---------------------------------------------------------------------------------
    def get(self, ctx, project_id):
        self._authorize(ctx, "get", project_id)
        with self.core.db.read() as session:
            return self._body(project_id, self.limits(session, project_id))

    def list(self, ctx, filters=None, sorts=(), limit=None, marker=None, page_reverse=False):
        self._authorize(ctx, "get", "")          # every project's: admin only
        with self.core.db.read() as session:
            rows = session.execute(select(Quota.project_id, Quota.resource, Quota.limit)
                                   .order_by(Quota.project_id)).all()
        own = {}
        for project_id, resource, limit in rows:
            own.setdefault(project_id, {})[resource] = limit
        return [self._body(p, {**self.defaults(), **limits}) for p, limits in own.items()], False

    def update(self, ctx, project_id, attrs):
        self._authorize(ctx, "update", project_id)

        def work(session):
            for name in COUNTED.keys() & attrs.keys():
                session.merge(Quota(project_id=project_id, resource=name, limit=attrs[name]))
            session.flush()
            return self._body(project_id, self.limits(session, project_id)), []

        return self.core.write(work)

    def delete(self, ctx, project_id):
        self._authorize(ctx, "delete", project_id)
        self.core.write(lambda session: (session.execute(
            delete(Quota).where(Quota.project_id == project_id)), []))
