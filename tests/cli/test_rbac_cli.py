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


def test_share_a_qos_policy_and_filter_the_list(qnet):
    policy = qnet.json("qos", "policy", "create", "gold")
    net = qnet.json("network", "create", "team-net")
    shared = qnet.json("network", "rbac", "create", "gold", "--type", "qos_policy",
                       "--target-project", "carol")
    assert (shared["object_type"], shared["object_id"]) == ("qos_policy", policy["id"])
    on_net = qnet.json("network", "rbac", "create", net["id"], "--target-project", "carol")
    assert [e["id"] for e in qnet.json("network", "rbac", "list", "--type", "qos_policy")] == \
        [shared["id"]]
    assert [e["id"] for e in qnet.json("network", "rbac", "list", "--type", "network")] == \
        [on_net["id"]]
    assert [p["name"] for p in qnet.json("qos", "policy", "list", project="carol")] == ["gold"]
    # external use is an admin's to give, and a QoS policy has no such use at all
    assert "403" in qnet("network", "rbac", "create", "team-net", "--action",
                         "access_as_external", "--target-project", "carol", expect=1)
    assert "400" in qnet("network", "rbac", "create", "gold", "--type", "qos_policy",
                         "--action", "access_as_external", "--target-project", "carol",
                         expect=1)
    qnet("network", "rbac", "delete", shared["id"], on_net["id"])
    assert qnet.json("network", "rbac", "list") == []
