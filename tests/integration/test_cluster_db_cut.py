"""The master loses PostgreSQL but keeps running (its connections reset and new ones refused,
through a forwarder the test owns: tests/integration/tcp_cut.py): a standby takes the lease, the
cut-off master stops being master by itself, and once the database is reachable again it
rejoins as a standby and takes nothing back (docs/cluster.md)."""
import time
from urllib.parse import urlsplit

import pytest

from simulations.serve import QnetServer
from tests.integration.tcp_cut import CuttableLink
from tests.integration.test_cluster import alive, master_of, wait_for
from tests.integration.test_postgresql import _reset, pg_url  # noqa: F401 - the fixture


@pytest.fixture()
def linked_pair(pg_url, tmp_path):  # noqa: F811 - pytest fixture by name
    """Two instances, each reaching PostgreSQL through its own cuttable link; an observer
    (a third ``QnetServer`` object never started) reads the cluster status directly."""
    _reset(pg_url)
    target = urlsplit(pg_url)
    links = [CuttableLink((target.hostname, target.port)) for _ in range(2)]
    servers = [QnetServer(tmp_path, db_url=pg_url.replace(f":{target.port}/", f":{l.port}/"),
                          log_name=f"serve{i}.log", log_level="INFO")
               for i, l in enumerate(links)]
    observer = QnetServer(tmp_path, db_url=pg_url)
    try:
        for srv in servers:
            srv.start()
        wait_for(lambda: len(alive(observer)) == 2, "two instances alive")
        yield servers, links, observer
    finally:
        for srv in servers:
            srv.stop()
        for link in links:
            link.close()


def test_a_master_cut_off_from_postgresql_stands_by_and_rejoins_as_a_standby(linked_pair):
    servers, links, observer = linked_pair
    view = [observer]                       # master_of reads the status through view[0]
    master, generation = wait_for(lambda: (lambda m: m if m[0] else None)(master_of(
        view + servers)), "a master")
    links[servers.index(master)].cut()
    try:
        new, new_generation = wait_for(
            lambda: (lambda m: m if m[0] not in (None, master) else None)(
                master_of(view + servers)), "the standby taking the lease")
        assert new_generation == generation + 1
        wait_for(lambda: "is not master any more" in master.read_log(),
                 "the cut-off master to stop being master by itself")
        assert master.proc.poll() is None                       # still running
    finally:
        links[servers.index(master)].restore()
    wait_for(lambda: len(alive(observer)) == 2, "the cut-off instance back (heartbeat)")
    time.sleep(1.0)
    assert master_of(view + servers) == (new, new_generation)   # it took nothing back
