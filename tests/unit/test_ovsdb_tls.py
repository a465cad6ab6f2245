"""The OVSDB manager with TLS and an allow-list, against real ovsdb-servers dialing ``ssl:``.

Certificates come from controller/pki.py (``qnet-manage pki``): a hypervisor whose certificate
the CA did not sign, or whose certificate names another system-id than its database claims,
or whom the allow-list refuses, is refused and logged, while the others keep working.
"""
import logging
import time

import pytest

from apps.chassis_model import COLUMNS, snapshot_tables
from apps.ovsdb_manager import OvsdbManager, server_tls_context
from controller import pki
from tests.unit.ovsdb_server import OvsdbServer, needs_ovsdb
from tests.unit.test_ovsdb_manager import Recorder

pytestmark = needs_ovsdb


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Our CA with hv1, hv2 and an impostor's certificates; a rogue CA with its own hv3."""
    ours, rogue = tmp_path_factory.mktemp("pki"), tmp_path_factory.mktemp("rogue")
    pki.init(str(ours))
    for name in ("hv1", "hv2", "hv4"):
        pki.issue(str(ours), name)
    pki.init(str(rogue))
    pki.issue(str(rogue), "hv3")
    return ours, rogue


def ssl_args(directory, name):
    key, cert = pki.paths(str(directory), name)
    return [f"--private-key={key}", f"--certificate={cert}",
            f"--ca-cert={pki.ca_certificate(str(directory))}"]


@pytest.fixture
def tls_manager(certs):
    ours, _ = certs
    key, cert = pki.paths(str(ours), "controller")
    rec = Recorder()
    mgr = OvsdbManager("127.0.0.1", 0, COLUMNS, rec.connected, rec.changed, rec.lost,
                       handshake_timeout=2.0,
                       tls=server_tls_context(key, cert, pki.ca_certificate(str(ours))),
                       admit=lambda system_id: None if system_id != "hv4" else "not registered")
    mgr.start()
    mgr.rec = rec
    yield mgr
    mgr.stop()


@pytest.fixture
def servers(tmp_path):
    started = []

    def start(system_id, directory, cert_name):
        started.append(OvsdbServer(tmp_path / f"ovsdb{len(started)}", system_id,
                                   ssl_args(directory, cert_name)))
        return started[-1]
    yield start
    for server in started:
        server.stop()


def refused(caplog, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r.getMessage() for r in caplog.records
                 if r.levelno == logging.WARNING and what in r.getMessage()]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no warning mentioning {what!r} logged")


def test_hypervisors_with_certificates_of_the_ca_connect(tls_manager, servers, certs):
    ours, _ = certs
    servers("hv1", ours, "hv1").dial(tls_manager.port, "ssl")
    conn = tls_manager.rec.wait_for("connected")
    assert (conn.system_id, conn.common_name) == ("hv1", "hv1")
    tables = tls_manager.read("hv1", snapshot_tables, timeout=5)
    assert [b["name"] for b in tables["Bridge"].values()] == ["br-int"]


@pytest.mark.parametrize("system_id, directory, cert_name, logged", [
    ("hv3", "rogue", "hv3", "refused: TLS handshake failed"),     # a certificate of another CA
    ("hv1", "ours", "hv2", "refused: it claims system-id hv1 but its certificate is for hv2"),    # hv2 posing as hv1
    ("hv4", "ours", "hv4", "(system-id hv4) refused: not registered"),            # not on the allow-list
])
def test_an_unknown_hypervisor_is_refused_while_the_others_keep_working(
        tls_manager, servers, certs, caplog, system_id, directory, cert_name, logged):
    ours, rogue = certs
    good = servers("hv2" if system_id == "hv1" else "hv1", ours,
                   "hv2" if system_id == "hv1" else "hv1")
    good.dial(tls_manager.port, "ssl")
    admitted = tls_manager.rec.wait_for("connected")
    with caplog.at_level(logging.WARNING, logger="apps.ovsdb_manager"):
        bad = servers(system_id, {"ours": ours, "rogue": rogue}[directory], cert_name)
        bad.dial(tls_manager.port, "ssl")
        refused(caplog, logged)
    assert set(tls_manager.connections) == {admitted.system_id}
    assert tls_manager.connections[admitted.system_id] is admitted
    # the admitted one still answers, and the refused one never appeared
    good.vsctl("add-br", "br-x")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        names = {b["name"] for b in tls_manager.read(admitted.system_id, snapshot_tables,
                                                     timeout=5)["Bridge"].values()}
        if "br-x" in names:
            break
        time.sleep(0.05)
    assert "br-x" in names
    assert not tls_manager.rec.seen("connected")


def test_plain_tcp_is_refused_when_tls_is_on(tls_manager, tmp_path, caplog):
    """A plain ovsdb-server waits for requests: it never starts a TLS handshake, which times
    out (closed, logged)."""
    server = OvsdbServer(tmp_path / "plain", "hv1")
    try:
        with caplog.at_level(logging.WARNING, logger="apps.ovsdb_manager"):
            server.dial(tls_manager.port, "tcp")
            refused(caplog, "did not finish the TLS handshake")
        assert tls_manager.connections == {}
    finally:
        server.stop()
