"""The change log: how every instance of a cluster sees every committed change.

Several ``qnet serve`` processes may share one PostgreSQL database. Each keeps the logical model
in memory for its back-end, so each must learn of the writes the others commit. Every write of
the core appends one row per Change to ``change_log`` *in its own transaction* (``append``):
a change is logged if and only if it is committed. The row carries the Change's bodies and its
typed values (the dataclasses of controller/logical.py, written as JSON by ``typed_to_json``),
so a follower hands its plug-in the very Change the origin's plug-in saw, for any resource,
also one whose typed value the core builds from the tables rather than from the API body (a
router): a new resource needs nothing here, it is covered as soon as the core emits Changes.

``ChangeFeed`` follows the log. On PostgreSQL the writer also sends ``NOTIFY qnet_changes``
(delivered at commit), which wakes followers at once; they read every row after the last one
they handled, and also read every ``CATCH_UP`` seconds, so a lost notification costs latency,
never a change.

Numbers are handed out before commit, so a transaction may commit a lower number after a higher
one was read: the feed remembers such gaps and reads them again until they appear or
``GAP_TIMEOUT`` says they were rolled back. Changes to one row still commit in number order
(the row lock orders them), and a follower skips a row older than what it already delivered for
that resource (its own writes are delivered at commit, before the log is read back).

The feed also keeps a *mirror*: the typed value of every resource it handed the plug-in. The
periodic ``check`` compares it with the database (``controller/snapshot.py``, read in one
transaction) and hands the plug-in a Change for every difference: the safety net for whatever
the log could not say (a gap given up too early, rows trimmed while a follower was paused), and
the single instance's consistency check.
"""
import dataclasses
import datetime
import functools
import json
import logging
import time

from sqlalchemy import delete, func, insert, select, text, true

from controller import logical, snapshot as snapshots
from controller.context import Context
from controller.logical import Snapshot
from controller.models import ChangeRecord, utcnow
from controller.plugin import Change

LOG = logging.getLogger(__name__)
CHANNEL = "qnet_changes"
#: seconds between reads of the log when no notification arrives
CATCH_UP = 1.0
#: seconds a missing number is waited for before it is taken as rolled back
GAP_TIMEOUT = 10.0
#: more missing numbers than this at once: the follower fell behind what the log keeps
MAX_GAPS = 10000
#: rows read per query while catching up
BATCH = 1000
#: how long rows stay in the log (a follower paused longer is repaired by ``check``)
RETENTION = datetime.timedelta(hours=1)
#: Snapshot fields that are not resources
_NOT_RESOURCES = {"active_hosts"}


def resource_of_field(field):
    """The Change resource a Snapshot field holds: ``qos_policies`` -> ``qos_policy``."""
    return field[:-3] + "y" if field.endswith("ies") else field[:-1]


FIELDS = {resource_of_field(f.name): f.name for f in dataclasses.fields(Snapshot)
          if f.name not in _NOT_RESOURCES}


def subject_id(change):
    body = change.current
    return body["id"] if body is not None else change.subject.id


def _dump(body):
    return None if body is None else json.dumps(body, default=str, separators=(",", ":"))


def _plain(value):
    """A typed value as JSON-able data: dataclasses as objects naming their class."""
    names = _field_names(type(value))
    if names is not None:
        return {"__type__": type(value).__name__,
                **{name: _plain(getattr(value, name)) for name in names}}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


@functools.lru_cache(maxsize=None)
def _field_names(cls):
    """A dataclass's field names, or None: asked once per type, not per value (a cold start
    logs a Change of every port, each a tree of typed values)."""
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) \
        else None


def _typed(data):
    """The inverse of ``_plain``: the typed values hold tuples, never lists."""
    if isinstance(data, dict):
        fields = {k: _typed(v) for k, v in data.items() if k != "__type__"}
        return getattr(logical, data["__type__"])(**fields) if "__type__" in data else fields
    if isinstance(data, list):
        return tuple(_typed(v) for v in data)
    return data


