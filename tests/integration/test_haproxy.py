"""HAProxy in front of three ``qnet serve`` on one PostgreSQL, configured as README.md shows
(health check on /readyz, round robin, a failed connection sent to another server): clients
of the one address keep working when an instance is killed (docs/cluster.md)."""
import shutil
import signal
import subprocess
import time

import pytest
import requests

from simulations.serve import free_port
from tests.integration.test_cluster import H, cluster, wait_for  # noqa: F401 - the fixture
from tests.integration.test_postgresql import pg_url  # noqa: F401 - the fixture

CONFIG = """\
defaults
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend qnet_api
    mode http
    bind 127.0.0.1:{port}
    default_backend qnet
backend qnet
    mode http
    balance roundrobin
    option httpchk GET /readyz
    option redispatch
    retries 2
{servers}
"""


@pytest.fixture()
def haproxy(cluster, tmp_path):  # noqa: F811 - pytest fixture by name
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not shutil.which(binary):
        pytest.skip("haproxy is not installed (Debian: apt-get install haproxy)")
    port = free_port()
    servers = "\n".join(f"    server s{i} {srv.url[len('http://'):]} check inter 1s fall 2 rise 2"
                        for i, srv in enumerate(cluster))
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(CONFIG.format(port=port, servers=servers))
    proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(url), "HAProxy answering")
        yield url
    finally:
        proc.terminate()          # our own child, by its pid
        proc.wait(timeout=10)


def _get(url):
    try:
        return requests.get(url + "/v2.0/networks", headers=H, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_clients_of_haproxy_keep_working_when_an_instance_is_killed(cluster, haproxy):
    victim = cluster[1]
    answers = []
    deadline = time.monotonic() + 4.0
    killed = False
    while time.monotonic() < deadline:
        if not killed and len(answers) >= 10:
            victim.proc.send_signal(signal.SIGKILL)    # our own child, by its pid
            victim.proc.wait()
            killed = True
        r = requests.post(haproxy + "/v2.0/networks", json={"network": {"name": "via-lb"}},
                          headers=H, timeout=10)
        answers.append(r.status_code)
    assert killed and len(answers) > 20
    assert set(answers) == {201}, answers                # none lost to the dead instance
    victim.start()                                       # the module's cluster whole again
    wait_for(lambda: requests.get(victim.url + "/readyz").status_code == 200, "victim back")
