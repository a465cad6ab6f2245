"""``--db-url postgresql://...`` works: the model, IPAM races between processes, and the API run
on a private PostgreSQL server this test starts (and stops) itself, on a loopback port."""
import os

import pytest
import requests

from controller import errors
from controller.context import Context
from controller.core import Core
from simulations.postgres import Unavailable, private_postgresql, reset as _reset
from simulations.serve import QnetServer
from tests.unit.test_concurrency import SLASH_28_USABLE, race_in_processes, small_subnet


@pytest.fixture(scope="module")
def pg_url():
    try:
        with private_postgresql() as url:
            yield url
    except Unavailable as exc:
        if os.environ.get("CI") and "not installed" in str(exc):
            pytest.fail("PostgreSQL is not installed in CI (make setup installs it)")
        pytest.skip(str(exc))


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