def typed_to_json(value):
    return None if value is None else json.dumps(_plain(value), separators=(",", ":"))


def typed_from_json(text_):
    return None if text_ is None else _typed(json.loads(text_))


def append(session, changes, origin):
    """Log ``changes`` in ``session``'s transaction; returns their numbers (in order)."""
    if not changes:
        return []
    rows = [dict(origin=origin, resource=c.resource, resource_id=subject_id(c),
                 action=c.action, context=json.dumps(dataclasses.asdict(c.context)),
                 old=_dump(c.old), new=_dump(c.new),
                 before=typed_to_json(c.before), after=typed_to_json(c.after))
            for c in changes]
    # A Core insert: the rows are never read back as objects, and an ORM flush of them costs
    # a sixth of a port update's CPU (docs/benchmarks.md).
    seqs = session.execute(insert(ChangeRecord.__table__).returning(
        ChangeRecord.__table__.c.seq, sort_by_parameter_order=True), rows).scalars().all()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    return list(seqs)


def replay(record):
    """The Change a log row records, or None when it says nothing of the resource (a row
    written by hand: ``check`` repairs what its change did)."""
    if record.before is None and record.after is None:
        return None
    return Change(record.resource, record.action, Context(**json.loads(record.context)),
                  json.loads(record.old) if record.old else None,
                  json.loads(record.new) if record.new else None,
                  typed_from_json(record.before), typed_from_json(record.after))


def last_seq(session):
    return session.scalar(select(func.max(ChangeRecord.seq))) or 0


