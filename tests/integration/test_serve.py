"""The ``qnet serve`` process: what it listens on, how it stops, and how it is configured."""
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
import requests

from simulations.serve import (ROOT, QnetServer, free_port, qnet_command, spawn, stop,
                               wait_listening)


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def private_ovsdb(args):
    """The default openflow plug-in listens for OVSDB on 0.0.0.0:6640; tests use their own
    loopback port so they never collide with a running service."""
    return [] if "--ovsdb-listen" in args else ["--ovsdb-listen", f"127.0.0.1:{free_port()}"]


@pytest.fixture
def launch(tmp_path):
    """``launch(*args)`` -> a running ``qnet serve`` Popen (stopped by pid afterwards)."""
    procs = []

    def start(*args):
        proc = spawn([qnet_command(), "serve", *args, *private_ovsdb(args)],
                     tmp_path / f"serve-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop(proc)


def run_serve(*args, timeout=60):
    """Run ``qnet serve`` expecting it to exit by itself; return (code, combined output)."""
    out = subprocess.run([qnet_command(), "serve", *args, *private_ovsdb(args)],
                         capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return out.returncode, out.stdout + out.stderr


def write_config(path, **settings):
    path.write_text("[qnet]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    return path


# -- what it serves -------------------------------------------------------------------------------
def test_serves_the_version_document(server):
    resp = requests.get(server.url + "/", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json() == {"versions": [
        {"id": "v2.0", "status": "CURRENT",
         "links": [{"rel": "self", "href": server.url + "/v2.0/"}]},
        {"id": "v1.0", "status": "SUPPORTED",
         "links": [{"rel": "self", "href": server.url + "/v1.0/"}]}]}
    # And the API itself, in noauth mode as the fixture runs it.
    resp = requests.post(server.url + "/v2.0/networks", json={"network": {"name": "n"}},
                         timeout=10)
    assert resp.status_code == 201 and resp.json()["network"]["project_id"] == "demo"


def settle(server):
    """One full HTTP round trip on a fresh connection: the service has handled everything sent
    before it. (A SIGTERM that lands while the service is busy can be lost, see
    test_sigterm_while_accepting_connections_exits_zero_promptly.)"""
    resp = requests.get(server.url + "/", headers={"Connection": "close"}, timeout=10)
    assert resp.status_code == 200


def test_openflow_listener_sends_hello_first(server):
    with socket.create_connection(("127.0.0.1", server.ofp_port), timeout=10) as sock:
        version, msg_type, length, _xid = struct.unpack("!BBHI", recv_exactly(sock, 8))
    assert 0x01 <= version <= 0x06  # OpenFlow 1.0 .. 1.5
    assert msg_type == 0  # OFPT_HELLO
    assert length >= 8
    settle(server)  # the disconnect is handled before the fixture's SIGTERM


def test_sigterm_exits_zero_promptly(server):
    settle(server)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.api_port), timeout=1).close()


def test_sigterm_with_open_connections_exits_zero_promptly(server):
    """A connected switch and an idle keep-alive HTTP client must not hold shutdown up."""
    switch = socket.create_connection(("127.0.0.1", server.ofp_port), timeout=10)
    http = requests.Session()
    try:
        recv_exactly(switch, 8)
        assert http.get(server.url + "/v2.0/networks", timeout=10).status_code == 200
        settle(server)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        switch.close()
        http.close()


def sigterm_under_connection_flood(tmp_path):
    """Start a server, keep new connections coming, SIGTERM it; return its exit code (None if
    it was still running 5 s later: then it is killed)."""
    # At DEBUG, eventlet logs each accept from inside its accept loop: the loop is then busy for
    # a larger share of the time, and the race below is hit in about 3 attempts out of 4.
    srv = QnetServer(tmp_path, log_level="DEBUG").start()
    stop, accepted = threading.Event(), []

    def connect_loop():
        while not stop.is_set():
            try:
                socket.create_connection(("127.0.0.1", srv.api_port), timeout=1).close()
            except OSError:
                return
            accepted.append(1)

    clients = [threading.Thread(target=connect_loop)]
    for t in clients:
        t.start()
    try:
        deadline = time.monotonic() + 10
        while len(accepted) < 50 and time.monotonic() < deadline:
            time.sleep(0.005)
        srv.proc.send_signal(signal.SIGTERM)
        try:
            return srv.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None
    finally:
        stop.set()
        for t in clients:
            t.join()
        if srv.proc.poll() is None:
            srv.proc.kill()  # the server this helper started, by its Popen handle
            srv.proc.wait()
        srv.stop()


def test_sigterm_while_accepting_connections_exits_zero_promptly(tmp_path):
    for attempt in range(4):
        workdir = tmp_path / f"attempt{attempt}"
        workdir.mkdir()
        code = sigterm_under_connection_flood(workdir)
        assert code == 0, (f"attempt {attempt + 1}: qnet serve ignored SIGTERM:\n"
                           + (workdir / "serve.log").read_text()[-2000:])


def wait_for_log(proc, text, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.log_path.read_text():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n" + proc.log_path.read_text()[-2000:])


def assert_sigterm_exits_cleanly(proc):
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("qnet serve hung on SIGTERM:\n" + proc.log_path.read_text()[-2000:])
    log = proc.log_path.read_text()
    assert code == 0, log[-2000:]
    assert time.monotonic() - started < 5
    assert "Traceback" not in log, log[-3000:]


def serve_openflow(launch, tmp_path, ovsdb_port, mode="overlay", extra=()):
    api_port = free_port()
    proc = launch("--plugin", "openflow", "--mode", mode, "--auth", "noauth",
                  "--db-url", f"sqlite:///{tmp_path}/of.sqlite",
                  "--api-listen", f"127.0.0.1:{api_port}", "--ofp-listen",
                  f"127.0.0.1:{free_port()}", "--ovsdb-listen", f"127.0.0.1:{ovsdb_port}",
                  *extra)
    wait_listening(proc, api_port)
    return proc


@pytest.mark.parametrize("mode", ["overlay", "fabric"])
def test_sigterm_stops_the_openflow_plugin_promptly(launch, tmp_path, mode):
    """The controller's worker and the OVSDB manager's loop must both end on SIGTERM (the
    worker once slept through it and the process never exited)."""
    proc = serve_openflow(launch, tmp_path, free_port(), mode)
    wait_for_log(proc, "qnet serving the REST API")
    assert_sigterm_exits_cleanly(proc)


def test_openflow_on_a_unix_socket_runs_the_handshake_and_goes_with_the_service(launch,
                                                                                tmp_path):
    """``ofp_unix_socket``: a switch on the host connects through the file system; os-ken's
    handshake runs on it as on TCP (its HELLO, then a FEATURES_REQUEST after ours: the
    connection reached a Datapath), only the owner may connect, and the file goes on exit."""
    path = tmp_path / "ofp.sock"
    with socket.socket(socket.AF_UNIX) as stale:         # a stale socket file: replaced
        stale.bind(str(path))
    proc = serve_openflow(launch, tmp_path, free_port(), extra=("--ofp-unix-socket", str(path)))
    wait_for_log(proc, "OpenFlow also on unix:")
    assert path.stat().st_mode & 0o777 == 0o600
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        version, msg_type, _length, _xid = struct.unpack("!BBHI", recv_exactly(sock, 8))
        assert msg_type == 0                              # OFPT_HELLO
        sock.sendall(struct.pack("!BBHI", 0x04, 0, 8, 1))  # HELLO, OpenFlow 1.3
        version, msg_type, length, _xid = struct.unpack("!BBHI", recv_exactly(sock, 8))
        recv_exactly(sock, length - 8)
        assert (version, msg_type) == (0x04, 5)           # OFPT_FEATURES_REQUEST
    assert_sigterm_exits_cleanly(proc)
    assert not path.exists()


@pytest.fixture
def ovsdb_server(tmp_path):
    """A private ovsdb-server (no vswitchd needed) that ``dial(port)`` points at a manager."""
    rundir = tmp_path / "ovsdb"
    rundir.mkdir()
    db, sock = rundir / "conf.db", rundir / "db.sock"
    subprocess.run(["ovsdb-tool", "create", str(db),
                    "/usr/share/openvswitch/vswitch.ovsschema"], check=True)
    proc = subprocess.Popen(["ovsdb-server", str(db), f"--remote=punix:{sock}",
                             f"--unixctl={rundir / 'ctl'}", "--no-chdir"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    vsctl = ["ovs-vsctl", f"--db=unix:{sock}", "--no-wait", "--timeout=10"]
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    subprocess.run([*vsctl, "init"], check=True)
    subprocess.run([*vsctl, "set", "Open_vSwitch", ".", "external_ids:system-id=hv-stop"],
                   check=True)

    def dial(port):
        subprocess.run(["ovs-appctl", "-t", str(rundir / "ctl"), "ovsdb-server/add-remote",
                        f"tcp:127.0.0.1:{port}"], check=True, capture_output=True)
    proc.dial = dial
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def test_sigterm_after_a_chassis_came_and_went_exits_promptly(launch, tmp_path, ovsdb_server):
    ovsdb_port = free_port()
    proc = serve_openflow(launch, tmp_path, ovsdb_port)
    ovsdb_server.dial(ovsdb_port)
    wait_for_log(proc, "chassis hv-stop connected")
    ovsdb_server.terminate()  # the hypervisor goes away first (a lab stopped before qnet)
    ovsdb_server.wait(10)
    wait_for_log(proc, "chassis hv-stop disconnected")
    assert_sigterm_exits_cleanly(proc)


# -- configuration --------------------------------------------------------------------------------
def test_config_file_is_honoured(launch, tmp_path):
    api_port, ofp_port = free_port(), free_port()
    cfg = write_config(tmp_path / "qnet.ini", db_url=f"sqlite:///{tmp_path}/cfg.sqlite",
                       api_listen=f"127.0.0.1:{api_port}", ofp_listen=f"127.0.0.1:{ofp_port}",
                       auth="noauth", noauth_project="from-config", log_level="WARNING",
                       default_mtu=1400)
    proc = launch("--config", str(cfg))
    wait_listening(proc, api_port)
    url = f"http://127.0.0.1:{api_port}"
    # auth = noauth (the default, token, would answer 401) and its default project.
    resp = requests.post(url + "/v2.0/networks", json={"network": {"name": "n"}}, timeout=10)
    assert resp.status_code == 201, resp.text
    assert resp.json()["network"]["project_id"] == "from-config"
    assert resp.json()["network"]["mtu"] == 1400
    # db_url: the network is in the file the config names.
    assert (tmp_path / "cfg.sqlite").exists()
    # ofp_listen.
    with socket.create_connection(("127.0.0.1", ofp_port), timeout=10) as sock:
        assert recv_exactly(sock, 8)[1] == 0


def test_flags_override_the_config_file(launch, tmp_path):
    api_port = free_port()
    cfg = write_config(tmp_path / "qnet.ini", db_url=f"sqlite:///{tmp_path}/cfg.sqlite",
                       api_listen="127.0.0.1:1", ofp_listen=f"127.0.0.1:{free_port()}",
                       auth="noauth", log_level="WARNING")
    proc = launch("--config", str(cfg), "--api-listen", f"127.0.0.1:{api_port}",
                  "--auth", "token")
    wait_listening(proc, api_port)
    resp = requests.get(f"http://127.0.0.1:{api_port}/v2.0/networks", timeout=10)
    assert resp.status_code == 401
    assert resp.json()["NeutronError"]["type"] == "NotAuthenticated"


def test_config_max_page_size_caps_requested_limits(launch, tmp_path):
    api_port = free_port()
    cfg = write_config(tmp_path / "qnet.ini", db_url=f"sqlite:///{tmp_path}/cfg.sqlite",
                       api_listen=f"127.0.0.1:{api_port}", ofp_listen=f"127.0.0.1:{free_port()}",
                       auth="noauth", log_level="WARNING", max_page_size=2)
    proc = launch("--config", str(cfg))
    wait_listening(proc, api_port)
    url = f"http://127.0.0.1:{api_port}/v2.0/networks"
    for i in range(3):
        assert requests.post(url, json={"network": {"name": f"n{i}"}},
                             timeout=10).status_code == 201
    body = requests.get(url + "?limit=10", timeout=10).json()
    assert len(body["networks"]) == 2
    assert [link["rel"] for link in body["networks_links"]] == ["next"]


def test_config_max_page_size_caps_lists_without_a_limit(launch, tmp_path):
    api_port = free_port()
    cfg = write_config(tmp_path / "qnet.ini", db_url=f"sqlite:///{tmp_path}/cfg.sqlite",
                       api_listen=f"127.0.0.1:{api_port}", ofp_listen=f"127.0.0.1:{free_port()}",
                       auth="noauth", log_level="WARNING", max_page_size=2)
    proc = launch("--config", str(cfg))
    wait_listening(proc, api_port)
    url = f"http://127.0.0.1:{api_port}/v2.0/networks"
    for i in range(3):
        assert requests.post(url, json={"network": {"name": f"n{i}"}},
                             timeout=10).status_code == 201
    body = requests.get(url, timeout=10).json()
    assert len(body["networks"]) == 2
    assert [link["rel"] for link in body.get("networks_links", [])] == ["next"]


def test_config_quotas_are_every_projects_default_limits(launch, tmp_path):
    api_port = free_port()
    cfg = write_config(tmp_path / "qnet.ini", db_url=f"sqlite:///{tmp_path}/cfg.sqlite",
                       api_listen=f"127.0.0.1:{api_port}", ofp_listen=f"127.0.0.1:{free_port()}",
                       auth="noauth", noauth_project="p1", log_level="WARNING",
                       quota_router=1, quota_floatingip=-1)
    proc = launch("--config", str(cfg))
    wait_listening(proc, api_port)
    url = f"http://127.0.0.1:{api_port}/v2.0"
    assert requests.get(f"{url}/quotas/p1", timeout=10).json()["quota"] == {
        "project_id": "p1", "tenant_id": "p1", "floatingip": -1, "router": 1}
    assert requests.post(f"{url}/routers", json={"router": {}}, timeout=10).status_code == 201
    second = requests.post(f"{url}/routers", json={"router": {}}, timeout=10)
    assert second.status_code == 409 and second.json()["NeutronError"]["type"] == "OverQuota"


def test_config_unknown_key_exits_with_a_clear_message(tmp_path):
    cfg = write_config(tmp_path / "bad.ini", auth="noauth", api_lisen="127.0.0.1:9")
    code, output = run_serve("--config", str(cfg))
    assert code != 0
    assert "unknown setting 'api_lisen'" in output
    assert str(cfg) in output
    assert "Traceback" not in output


def test_config_file_that_cannot_be_read_exits_with_a_clear_message(tmp_path):
    code, output = run_serve("--config", str(tmp_path / "missing.ini"))
    assert code != 0
    assert "cannot read config file" in output and "missing.ini" in output


def test_unwritable_database_fails(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    code, output = run_serve("--db-url", f"sqlite:///{tmp_path}/a-file/qnet.sqlite",
                             "--api-listen", f"127.0.0.1:{free_port()}",
                             "--ofp-listen", f"127.0.0.1:{free_port()}")
    assert code != 0
    assert "unable to open database file" in output


LEAK_PROBE = """
import sys
from controller import service
service.prepare_hub()
from controller.core import Core
real = Core.from_url.__func__
# Serve from SQLite while every log line still sees the PostgreSQL URL (no server needed).
Core.from_url = classmethod(lambda cls, url, *a, **k: real(cls, sys.argv[1], *a, **k))
from controller import cli
cli.main(sys.argv[2:])
"""


def test_database_password_never_reaches_the_log(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(LEAK_PROBE)
    with QnetServer(tmp_path, plugin="openflow", auth="token", log_level="INFO",
                    db_url="postgresql://qnet:s3cret-pw@127.0.0.1/qnet",
                    command=[sys.executable, str(script), f"sqlite:///{tmp_path}/probe.sqlite"]
                    ) as srv:
        pass
    output = srv.read_log()
    assert "postgresql://qnet:***@127.0.0.1/qnet" in output  # the probe did reach the logs
    assert "get a token with" in output
    assert "s3cret-pw" not in output
