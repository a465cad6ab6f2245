"""Fuzzing: schemathesis reads ``/openapi.json`` of a real ``qnet serve`` (noop plug-in, token
auth, free loopback ports) and throws generated requests at every operation it lists, as a
member and as an admin: schema-valid and schema-violating bodies, queries and paths, then
sequences that follow the document's links (create, read, change, delete).

Every answer must be documented: no 5xx (save the noop back-end's documented 501 for port
statistics), a status code the document lists for that operation, a body and content type the
document describes, a 4xx for every schema-violating request (the document is as strict as the
server), and a deleted resource must be gone (schemathesis.toml beside this file lists the
checks). The run is derandomized (a fixed set of cases, as CI needs) and bounded by a number
of cases per operation; the failures it prints come with a curl line to replay them.
"""
import os
import re
import subprocess
import sys

import pytest

from simulations.serve import QnetServer

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")
#: Cases per operation and phase: about 40 s per role on 2 cores.
MAX_EXAMPLES = 30


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    with QnetServer(tmp_path_factory.mktemp("fuzz"), auth="token") as srv:
        yield srv


def schemathesis(srv, token, workdir):
    cmd = [SCHEMATHESIS, "--config-file", os.path.join(HERE, "schemathesis.toml"), "--no-color",
           "run", srv.url + "/openapi.json", "--header", f"X-Auth-Token: {token}",
           "--max-examples", str(MAX_EXAMPLES), "--workers", "1",
           "--generation-deterministic", "--continue-on-failure"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=workdir)


@pytest.mark.parametrize("admin", [False, True], ids=["member", "admin"])
def test_every_answer_is_documented(fuzz_server, tmp_path, admin):
    args = ["token", "create", "--project", "ops" if admin else "demo"]
    token = fuzz_server.manage(*args, *(["--admin"] if admin else []))
    out = schemathesis(fuzz_server, token, tmp_path)
    report = out.stdout + out.stderr
    assert out.returncode == 0, report[-20000:] + "\nserver log:\n" + \
        fuzz_server.read_log()[-5000:]
    # it did test: every operation of the document, thousands of cases, none failing
    selected = re.search(r"Selected: (\d+)/(\d+)", report)
    tested = re.search(r"Tested: (\d+)", report)
    cases = re.search(r"(\d+) generated, (\d+) passed", report)
    assert selected and tested and cases, report[-3000:]
    assert selected.group(1) == selected.group(2) == tested.group(1)
    assert int(cases.group(1)) == int(cases.group(2)) > 1000
    assert "Traceback" not in fuzz_server.read_log()
