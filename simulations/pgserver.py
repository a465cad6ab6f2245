"""A private PostgreSQL server for benchmarks (``qnet serve --db-url postgresql://...``): its
own data directory in a temporary place, on a free loopback port, trusted local user ``qnet``,
started as the ``postgres`` user and stopped (and removed) afterwards. Commits are not flushed
to disk one by one (``synchronous_commit=off``), as the other databases the benchmarks compare
run: SQLite in WAL mode with ``synchronous=NORMAL``, the Neutron peer's MariaDB with
``innodb_flush_log_at_trx_commit=2``. Needs Debian's
``postgresql`` (``make setup`` installs it) and root."""
import contextlib
import glob
import os
import pathlib
import shutil
import subprocess
import tempfile

from simulations.serve import free_port


def _as_postgres(cmd):
    subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True,
                   text=True, timeout=120)


@contextlib.contextmanager
def private_postgresql():
    """Yields the URL of a fresh, empty database ``qnet``."""
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bindirs or os.geteuid() != 0:
        raise RuntimeError("a private PostgreSQL needs root and Debian's postgresql package")
    bindir = bindirs[-1]
    top = pathlib.Path(tempfile.mkdtemp(prefix="qnet-pg-"))
    shutil.chown(top, "postgres")
    data, port = top / "data", free_port()
    try:
        _as_postgres([f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "qnet"])
        _as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(top / "log"), "-o",
                      f"-k {top} -p {port} -c listen_addresses=127.0.0.1 -c synchronous_commit=off",
                      "start"])
        try:
            _as_postgres([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U",
                          "qnet", "qnet"])
            yield f"postgresql://qnet@127.0.0.1:{port}/qnet"
        finally:
            _as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop"])
    finally:
        shutil.rmtree(top, ignore_errors=True)
