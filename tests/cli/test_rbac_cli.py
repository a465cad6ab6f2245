"""``qnet network rbac ...`` against a real ``qnet serve`` (noop plug-in): alice shares a
network (a QoS policy, an address group) with carol only; bob sees neither it nor the entry."""


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


def test_share_an_address_group_that_the_other_projects_rules_name(qnet):
    office = qnet.json("address", "group", "create", "office", "--address", "192.0.2.0/24")
    entry = qnet.json("network", "rbac", "create", "office", "--type", "address_group",
                      "--target-project", "carol")
    assert (entry["object_type"], entry["object_id"], entry["action"]) == \
        ("address_group", office["id"], "access_as_shared")
    assert [g["name"] for g in qnet.json("address", "group", "list", project="carol")] == \
        ["office"]
    assert qnet.json("address", "group", "list", project="bob") == []
    qnet("security", "group", "create", "ssh", project="carol")
    rule = qnet.json("security", "group", "rule", "create", "ssh", "--protocol", "tcp",
                     "--dst-port", "22", "--remote-address-group", "office", project="carol")
    assert rule["remote_address_group_id"] == office["id"]
    # carol uses it but does not own it; her rule holds the entry and the group in place
    assert "403" in qnet("address", "group", "add", "office", "10.0.0.0/8", project="carol",
                         expect=1)
    assert "409" in qnet("network", "rbac", "delete", entry["id"], expect=1)
    assert "409" in qnet("address", "group", "delete", "office", expect=1)
    assert [e["id"] for e in qnet.json("network", "rbac", "list", "--type",
                                       "address_group")] == [entry["id"]]
    qnet("security", "group", "rule", "delete", rule["id"], project="carol")
    qnet("network", "rbac", "delete", entry["id"])
    assert qnet.json("address", "group", "list", project="carol") == []
