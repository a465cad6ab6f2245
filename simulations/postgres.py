"""A private PostgreSQL server for the tests and the benches (the cluster's database): initdb in
a temporary directory, started as user ``postgres`` on a free loopback port, trust auth for user
``qnet``, and removed again on exit. Needs root (runuser) and the server binaries
(``apt-get install postgresql``; ``make setup`` installs them).

    with private_postgresql() as url:      # postgresql://qnet@127.0.0.1:<port>/qnet
        ...
"""
import contextlib
import glob
import os
import pathlib
import shutil
import subprocess
import tempfile

from simulations.serve import free_port

BINDIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


class Unavailable(RuntimeError):
    """No PostgreSQL here: binaries missing, or not root."""


def _as_postgres(cmd, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True,
                          capture_output=True, text=True, **kw)


@contextlib.contextmanager
def private_postgresql(settings=()):
    """Yield the URL of a fresh database on a server of its own; ``settings``: extra
    ``name=value`` server settings (e.g. ``max_connections=200``)."""
    if not BINDIRS:
        raise Unavailable("PostgreSQL server binaries not installed (apt-get install postgresql)")
    if os.geteuid() != 0:
        raise Unavailable("NOT ROOT: cannot start a private PostgreSQL as user postgres")
    bindir = BINDIRS[-1]
    # the server runs as postgres: a directory of its own, not the caller's private temp dir
    top = pathlib.Path(tempfile.mkdtemp(prefix="qnet-pg-"))
    shutil.chown(top, "postgres")
    data = top / "data"
    port = free_port()
    options = " ".join(f"-c {s}" for s in settings)
    try:
        _as_postgres([f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "qnet"])
        _as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(top / "log"), "-o",
                      f"-k {top} -p {port} -c listen_addresses=127.0.0.1 {options}", "start"])
        try:
            _as_postgres([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "qnet",
                          "qnet"])
            yield f"postgresql://qnet@127.0.0.1:{port}/qnet"
        finally:
            _as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop"])
    finally:
        shutil.rmtree(top, ignore_errors=True)


def server_pids(url):
    """Pids of the PostgreSQL server processes behind ``url`` (postmaster and backends), to
    read their CPU time."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    out = subprocess.run(["pgrep", "-u", "postgres", "-f", "--", f"-p {port} "],
                         capture_output=True, text=True).stdout.split()
    parents = [int(p) for p in out]
    children = subprocess.run(["pgrep", "-P", ",".join(map(str, parents))], capture_output=True,
                              text=True).stdout.split() if parents else []
    return parents + [int(c) for c in children]


def reset(url):
    """Drop every table of the model (a clean database for the next test or run)."""
    from sqlalchemy import create_engine
    from controller.models import Base
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()
