"""Database engine and transactions.

Every API write runs inside ``Database.write()``: one transaction that commits whole or not at all.
Writes in one process are serialised by a lock (cheap, and it keeps SQLite free of "database is
locked" errors); writers in other processes are kept honest by the unique constraints, and a write
that loses such a race is retried from the start by ``run_write``.
"""
import contextlib
import logging
import random
import threading
import time

from sqlalchemy import MetaData, create_engine, event, inspect
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex, CreateTable

from controller import errors
from controller.models import Base

LOG = logging.getLogger(__name__)
WRITE_RETRIES = 10


def _tune_sqlite(dbapi_conn, _record):
    # Let SQLAlchemy's "begin" event issue BEGIN itself: pysqlite would defer it to the first
    # write, so a read-then-write (check an IP is free, then take it) would not be atomic.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets readers run while a writer commits; NORMAL sync is still crash-safe in WAL mode.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _add_missing_columns(engine):
    """Add the model's nullable columns that an existing database's tables lack.

    Like indexes (below), a column added to the model later (such as ports.qos_policy_id)
    never reaches a table ``create_all`` finds already there. Only nullable columns without a
    constraint are added this way, which both SQLite and PostgreSQL do in place; another
    process that won the race to add the same column is not an error.
    """
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable or column.foreign_keys or column.unique:
                raise RuntimeError(f"cannot add column {table.name}.{column.name} to an "
                                   "existing database: not a plain nullable column")
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(
                        f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}')
            except OperationalError as exc:
                if "duplicate column" not in str(exc.orig).lower():
                    raise
            except ProgrammingError as exc:  # PostgreSQL: another process added it first
                if "already exists" not in str(exc.orig):
                    raise


def _add_missing_indexes(engine):
    """Create the model's indexes that an existing database lacks.

    ``create_all`` only makes missing tables, so an index added to the model later (such as
    ix_ports_network_id_id) would never reach a database created before it. IF NOT EXISTS keeps
    two processes starting at once from tripping over each other.
    """
    with engine.begin() as conn:
        inspector = inspect(conn)
        for table in Base.metadata.sorted_tables:
            present = {ix["name"] for ix in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in present:
                    conn.execute(CreateIndex(index, if_not_exists=True))


def _scope_attachments_to_projects(engine):
    """Drop the database-wide uniqueness of ports.attachment that databases made before
    attachments were scoped to their project still carry (the per-project unique index
    replaces it, see models.Port).

    PostgreSQL drops the named constraint. SQLite cannot drop a constraint written into its
    CREATE TABLE, so the table is rebuilt as the model declares it, rows copied, in one
    transaction with foreign keys off (its addresses must not cascade away with it).
    """
    inspector = inspect(engine)
    if not inspector.has_table("ports"):
        return
    old = [u for u in inspector.get_unique_constraints("ports")
           if u["column_names"] == ["attachment"]]
    if not old:
        return
    LOG.warning("scoping ports.attachment to projects: dropping its database-wide "
                "uniqueness (one-time upgrade)")
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql(f'ALTER TABLE ports DROP CONSTRAINT "{old[0]["name"]}"')
        return
    scratch = MetaData()  # a copy, so that the model's own metadata never holds the new name
    Base.metadata.tables["networks"].to_metadata(scratch)  # for the foreign key
    ports = Base.metadata.tables["ports"]
    rebuilt = ports.to_metadata(scratch, name="ports_rebuilt")
    rebuilt.indexes.clear()  # made under their own names once the table is back (below)
    columns = ", ".join(c.name for c in ports.columns)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection  # PRAGMA foreign_keys only works outside BEGIN
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                conn.execute(CreateTable(rebuilt))
                conn.exec_driver_sql(
                    f"INSERT INTO ports_rebuilt ({columns}) SELECT {columns} FROM ports")
                conn.exec_driver_sql("DROP TABLE ports")
                conn.exec_driver_sql("ALTER TABLE ports_rebuilt RENAME TO ports")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


class Database:
    """Owns the engine; hands out read sessions and all-or-nothing write transactions."""

    def __init__(self, url):
        self.url = url
        kwargs = {}
        if url.startswith("sqlite"):
            # Green threads look like threads to sqlite3; access is serialised by us.
            kwargs["connect_args"] = {"check_same_thread": False}
            if url in ("sqlite://", "sqlite:///:memory:"):
                kwargs["poolclass"] = StaticPool
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = create_engine(url, **kwargs)
        self.write_engine = self.engine
        if url.startswith("sqlite"):
            memory = kwargs.get("poolclass") is StaticPool
            # Writers take SQLite's write lock up front (BEGIN IMMEDIATE): writers in other
            # processes wait their turn (busy_timeout) instead of failing half-way.
            self.write_engine = self.engine if memory else create_engine(url, **kwargs)
            engines = {self.engine: "BEGIN", self.write_engine: "BEGIN IMMEDIATE"}
            for engine, begin in engines.items():  # one engine when in memory
                event.listen(engine, "connect", _tune_sqlite)
                event.listen(engine, "begin",
                             lambda conn, sql=begin: conn.exec_driver_sql(sql))
        Base.metadata.create_all(self.write_engine)
        _add_missing_columns(self.write_engine)
        _scope_attachments_to_projects(self.write_engine)
        _add_missing_indexes(self.write_engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        self._write_lock = threading.Lock()

    @contextlib.contextmanager
    def read(self):
        with self.sessions() as session:
            yield session

    def run_write(self, work):
        """Run ``work(session)`` in one transaction and return its result.

        A unique-constraint violation means another writer took the value we chose; the whole
        transaction is rolled back and run again, so its checks see the winner and either pick
        another value or report a clear conflict.
        """
        for attempt in range(WRITE_RETRIES):
            try:
                with self._write_lock, self.write_sessions() as session, session.begin():
                    return work(session)
            except IntegrityError as exc:
                LOG.info("write lost a race (attempt %d), retrying: %s", attempt + 1, exc.orig)
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
            except OperationalError as exc:
                if "locked" not in str(exc.orig):
                    raise
                LOG.info("database busy (attempt %d), retrying", attempt + 1)
        raise errors.RetryExhausted()

    def dispose(self):
        self.engine.dispose()
        self.write_engine.dispose()
