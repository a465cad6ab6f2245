"""What every resource manager shares: visibility rules, lookup, and list queries.

Lists are filtered, sorted and paginated in SQL. Pagination is by keyset (the marker row's sort
values), so page N costs the same as page 1, and a limit+1 fetch tells whether there is a next page.
"""
import datetime
import uuid

from sqlalchemy import and_, bindparam, false, or_, select, true

from controller import errors
from controller.plugin import Change


def isoformat(value):
    """Neutron's timestamp form, 2026-01-02T03:04:05Z (UTC, whole seconds).

    datetime.isoformat gives the same text as strftime("%Y-%m-%dT%H:%M:%SZ") at half the cost,
    which shows when a list renders two timestamps for each of thousands of rows.
    """
    if not value:
        return None
    if value.tzinfo is not None:  # stored naive in UTC; never print an offset
        value = value.replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def standard_fields(row):
    """Neutron's standard attributes of a named resource's row, as the API answers them: id,
    name, description, project (and its tenant_id alias), timestamps, revision."""
    return {"id": row.id, "name": row.name, "description": row.description,
            "project_id": row.project_id, "tenant_id": row.project_id,
            "created_at": isoformat(row.created_at), "updated_at": isoformat(row.updated_at),
            "revision_number": row.revision_number}


def new_id():
    return str(uuid.uuid4())


def touch(row):
    """Mark ``row`` as changed by an update (Neutron's revision_number/updated_at)."""
    row.revision_number = (row.revision_number or 0) + 1
    row.updated_at = datetime.datetime.now(datetime.timezone.utc).replace(
        microsecond=0, tzinfo=None)