def consistent_read(session):
    """Make ``session``'s reads one snapshot of the database (PostgreSQL's default isolation
    gives each statement its own; SQLite's read transaction already is one)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


class ChangeFeed:
    """Delivers changes to the plug-in: the local ones at commit (``committed``), the other
    instances' ones from the log (``catch_up``), and repairs (``check``)."""

    def __init__(self, core, origin):
        self.core = core
        self.origin = origin
        self.position = None     # every number up to this one is handled (None: not following)
        self.highest = 0         # the highest number read
        self.above = set()       # numbers above ``position`` already handled
        self.gaps = {}           # missing number -> time.monotonic() it was first missed
        self.latest = {}         # (resource, id) -> number of the last change delivered
        self.mirror = None       # field -> {id: typed value} handed to the plug-in
        self.caught_up_at = None  # time.monotonic() of the last complete catch-up
        self.followed = False    # a follower runs (controller/cluster.py): ``lag`` means something
        self.delivered = 0       # changes from other instances delivered (tests, benches)
        self.repairs = 0         # differences ``check`` found and repaired

    # -- starting -----------------------------------------------------------------------------
    def begin(self):
        """Start following at the log's end; returns the Snapshot of the model at that point
        (the mirror starts from it, and so should the plug-in: ``Core.logical_snapshot``)."""
        with self.core.db.read() as session:
            consistent_read(session)
            seq = last_seq(session)
            snap = snapshots.snapshot(session)
        self.position = self.highest = seq
        self.mirror = mirror_of(snap)
        self.caught_up_at = time.monotonic()
        return snap

    # -- delivering ---------------------------------------------------------------------------
    def committed(self, changes, seqs):
        """The core committed ``changes`` (numbered ``seqs``): hand them to the plug-in."""
        for change, seq in zip(changes, seqs):
            self.deliver(change, seq)

    def deliver(self, change, seq):
        key = (change.resource, subject_id(change))
        if seq > self.latest.get(key, 0):
            self.latest[key] = seq
        try:
            self.core.plugin.notify(change)
        except Exception:  # the change is committed; the back-end must converge on its own
            LOG.exception("plug-in %s failed on %s", self.core.plugin.name, change.hook)
        if self.mirror is not None and change.resource in FIELDS:
            held = self.mirror[FIELDS[change.resource]]
            if change.after is None:
                held.pop(change.subject.id, None)
            else:
                held[change.subject.id] = change.after

    # -- following the log --------------------------------------------------------------------
    def catch_up(self):
        """Read and deliver every row not handled yet; returns how many were delivered."""
        if self.position is None:
            return 0
        delivered, check = 0, False
        while True:
            with self.core.db.read() as session:
                rows = session.scalars(
                    select(ChangeRecord).where(ChangeRecord.seq > self.position)
                    .where(ChangeRecord.seq.not_in(self.above) if self.above else true())
                    .order_by(ChangeRecord.seq).limit(BATCH)).all()
            for row in rows:
                check |= self._note(row.seq)
                if row.origin == self.origin or \
                        self.latest.get((row.resource, row.resource_id), 0) > row.seq:
                    continue
                change = replay(row)
                if change is None:
                    check = True
                    continue
                self.deliver(change, row.seq)
                delivered += 1
            self._advance()
            if len(rows) < BATCH:
                break
        self.delivered += delivered
        self.caught_up_at = time.monotonic()
        if check:
            self.check()
        return delivered

    def _note(self, seq):
        """Book-keep number ``seq`` as handled; True if numbers were missed beyond repair."""
        lost = False
        if seq > self.highest:
            missing = range(self.highest + 1, seq)
            if len(missing) + len(self.gaps) > MAX_GAPS:
                LOG.warning("change log: %d changes not seen (paused too long?): "
                            "checking against the database", len(missing))
                lost = True
            else:
                now = time.monotonic()
                self.gaps.update((m, now) for m in missing)
            self.highest = seq
        self.gaps.pop(seq, None)
        self.above.add(seq)
        return lost

    def _advance(self):
        """Move ``position`` past every handled number and every gap given up on."""
        expired = time.monotonic() - GAP_TIMEOUT
        while self.position < self.highest:
            nxt = self.position + 1
            if nxt in self.above:
                self.above.discard(nxt)
            elif nxt in self.gaps and self.gaps[nxt] < expired:
                del self.gaps[nxt]
            elif nxt in self.gaps:
                return
            self.position = nxt

    # -- the consistency check ----------------------------------------------------------------
    def check(self):
        """Compare what the plug-in was handed with the database and deliver a Change for each
        difference; returns the number of differences (None when not following).

        A resource delivered with a number above the snapshot's is newer than it: left alone.
        """
        if self.mirror is None:
            return None
        with self.core.db.read() as session:
            consistent_read(session)
            seq = last_seq(session)
            snap = snapshots.snapshot(session)
        found = 0
        for resource, field in FIELDS.items():
            held, now = self.mirror[field], {v.id: v for v in getattr(snap, field)}
            for id_ in held.keys() | now.keys():
                before, after = held.get(id_), now.get(id_)
                if before == after or self.latest.get((resource, id_), 0) > seq:
                    continue
                action = "created" if before is None else "deleted" if after is None \
                    else "updated"
                LOG.warning("consistency check: %s %s was missed (%s): repaired", resource,
                            id_, action)
                self.deliver(Change(resource, action, Context.admin(), None, None, before,
                                    after), seq)
                found += 1
        horizon = min(seq, self.position or 0)
        self.latest = {k: s for k, s in self.latest.items() if s > horizon}
        self.repairs += found
        return found

    def trim(self):
        """Drop rows older than RETENTION (the newest always stays: numbers never go back)."""
        def work(session):
            session.execute(delete(ChangeRecord).where(
                ChangeRecord.created_at < utcnow() - RETENTION,
                ChangeRecord.seq < last_seq(session)))
        self.core.db.run_write(work)

    def lag(self):
        """Seconds since the log was last read to its end (None when no follower runs)."""
        if not self.followed or self.caught_up_at is None:
            return None
        return time.monotonic() - self.caught_up_at


def mirror_of(snap):
    return {field: {v.id: v for v in getattr(snap, field)} for field in FIELDS.values()}
