"""``qnet network rbac ...`` against a real ``qnet serve`` (noop plug-in): alice shares a
network with carol only; bob sees neither it nor the entry."""


def test_share_a_network_with_one_project_then_revoke(qnet):
    qnet("network", "create", "team-net")
    entry = qnet.json("network", "rbac", "create", "team-net", "--target-project", "carol")
    assert (entry["object_type"], entry["action"], entry["target_tenant"]) == \
        ("network", "access_as_shared", "carol")
    assert [e["id"] for e in qnet.json("network", "rbac", "list")] == [entry["id"]]
    assert qnet.json("network", "rbac", "show", entry["id"]) == entry
    assert [n["name"] for n in qnet.json("network", "list", project="carol")] == ["team-net"]
    assert qnet.json("network", "list", project="bob") == []
    assert "404" in qnet("network", "rbac", "show", entry["id"], project="bob", expect=1)
    # '*' is for admins: the server's refusal reaches the user
    assert "403" in qnet("network", "rbac", "create", "team-net", "--target-project", "*",
                         expect=1)
    qnet("network", "rbac", "delete", entry["id"])
    assert qnet.json("network", "list", project="carol") == []
    assert qnet.json("network", "rbac", "list") == []
