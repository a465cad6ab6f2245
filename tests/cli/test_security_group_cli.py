"""``qnet security group [rule] ...`` and ``--security-group`` against a real ``qnet serve``
(noop plug-in)."""


def test_groups_and_rules_create_list_show_update_delete(qnet):
    web = qnet.json("security", "group", "create", "web", "--description", "web tier")
    assert (web["name"], web["description"], web["stateful"]) == ("web", "web tier", True)
    assert len(web["security_group_rules"]) == 2               # egress IPv4 and IPv6
    http = qnet.json("security", "group", "rule", "create", "web", "--protocol", "tcp",
                     "--dst-port", "80", "--remote-ip", "0.0.0.0/0")
    assert (http["direction"], http["protocol"], http["port_range_min"],
            http["port_range_max"], http["remote_ip_prefix"]) == \
        ("ingress", "tcp", 80, 80, "0.0.0.0/0")
    ping = qnet.json("security", "group", "rule", "create", "web", "--ethertype", "IPv6",
                     "--protocol", "ipv6-icmp", "--icmp-type", "128", "--remote-group", "web")
    assert (ping["port_range_min"], ping["port_range_max"], ping["remote_group_id"]) == \
        (128, None, web["id"])
    out = qnet.json("security", "group", "rule", "create", "web", "--egress", "--protocol",
                    "udp", "--dst-port", "5000:5010")
    assert (out["direction"], out["port_range_min"], out["port_range_max"]) == \
        ("egress", 5000, 5010)
    rules = {r["id"] for r in qnet.json("security", "group", "rule", "list", "web")}
    assert {http["id"], ping["id"], out["id"]} <= rules and len(rules) == 5
    assert {r["id"] for r in qnet.json("security", "group", "show", "web")[
        "security_group_rules"]} == rules
    assert sorted(g["name"] for g in qnet.json("security", "group", "list")) == \
        ["default", "web"]

    changed = qnet.json("security", "group", "update", "web", "--name", "front",
                        "--stateless")
    assert (changed["name"], changed["stateful"]) == ("front", False)
    qnet("security", "group", "rule", "delete", http["id"], ping["id"])
    assert len(qnet.json("security", "group", "rule", "list", "front")) == 3
    qnet("security", "group", "delete", "front")
    assert [g["name"] for g in qnet.json("security", "group", "list")] == ["default"]


def test_security_groups_on_ports(qnet):
    qnet("network", "create", "web-net")
    qnet("security", "group", "create", "web")
    qnet("security", "group", "create", "db")
    default = qnet.json("port", "create", "p0", "--network", "web-net")
    assert default["security_groups"] != []
    shown = qnet.json("port", "show", "p0")
    assert shown["security_group_names"] == ["default"]
    port = qnet.json("port", "create", "p1", "--network", "web-net", "--security-group", "web",
                     "--security-group", "db")
    assert len(port["security_groups"]) == 2
    assert sorted(qnet.json("port", "show", "p1")["security_group_names"]) == ["db", "web"]
    text = qnet("port", "show", "p1", "-f", "value", "-c", "security_group_names")
    assert sorted(text.strip().split(", ")) == ["db", "web"]
    qnet("port", "update", "p1", "--security-group", "db")
    assert qnet.json("port", "show", "p1")["security_group_names"] == ["db"]
    err = qnet("port", "update", "p1", "--no-port-security", expect=1)
    assert "HTTP 409" in err and "security groups" in err
    off = qnet.json("port", "update", "p1", "--no-port-security", "--no-security-group")
    assert (off["port_security_enabled"], off["security_groups"]) == (False, [])
    assert qnet.json("port", "show", "p1")["security_group_names"] == []
    err = qnet("security", "group", "delete", "default", expect=1)
    assert "HTTP 409" in err


def test_security_group_errors_carry_the_servers_message(qnet):
    qnet("security", "group", "create", "web")
    qnet("security", "group", "rule", "create", "web", "--protocol", "tcp", "--dst-port", "22")
    err = qnet("security", "group", "rule", "create", "web", "--protocol", "6", "--dst-port",
               "22", expect=1)
    assert "HTTP 409" in err and "already exists" in err
    err = qnet("security", "group", "rule", "create", "web", "--dst-port", "22", expect=1)
    assert "HTTP 400" in err and "protocol" in err
    err = qnet("security", "group", "rule", "create", "web", "--ethertype", "IPv6",
               "--remote-ip", "10.0.0.0/8", expect=1)
    assert "HTTP 400" in err
    err = qnet("security", "group", "create", "default", expect=1)
    assert "HTTP 409" in err
    # another project sees neither the group nor its rules
    err = qnet("security", "group", "rule", "list", "web", expect=1, project="bob")
    assert "No security group with name or id 'web'" in err


def test_address_groups_and_rules_that_name_them(qnet):
    office = qnet.json("address", "group", "create", "office", "--address", "192.0.2.7",
                       "--address", "198.51.100.0/24", "--description", "HQ")
    assert (office["name"], office["addresses"], office["description"]) == \
        ("office", ["192.0.2.7/32", "198.51.100.0/24"], "HQ")
    assert qnet.json("address", "group", "add", "office", "2001:db8::/64")["addresses"] == \
        ["192.0.2.7/32", "198.51.100.0/24", "2001:db8::/64"]
    assert qnet.json("address", "group", "remove", "office", "192.0.2.7")["addresses"] == \
        ["198.51.100.0/24", "2001:db8::/64"]
    err = qnet("address", "group", "remove", "office", "192.0.2.7", expect=1)
    assert "HTTP 404" in err
    assert [g["name"] for g in qnet.json("address", "group", "list")] == ["office"]
    assert qnet.json("address", "group", "update", "office", "--name", "hq")["name"] == "hq"
    qnet("security", "group", "create", "ssh")
    rule = qnet.json("security", "group", "rule", "create", "ssh", "--protocol", "tcp",
                     "--dst-port", "22", "--remote-address-group", "hq")
    assert rule["remote_address_group_id"] == office["id"]
    assert qnet.json("address", "group", "show", "hq")["id"] == office["id"]
    err = qnet("address", "group", "delete", "hq", expect=1)
    assert "HTTP 409" in err
    qnet("security", "group", "rule", "delete", rule["id"])
    qnet("address", "group", "delete", "hq")
    assert qnet.json("address", "group", "list") == []
