"""One ``qnet serve`` among several on one PostgreSQL database (docs/cluster.md).

Every instance serves the API, follows the change log (controller/changelog.py) and keeps its
back-end's desired state current; one of them, the *master*, programs the switches. Who is
master is decided by PostgreSQL, not by the instances talking to each other:

* the ``switches`` row of ``cluster_leases`` names its holder, a *generation* and when the lease
  expires (the database's clock, so the instances' clocks do not matter). The holder renews it
  every ``TICK``; another instance takes it, with the next generation, when it has expired
  (the holder is paused, or cut off from the database) or at once when the holder's process is
  gone: each instance records the PostgreSQL backend of its change-log listener, and a
  backend missing from ``pg_stat_activity`` is a dead holder (``kill -9`` closes its socket).
* the master announces the generation to every switch in an OpenFlow 1.3 role request before
  it writes to it (apps/reconcile.py). A switch refuses a role request with an older
  generation and turns every other controller connection into a slave, which may not write:
  a master that was paused and comes back finds its flow-mods refused by the switches
  themselves, whatever it believes.
* a master that cannot renew stops writing when its lease runs out by its own clock
  (``LEASE_TTL`` after its last renewal was sent), before the database lets another take it.

On SQLite there is one instance: no lease, no role requests (the back-end is always master),
but the change log is still followed and checked (``ClusterMember.run_follower``).
"""
import dataclasses
import logging
import os
import select
import socket
import time

from sqlalchemy import select as sql_select, text
from sqlalchemy.exc import IntegrityError

from controller import changelog
from controller.models import Instance, Lease, utcnow

LOG = logging.getLogger(__name__)
LEASE = "switches"
#: seconds a lease lasts without renewal (what a paused master costs before a standby takes over)
LEASE_TTL = 3.0
#: seconds between lease renewals, and between a standby's attempts to take the lease
TICK = 0.2
#: seconds between heartbeats (the instances table: ``qnet-manage cluster status``)
HEARTBEAT = 1.0
#: seconds between consistency checks of the in-memory model against the database
CHECK_INTERVAL = 60.0
#: seconds between trims of the change log
TRIM_INTERVAL = 600.0
#: an instance that read the log to its end longer ago than this is not ready (/readyz)
READY_LAG = 5.0


def is_postgresql(db):
    return db.engine.dialect.name == "postgresql"


def db_clock(session):
    """The database's clock in seconds since the epoch: what leases and heartbeats compare."""
    if session.get_bind().dialect.name == "postgresql":
        return float(session.scalar(text("SELECT extract(epoch FROM clock_timestamp())")))
    return float(session.scalar(text("SELECT (julianday('now') - 2440587.5) * 86400.0")))


class Listener:
    """A PostgreSQL connection of its own that LISTENs on the change log's channel. Its backend
    is this process's sign of life for the others (it dies with the process)."""

    def __init__(self, engine):
        import psycopg  # only needed on PostgreSQL (setup.py extra "postgresql")
        url = engine.url.set(drivername="postgresql")
        self.conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        self.conn.execute(f"LISTEN {changelog.CHANNEL}")
        self.backend_pid = self.conn.info.backend_pid

    def wait(self, timeout):
        """Wait up to ``timeout`` s for notifications; True if some arrived (all are taken)."""
        ready, _, _ = select.select([self.conn.fileno()], [], [], timeout)
        if not ready:
            return False
        pgconn = self.conn.pgconn
        pgconn.consume_input()
        if pgconn.status != 0:        # CONNECTION_OK
            raise ConnectionError("change-log listener lost its connection")
        got = False
        while pgconn.notifies() is not None:
            got = True
        return got

    def close(self):
        self.conn.close()


@dataclasses.dataclass
class LeaseView:
    holder: str | None
    generation: int
    master: bool


class Mastership:
    """This instance's side of the ``switches`` lease. ``is_master()`` says whether it may
    write to switches now; ``generation`` is what it announces in role requests (the current
    generation, also while standby)."""

    def __init__(self, db, instance_id, on_change=lambda: None):
        self.db = db
        self.instance_id = instance_id
        self.on_change = on_change
        self.generation = 0
        self.holder = None
        self.master = False
        self.valid_until = 0.0
        self.fenced = None            # a generation the switches refused: never master with it
        self.took_over_at = None      # time.time() when this instance last became master
        self.told = (False, 0)        # (master, generation) ``on_change`` was last told of

    def is_master(self):
        return self.master and self.generation != self.fenced and \
            time.monotonic() < self.valid_until

    def tick(self):
        """Renew or try to take the lease (one transaction); tells ``on_change`` when this
        instance became master or stopped being it."""
        sent = time.monotonic()
        try:
            view = self.db.run_write(self._claim)
        except IntegrityError:         # two instances made the first lease at once
            view = None
        except Exception:
            LOG.exception("cannot reach the database to renew the lease")
            view = None
        if view is not None:
            if view.master and not (self.master and self.generation == view.generation):
                LOG.warning("this instance (%s) is now master of the switches, generation %d",
                            self.instance_id, view.generation)
                self.took_over_at = time.time()
            self.holder, self.generation, self.master = view.holder, view.generation, view.master
            if view.master:
                self.valid_until = sent + LEASE_TTL
        self._tell()

    def lapse(self):
        """No renewal is tried (the database is unreachable): tell ``on_change`` if the lease
        ran out by our clock, so the switches hear us stand by instead of just going silent."""
        self._tell()

    def _tell(self):
        """Log and tell ``on_change`` when ``is_master()`` or the generation differ from what
        was told last (``is_master()`` also turns false by itself, when the lease runs out
        unrenewed)."""
        now = (self.is_master(), self.generation)
        if now != self.told:
            if self.told[0] and not now[0]:
                LOG.warning("this instance (%s) is not master any more (generation %d, "
                            "holder %s)", self.instance_id, self.generation, self.holder)
            self.told = now
            self.on_change()

    def _claim(self, session):
        row = session.scalars(sql_select(Lease).where(Lease.name == LEASE)
                              .with_for_update()).first()
        now = db_clock(session)
        if row is None:
            row = Lease(name=LEASE, holder=self.instance_id, generation=1,
                        expires=now + LEASE_TTL)
            session.add(row)
        elif row.holder == self.instance_id and row.generation != self.fenced:
            row.expires = now + LEASE_TTL
        elif row.expires < now or self._holder_gone(session, row.holder):
            LOG.info("taking the lease from %s (%s)", row.holder,
                     "expired" if row.expires < now else "its process is gone")
            row.holder, row.generation = self.instance_id, row.generation + 1
            row.expires = now + LEASE_TTL
        session.flush()
        return LeaseView(row.holder, row.generation, row.holder == self.instance_id)

    @staticmethod
    def _holder_gone(session, holder):
        pid = session.scalar(sql_select(Instance.backend_pid).where(Instance.id == holder))
        if pid is None or session.get_bind().dialect.name != "postgresql":
            return False
        return not session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"),
                                  {"p": pid})

    def refused(self, generation):
        """A switch refused our role request or a write: another instance holds a newer
        generation. Stop writing until the lease is ours again with a new generation."""
        if self.fenced != generation:
            self.fenced = generation
            LOG.warning("a switch refused generation %d: standing by", generation)
            self._tell()