class ResourceManager:
    """Generic get/list for one model class; subclasses add create/update/delete."""

    resource = None          # 'network'
    collection = None        # 'networks'
    model = None             # SQLAlchemy class
    not_found = errors.NotFound
    #: API attribute -> model column name, for filtering and sorting.
    columns = {}
    #: Loader options for to_dict (e.g. selectinload of child rows).
    load_options = ()
    #: The same for ``find``'s single row, when other loaders do better for one row than
    #: for many (a join: one SELECT instead of one per child collection); None: load_options.
    find_options = None

    #: Values that are no privilege to state on create (``shared: false``): their rules are
    #: not judged then (controller/policy.py).
    defaults = {}

    def __init__(self, core):
        self.core = core

    # -- visibility and authorization ------------------------------------------------------
    def visible(self, ctx):
        """SQL condition for the rows ``ctx`` may see (admin: all; others: their own)."""
        if self.core.policy.is_admin(ctx):
            return true()
        return self.model.project_id == ctx.project_id

    def owner_of_new(self, ctx, attrs):
        """The project a new resource belongs to: the caller's, or the one the body names
        (whether the caller may name it is the ``create_<resource>:project_id`` rule)."""
        project = attrs.get("project_id") or attrs.get("tenant_id")
        if attrs.get("project_id") and attrs.get("tenant_id") and \
                attrs["project_id"] != attrs["tenant_id"]:
            raise errors.InvalidInput(error="project_id and tenant_id differ")
        if project is None:
            if ctx.project_id is None:
                raise errors.InvalidInput(error="project_id is required")
            return ctx.project_id
        return project

    def target(self, row):
        """What the rules of an action on ``row`` judge (see controller/policy.py)."""
        return {"project_id": row.project_id, "tenant_id": row.project_id}

    def authorize(self, ctx, action, target, attrs=None):
        """Refuse (403) unless the policy lets ``ctx`` do ``action`` with ``attrs``."""
        attrs = {("project_id" if k == "tenant_id" else k): v for k, v in (attrs or {}).items()}
        self.core.policy.enforce_write(ctx, action, self.resource, target, attrs,
                                       self.defaults)

    def check_owner(self, ctx, row, action, attrs=None):
        """Visible is not writable: a shared network is visible to all but owned by one."""
        self.authorize(ctx, action, self.target(row), attrs)

    # -- lookup ----------------------------------------------------------------------------
    def find(self, session, ctx, id_, for_update=False):
        """The row with ``id_`` if ``ctx`` may see it; otherwise not-found (never 403)."""
        if type(self).visible is ResourceManager.visible:
            admin = self.core.policy.is_admin(ctx)
            query, params = self._find_query(admin), {"id": id_}
            if not admin:
                params["project"] = ctx.project_id
        else:
            query, params = self._with_find_options(
                select(self.model).where(self.model.id == id_, self.visible(ctx))), None
        row = session.scalars(query, params).unique().first()
        if row is None:
            raise self.not_found(id=id_)
        return row

    def _with_find_options(self, query):
        options = self.load_options if self.find_options is None else self.find_options
        return query.options(*options) if options else query

    def _find_query(self, admin):
        """``find``'s statement under the plain visibility rule (admin: any row; others:
        their project's), built once per manager: building a statement costs more than
        running it, and every write starts with a ``find``."""
        key = "_find_admin" if admin else "_find_own"
        query = self.__dict__.get(key)
        if query is None:
            query = select(self.model).where(self.model.id == bindparam("id"))
            if not admin:
                query = query.where(self.model.project_id == bindparam("project"))
            query = self.__dict__[key] = self._with_find_options(query)
        return query

    def get(self, ctx, id_):
        with self.core.db.read() as session:
            return self.to_dict(self.find(session, ctx, id_))

    def to_dict(self, row):
        raise NotImplementedError

    # -- list ------------------------------------------------------------------------------
    def filter_clause(self, attr, values):
        """SQL condition for ``attr`` in ``values``; subclasses handle non-column attributes."""
        column = getattr(self.model, self.columns.get(attr, attr))
        return column.in_(values)

    def filter_for(self, ctx, attr, values):
        """SQL condition of a list filter for caller ``ctx``: ``filter_clause``, unless an
        attribute reads differently for different callers (a network's ``shared``)."""
        return self.filter_clause(attr, values)

    def list(self, ctx, filters=None, sorts=(), limit=None, marker=None, page_reverse=False):
        """Return (rows as dicts, more_rows_exist)."""
        query = self.list_select().where(self.visible(ctx))
        for attr, values in (filters or {}).items():
            query = query.where(self.filter_for(ctx, attr, values) if values else false())
        keys = [(getattr(self.model, self.columns.get(a, a)), d) for a, d in sorts]
        if not any(col.key == "id" for col, _ in keys):
            keys.append((self.model.id, "asc"))
        if page_reverse:
            keys = [(col, "desc" if d == "asc" else "asc") for col, d in keys]
        with self.core.db.read() as session:
            if marker is not None:
                # Only the sort values of the marker row are needed, not the whole object. The
                # marker is looked up within what the caller sees: another project's row would
                # otherwise leak its sort values (name, MAC...) through where the page starts.
                mrow = session.execute(select(*[col for col, _ in keys])
                                       .where(self.model.id == marker, self.visible(ctx))).first()
                if mrow is None:  # as Neutron: a vanished (or invisible) marker ends the listing
                    return [], False
                query = query.where(_after(keys, mrow))
            query = query.order_by(*[c.asc() if d == "asc" else c.desc() for c, d in keys])
            if limit is not None:
                query = query.limit(limit + 1)
            rows = self.list_rows(session, query)
            more = limit is not None and len(rows) > limit
            rows = rows[:limit] if limit is not None else rows
            if page_reverse:
                rows.reverse()
            return self.rows_to_dicts(session, rows), more

    # The three steps of a list that a manager may do its own way (ports read plain rows).
    def list_select(self):
        """The SELECT a list starts from (filters, order and limit are added to it)."""
        return select(self.model).options(*self.load_options)

    def list_rows(self, session, query):
        return session.scalars(query).all()

    def rows_to_dicts(self, session, rows):
        return [self.to_dict(r) for r in rows]

    # -- changes ---------------------------------------------------------------------------
    def change(self, ctx, action, old, new, resource=None):
        return Change(resource or self.resource, action, ctx, old, new)


def _after(keys, marker_row):
    """Keyset condition: rows strictly after the marker in the order given by ``keys``.

    ``marker_row`` holds the marker's value of each key, in the order of ``keys``.
    """
    clauses = []
    for i, (col, direction) in enumerate(keys):
        value = marker_row[i]
        equal_before = [c == marker_row[j] for j, (c, _) in enumerate(keys[:i])]
        beyond = col > value if direction == "asc" else col < value
        clauses.append(and_(*equal_before, beyond))
    return or_(*clauses)
