"""The ``openstack`` command in Keystone mode: users give only Keystone's auth URL and their
credentials (an openrc), and the client finds qnet in the catalog."""
import uuid

import pytest

from tests.openstack_cli import OpenStackCli


@pytest.fixture
def as_user(cloud, tmp_path):
    clients = []

    def make(user):
        clients.append(OpenStackCli(tmp_path, **cloud.os_vars(user)))
        return clients[-1]
    yield make
    for client in clients:
        client.close()


def test_member_reader_and_admin_through_the_catalog(cloud, as_user):
    alice, rita, admin = as_user("alice"), as_user("rita"), as_user("admin")
    name = f"web-{uuid.uuid4().hex[:6]}"
    # the catalog has qnet as the network service
    endpoints = admin("endpoint", "list", "--service", "network")
    assert {e["Interface"] for e in endpoints} == {"public", "internal", "admin"}
    assert {e["URL"] for e in endpoints} == {cloud.qnet.url}

    net = alice("network", "create", name)
    assert net["project_id"] == cloud.project_ids["project-a"]
    sub = alice("subnet", "create", name, "--network", name, "--subnet-range", "10.7.0.0/24")
    port = alice("port", "create", name, "--network", name)
    assert port["fixed_ips"][0]["subnet_id"] == sub["id"]
    assert port["id"] in {p["ID"] for p in alice("port", "list")}

    # the reader sees it and changes nothing
    assert rita("network", "show", name)["id"] == net["id"]
    before = cloud.snapshot()
    assert "403" in rita.fail("network", "create", "by-reader")
    assert "403" in rita.fail("port", "delete", name)
    assert "403" in rita.fail("network", "set", name, "--name", "renamed")
    assert cloud.snapshot() == before

    # the admin names the project by name: the client asks Keystone for its id
    listed = admin("port", "list", "--project", "project-a")
    assert port["id"] in {p["ID"] for p in listed}
    assert port["id"] not in {p["ID"] for p in admin("port", "list", "--project", "project-b")}
    # another project's member does not see it
    assert "No Network found" in as_user("bob").fail("network", "show", name)

    alice.ok("port", "delete", name)
    alice.ok("subnet", "delete", name)
    alice.ok("network", "delete", name)
