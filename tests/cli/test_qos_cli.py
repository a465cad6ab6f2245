"""``qnet qos policy|rule ...`` and ``--qos-policy`` against a real ``qnet serve`` (noop plug-in)."""


def test_policy_and_rules_create_list_show_update_delete(qnet):
    policy = qnet.json("qos", "policy", "create", "10M", "--description", "ten megabits")
    assert (policy["name"], policy["description"], policy["rules"]) == \
        ("10M", "ten megabits", [])
    egress = qnet.json("qos", "rule", "create", "10M", "--max-kbps", "10000")
    assert (egress["max_kbps"], egress["direction"]) == (10000, "egress")
    ingress = qnet.json("qos", "rule", "create", policy["id"], "--max-kbps", "5000",
                        "--direction", "ingress", "--max-burst-kbps", "800")
    assert (ingress["max_kbps"], ingress["max_burst_kbps"], ingress["direction"]) == \
        (5000, 800, "ingress")
    rules = qnet.json("qos", "rule", "list", "10M")
    assert {r["id"] for r in rules} == {egress["id"], ingress["id"]}
    assert {r["id"] for r in qnet.json("qos", "policy", "show", "10M")["rules"]} == \
        {egress["id"], ingress["id"]}
    assert [p["name"] for p in qnet.json("qos", "policy", "list")] == ["10M"]
    assert sorted(qnet("qos", "rule", "list", "10M", "-f", "value", "-c", "direction",
                       "-c", "max_kbps").splitlines()) == ["egress 10000", "ingress 5000"]

    renamed = qnet.json("qos", "policy", "update", "10M", "--name", "fast",
                        "--description", "")
    assert (renamed["name"], renamed["description"]) == ("fast", "")
    qnet("qos", "rule", "delete", "fast", egress["id"])
    assert [r["id"] for r in qnet.json("qos", "rule", "list", "fast")] == [ingress["id"]]
    qnet("qos", "policy", "delete", "fast")
    assert qnet.json("qos", "policy", "list") == []


def test_qos_policy_on_ports_and_networks(qnet):
    policy = qnet.json("qos", "policy", "create", "slow")
    net = qnet.json("network", "create", "web-net", "--qos-policy", "slow")
    assert net["qos_policy_id"] == policy["id"]
    port = qnet.json("port", "create", "p1", "--network", "web-net", "--qos-policy", "slow")
    assert port["qos_policy_id"] == policy["id"]
    assert qnet.json("port", "update", "p1", "--qos-policy", "none")["qos_policy_id"] is None
    assert qnet.json("network", "update", "web-net", "--qos-policy", "none")[
        "qos_policy_id"] is None
    assert qnet.json("network", "update", "web-net", "--qos-policy", policy["id"])[
        "qos_policy_id"] == policy["id"]


def test_qos_errors_carry_the_servers_message(qnet):
    qnet("qos", "policy", "create", "10M")
    qnet("qos", "rule", "create", "10M", "--max-kbps", "10000")
    err = qnet("qos", "rule", "create", "10M", "--max-kbps", "5000", expect=1)
    assert "HTTP 409" in err and "egress" in err
    assert len(qnet.json("qos", "rule", "list", "10M")) == 1
    qnet("network", "create", "web-net")
    qnet("port", "create", "p1", "--network", "web-net", "--qos-policy", "10M")
    err = qnet("qos", "policy", "delete", "10M", expect=1)
    assert "HTTP 409" in err
    err = qnet("port", "update", "p1", "--qos-policy", "nope", expect=1)
    assert "No QoS policy with name or id 'nope'" in err
    err = qnet("qos", "rule", "create", "10M", "--max-kbps", "0", "--direction", "ingress",
               expect=1)
    assert "HTTP 400" in err
    # another project sees neither the policy nor its rules
    err = qnet("qos", "rule", "list", "10M", expect=1, project="bob")
    assert "No QoS policy with name or id '10M'" in err


def test_port_stats_says_when_the_back_end_keeps_none(qnet):
    qnet("network", "create", "web-net")
    qnet("port", "create", "p1", "--network", "web-net")
    err = qnet("port", "stats", "p1", expect=1)
    assert "HTTP 501" in err
