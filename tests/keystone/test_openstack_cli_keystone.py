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


def test_network_rbac_shares_with_one_project(cloud, as_user):
    alice, bob, rita = as_user("alice"), as_user("bob"), as_user("rita")
    name = f"team-{uuid.uuid4().hex[:6]}"
    net = alice("network", "create", name)
    target = cloud.project_ids["project-b"]
    entry = alice("network", "rbac", "create", "--type", "network", "--action",
                  "access_as_shared", "--target-project", target, name)
    assert (entry["object_id"], entry["target_project_id"]) == (net["id"], target)
    assert [e["ID"] for e in alice("network", "rbac", "list")] == [entry["id"]]
    # project-b's member sees the network and may put a port on it; the entry stays alice's
    assert bob("network", "show", net["id"])["id"] == net["id"]
    port = bob("port", "create", f"{name}-b", "--network", net["id"])
    assert "409" in alice.fail("network", "rbac", "delete", entry["id"])
    refusal = bob.fail("network", "rbac", "show", entry["id"])
    assert "404" in refusal or "No RBAC" in refusal
    # a reader of alice's project reads the entry and cannot remove it
    assert rita("network", "rbac", "show", entry["id"])["id"] == entry["id"]
    assert "403" in rita.fail("network", "rbac", "delete", entry["id"])
    bob.ok("port", "delete", port["id"])
    alice.ok("network", "rbac", "delete", entry["id"])
    assert "No Network found" in bob.fail("network", "show", net["id"])
    alice.ok("network", "delete", name)