class ClusterMember:
    """What ``qnet serve`` runs besides the API and the back-end: the change-log follower and
    its periodic work (heartbeat, consistency check, trim), and on PostgreSQL the lease."""

    def __init__(self, core, api_url=""):
        self.core = core
        self.api_url = api_url
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.clustered = is_postgresql(core.db)
        self.mastership = Mastership(core.db, core.instance_id) if self.clustered else None
        self.listener = None
        self.running = True

    def stop(self):
        self.running = False

    # -- the follower ---------------------------------------------------------------------------
    def run_follower(self, sleep=time.sleep):
        """Follow the change log until ``stop``: wake on a notification or every
        ``changelog.CATCH_UP`` s; heartbeat, check and trim on their own periods."""
        next_heartbeat = next_check = next_trim = 0.0
        self.core.feed.followed = True
        while self.running:
            try:
                if self.clustered and self.listener is None:
                    self.listener = Listener(self.core.db.engine)
                    next_heartbeat = 0.0
                if self.listener is not None:
                    self.listener.wait(changelog.CATCH_UP)
                else:
                    sleep(changelog.CATCH_UP)
                self.core.feed.catch_up()
                now = time.monotonic()
                if now >= next_heartbeat:
                    self.heartbeat()
                    next_heartbeat = now + HEARTBEAT
                if now >= next_check:
                    if next_check:     # not right at start: the model was just read
                        self.core.feed.check()
                    next_check = now + CHECK_INTERVAL
                if now >= next_trim:
                    self.core.feed.trim()
                    next_trim = now + TRIM_INTERVAL
            except Exception:
                LOG.exception("change-log follower failed; retrying")
                self._drop_listener()
                sleep(changelog.CATCH_UP)
        self._drop_listener()

    def _drop_listener(self):
        if self.listener is not None:
            try:
                self.listener.close()
            except Exception:
                LOG.debug("closing the listener failed", exc_info=True)
            self.listener = None

    def heartbeat(self):
        feed = self.core.feed

        def work(session):
            now = db_clock(session)
            row = session.get(Instance, self.core.instance_id)
            if row is None:
                row = Instance(id=self.core.instance_id, name=self.name, api_url=self.api_url,
                               started_at=utcnow(), heartbeat=now)
                session.add(row)
            row.heartbeat = now
            row.applied_seq = feed.position or 0
            row.backend_pid = self.listener.backend_pid if self.listener else None
        self.core.db.run_write(work)

    # -- the lease ------------------------------------------------------------------------------
    def run_lease(self, sleep=time.sleep):
        """Renew or take the lease every TICK until ``stop`` (PostgreSQL only)."""
        while self.running and self.mastership is not None:
            if self.listener is not None:      # others must be able to tell we are alive
                self.mastership.tick()
            else:                              # cut off from the database: only our clock
                self.mastership.lapse()        # can end the mastership, so let it
            sleep(TICK)


def status(session):
    """The cluster as ``qnet-manage cluster status`` shows it: instances (alive or not, how far
    behind the change log), the lease (who masters the switches, generation)."""
    now = db_clock(session)
    last = changelog.last_seq(session)
    lease = session.get(Lease, LEASE)
    instances = []
    for row in session.scalars(sql_select(Instance).order_by(Instance.started_at)):
        age = now - row.heartbeat
        instances.append({
            "id": row.id, "name": row.name, "api_url": row.api_url,
            "alive": age < 3 * HEARTBEAT + 1,
            "heartbeat_age": round(age, 1),
            "behind": max(0, last - row.applied_seq),
            "role": ("master" if lease is not None and lease.holder == row.id
                     and lease.expires >= now else "standby"),
        })
    return {"change_log": last,
            "lease": None if lease is None else {
                "holder": lease.holder, "generation": lease.generation,
                "expires_in": round(lease.expires - now, 1)},
            "instances": instances}
