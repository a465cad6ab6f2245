"""``--db-url postgresql://...`` works: the model, IPAM races between processes, and the API run
on a private PostgreSQL server this test starts (and stops) itself, on a loopback port."""
import glob
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest
import requests

from controller import errors
from controller.context import Context
from controller.core import Core
from simulations.serve import QnetServer, free_port
from tests.unit.test_concurrency import SLASH_28_USABLE, race_in_processes, small_subnet

BINDIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _as_postgres(cmd, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True,
                          capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def pg_url():
    if not BINDIRS:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed in CI (make setup installs it)")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    if os.geteuid() != 0:
        pytest.skip("NOT ROOT: cannot start a private PostgreSQL as user postgres")
    bindir = BINDIRS[-1]
    # pytest's temp root is private to root; the server runs as postgres, so use its own dir.
    top = pathlib.Path(tempfile.mkdtemp(prefix="qnet-pg-"))
    shutil.chown(top, "postgres")
    data = top / "data"
    port = free_port()
    _as_postgres([f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "qnet"])
    _as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(data.parent / "log"),
                  "-o", f"-k {data.parent} -p {port} -c listen_addresses=127.0.0.1", "start"])
    try:
        _as_postgres([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "qnet",
                      "qnet"])
        yield f"postgresql://qnet@127.0.0.1:{port}/qnet"
    finally:
        _as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop"])
        shutil.rmtree(data.parent, ignore_errors=True)


def _reset(url):
    from sqlalchemy import create_engine
    from controller.models import Base
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()


def test_model_on_postgresql(pg_url):
    _reset(pg_url)
    core = Core.from_url(pg_url, "noop")
    alice = Context("alice")
    net = small_subnet(core, alice)
    ports = [core.ports.create(alice, {"network_id": net}) for _ in range(SLASH_28_USABLE)]
    assert len({p["fixed_ips"][0]["ip_address"] for p in ports}) == SLASH_28_USABLE
    with pytest.raises(errors.IpAddressGenerationFailure):
        core.ports.create(alice, {"network_id": net})
    with pytest.raises(errors.NetworkInUse):
        core.networks.delete(alice, net)
    page, more = core.ports.list(alice, sorts=[("mac_address", "asc")], limit=5)
    assert len(page) == 5 and more
    core.close()


def test_processes_race_on_postgresql(pg_url):
    _reset(pg_url)
    race_in_processes(pg_url).close()


def test_serve_with_postgresql_url(pg_url, tmp_path):
    _reset(pg_url)
    srv = QnetServer(tmp_path, db_url=pg_url).start()
    try:
        h = {"X-Project-Id": "alice"}
        r = requests.post(srv.url + "/v2.0/networks", json={"network": {"name": "pg"}}, headers=h)
        assert r.status_code == 201
        assert requests.get(srv.url + "/v2.0/networks?name=pg", headers=h).json()["networks"][0][
            "id"] == r.json()["network"]["id"]
    finally:
        assert srv.stop() == 0
