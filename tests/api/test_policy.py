"""The authorization policy itself: its documentation is its defaults, a policy file overrides
them (in-process and through ``qnet serve --policy-file``), and a bad file stops the start."""
import json
import os

import pytest
import requests

from controller.context import Context
from controller.core import Core, CoreConfig
from controller.plugins.noop import NoopPlugin
from controller.policy import RULES, Policy, PolicyFileError, markdown_table
from rest.app import build_app
from simulations.serve import QnetServer
from tests.conftest import ROOT, Client, snapshot


def test_docs_policy_md_is_the_generated_table_of_the_defaults():
    with open(os.path.join(ROOT, "docs", "policy.md"), encoding="utf-8") as f:
        assert f.read() == markdown_table(), "run: python -m controller.policy > docs/policy.md"
    table = markdown_table()
    for rule in RULES:  # every rule, with its default, is in the table
        assert f"| `{rule.name}` | `{rule.check_str or '(anyone)'}` |" in table


def test_every_rule_the_code_names_is_declared():
    """A rule the code asks for but the defaults lack would silently allow (undefined rules
    allow): the managers' and handlers' rule names must all be declared."""
    declared = {rule.name for rule in RULES}
    for action in ("create", "update", "delete"):
        for resource in ("network", "subnet", "port", "policy",
                         "policy_bandwidth_limit_rule"):
            assert f"{action}_{resource}" in declared
    assert {"get_topology", "get_network_ip_availability", "access_tenant",
            "context_is_admin"} <= declared


def test_the_admin_role_decides_and_an_unknown_rule_allows():
    policy = Policy()
    member, admin = Context("p1"), Context("p1", is_admin=True)
    assert not policy.is_admin(member) and policy.is_admin(admin)
    assert policy.check(member, "no_such_rule", {})
    owner = {"resource": "network", "project_id": "p1"}
    other = {"resource": "network", "project_id": "p2"}
    assert policy.check(member, "update_network", owner)
    assert not policy.check(member, "update_network", other)
    assert policy.check(admin, "update_network", other)


def write(tmp_path, rules, name="policy.json"):
    path = tmp_path / name
    path.write_text(json.dumps(rules) if name.endswith(".json") else rules)
    return str(path)


def test_a_policy_file_overrides_defaults(tmp_path):
    path = write(tmp_path, "# members may pick MACs on shared networks; only admins make "
                           "networks\n\"create_port:mac_address\": \"\"\n"
                           "\"create_network\": \"rule:admin_only\"\n", "policy.yaml")
    core = Core.from_url(f"sqlite:///{tmp_path}/q.sqlite", NoopPlugin(),
                         CoreConfig(policy_file=path))
    try:
        api = Client(build_app(core, auth="noauth"))
        ops, bob = api.as_project("ops", admin=True), api.as_project("bob")
        status, body = ops.post("/v2.0/networks", {"network": {"name": "pub", "shared": True}})
        assert status == 201
        shared = body["network"]["id"]
        status, body = bob.post("/v2.0/ports", {"port": {"network_id": shared,
                                                         "mac_address": "fa:16:3e:00:00:07"}})
        assert status == 201 and body["port"]["mac_address"] == "fa:16:3e:00:00:07"
        before = snapshot(core)
        status, body = bob.post("/v2.0/networks", {"network": {"name": "x"}})
        assert status == 403 and "create_network" in body["NeutronError"]["message"]
        assert snapshot(core) == before
        # rules the file does not name keep their defaults
        status, _ = bob.post("/v2.0/ports", {"port": {"network_id": shared,
                                                      "port_security_enabled": False}})
        assert status == 403
    finally:
        core.close()


def test_a_missing_or_inconsistent_policy_file_is_refused(tmp_path):
    with pytest.raises(PolicyFileError, match="does not exist"):
        Policy(str(tmp_path / "nope.yaml"))
    with pytest.raises(PolicyFileError, match="create_port"):
        Policy(write(tmp_path, {"create_port": "rule:no_such_rule"}))


def test_qnet_serve_policy_file(tmp_path):
    path = write(tmp_path, {"create_network": "rule:admin_only"})
    srv = QnetServer(tmp_path, extra=["--policy-file", path]).start()
    try:
        url = srv.url + "/v2.0/networks"
        member = requests.post(url, json={"network": {"name": "n"}},
                               headers={"X-Project-Id": "p1"}, timeout=10)
        assert member.status_code == 403, member.text
        assert member.json()["NeutronError"]["type"] == "PolicyNotAuthorized"
        admin = requests.post(url, json={"network": {"name": "n", "project_id": "p1"}},
                              headers={"X-Project-Id": "ops", "X-Roles": "admin"}, timeout=10)
        assert admin.status_code == 201, admin.text
    finally:
        srv.stop()
    with pytest.raises(RuntimeError, match="does not exist"):
        QnetServer(tmp_path, extra=["--policy-file", str(tmp_path / "nope.yaml")]).start()
