"""The ``qnet`` CLI against a real ``qnet serve`` (noop plug-in) on free ports: every subcommand,
JSON output parsed and checked, and the error paths (exit status and the server's message).

Most commands run in-process (``qnetclient.cli.main``: same HTTP, no interpreter start per
command); a few run the installed console script to prove the entry point, environment and exit
codes.
"""
import argparse
import json
import os
import subprocess
import sys

import pytest

from qnetclient import cli
from simulations.serve import QnetServer, free_port
from tests.cli.conftest import Qnet

QNET = os.path.join(os.path.dirname(sys.executable), "qnet")


def columns_of(table):
    """Header names and the character offset where each column starts."""
    header = table.splitlines()[0]
    names = header.split()
    return names, [header.index(n) for n in names]


# -- networks --------------------------------------------------------------------------------------
def test_network_create_list_show_update_delete(qnet):
    created = qnet.json("network", "create", "dmz-net", "web-net", "db-net")
    assert [n["name"] for n in created] == ["dmz-net", "web-net", "db-net"]
    listed = qnet.json("network", "list")
    assert {n["id"] for n in listed} == {n["id"] for n in created}
    web = qnet.json("network", "show", "web-net")
    assert web["id"] == created[1]["id"] and web["mtu"] == 1450 and web["project_id"] == "alice"

    updated = qnet.json("network", "update", "web-net", "--name", "www-net", "--mtu", "1400",
                        "--disable", "--description", "front")
    assert (updated["name"], updated["mtu"], updated["admin_state_up"],
            updated["description"]) == ("www-net", 1400, False, "front")
    assert qnet.json("network", "show", web["id"])["name"] == "www-net"

    assert qnet("network", "delete", "www-net", "db-net") == ""
    assert [n["name"] for n in qnet.json("network", "list")] == ["dmz-net"]


def test_network_list_filters_table_and_value_formats(qnet):
    qnet("network", "create", "a-net", "b-net")
    only = qnet.json("network", "list", "--name", "b-net")
    assert [n["name"] for n in only] == ["b-net"]
    assert qnet.json("network", "list", "--filter", "name=a-net")[0]["name"] == "a-net"

    table = qnet("network", "list")
    names, starts = columns_of(table)
    assert names == ["id", "name", "status", "subnets"]
    rows = table.splitlines()[2:]
    assert len(rows) == 2
    for row in rows:            # every value starts where its column's header does
        assert row[starts[1]:].split()[0] in ("a-net", "b-net")
        assert row[starts[2]:].split()[0] == "ACTIVE"

    values = qnet("network", "list", "-f", "value", "-c", "name", "-c", "status")
    assert sorted(values.splitlines()) == ["a-net ACTIVE", "b-net ACTIVE"]
    net_id = qnet("network", "show", "a-net", "-f", "value", "-c", "id").strip()
    assert qnet.json("network", "show", net_id)["name"] == "a-net"
    show = qnet("network", "show", "a-net", "-c", "name", "-c", "mtu").splitlines()
    assert show[0].split() == ["Field", "Value"] and show[2].split() == ["name", "a-net"]
    assert show[3].split() == ["mtu", "1450"]


def test_options_may_come_after_the_command(server, capsys):
    assert cli.main(["network", "create", "late", "--url", server.url, "--project", "zed",
                     "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["project_id"] == "zed"


# -- subnets ---------------------------------------------------------------------------------------
def test_subnet_create_list_show_update_delete(qnet):
    qnet("network", "create", "web-net", "db-net")
    sub = qnet.json("subnet", "create", "--network", "web-net", "10.0.2.0/24", "--name",
                    "web-v4", "--pool", "10.0.2.100-10.0.2.199", "--dns", "10.0.0.53",
                    "--gateway", "10.0.2.254")
    assert sub["cidr"] == "10.0.2.0/24" and sub["ip_version"] == 4
    assert sub["allocation_pools"] == [{"start": "10.0.2.100", "end": "10.0.2.199"}]
    assert sub["dns_nameservers"] == ["10.0.0.53"] and sub["gateway_ip"] == "10.0.2.254"
    v6 = qnet.json("subnet", "create", "--network", "db-net", "2001:db8::/64", "--no-dhcp",
                   "--gateway", "none")
    assert v6["ip_version"] == 6 and v6["gateway_ip"] is None and v6["enable_dhcp"] is False

    assert [s["id"] for s in qnet.json("subnet", "list", "--network", "web-net")] == [sub["id"]]
    assert len(qnet.json("subnet", "list")) == 2
    assert qnet.json("network", "show", "web-net")["subnets"] == [sub["id"]]
    assert qnet.json("subnet", "show", "web-v4")["id"] == sub["id"]

    changed = qnet.json("subnet", "update", "web-v4", "--name", "front-v4", "--no-dhcp",
                        "--gateway", "none")
    assert (changed["name"], changed["enable_dhcp"], changed["gateway_ip"]) == \
        ("front-v4", False, None)
    qnet("subnet", "delete", "front-v4", v6["id"])
    assert qnet.json("subnet", "list") == []


# -- ports -----------------------------------------------------------------------------------------
def test_port_create_list_show_update_delete(qnet):
    qnet("network", "create", "web-net", "db-net")
    qnet("subnet", "create", "--network", "web-net", "10.0.2.0/24", "--name", "web-v4")
    port = qnet.json("port", "create", "web-eth0", "--network", "web-net", "--fixed-ip",
                     "subnet=web-v4,ip_address=10.0.2.10", "--device-id", "web",
                     "--device-owner", "compute:lab", "--attach", "nova/alice/server/web/eth0")
    assert port["fixed_ips"][0]["ip_address"] == "10.0.2.10"
    assert port["attachment"] == "nova/alice/server/web/eth0"
    assert port["status"] == "DOWN"           # noop plug-in: nothing binds it
    other = qnet.json("port", "create", "--network", "db-net", "--no-port-security",
                      "--mac", "fa:16:3e:00:00:01", "--disable")
    assert other["port_security_enabled"] is False and other["mac_address"] == "fa:16:3e:00:00:01"
    assert other["admin_state_up"] is False and other["fixed_ips"] == []

    assert [p["id"] for p in qnet.json("port", "list", "--network", "web-net")] == [port["id"]]
    assert [p["id"] for p in qnet.json("port", "list", "--device-id", "web")] == [port["id"]]
    assert len(qnet.json("port", "list")) == 2
    assert qnet.json("port", "show", "web-eth0")["mac_address"] == port["mac_address"]

    upd = qnet.json("port", "update", "web-eth0", "--name", "www-eth0", "--fixed-ip",
                    "10.0.2.20", "--allowed-address", "10.0.2.100", "--disable")
    assert upd["name"] == "www-eth0" and upd["admin_state_up"] is False
    assert [ip["ip_address"] for ip in upd["fixed_ips"]] == ["10.0.2.20"]
    assert upd["allowed_address_pairs"] == [{"ip_address": "10.0.2.100",
                                             "mac_address": port["mac_address"]}]
    qnet("port", "delete", "www-eth0", other["id"])
    assert qnet.json("port", "list") == []


def test_port_attach_and_detach(qnet):
    qnet("network", "create", "web-net")
    qnet("port", "create", "p1", "--network", "web-net")
    attached = qnet.json("port", "attach", "p1", "nova/alice/server/fw/eth1")
    assert attached["attachment"] == "nova/alice/server/fw/eth1"
    assert qnet.json("port", "show", "p1")["attachment"] == "nova/alice/server/fw/eth1"
    assert qnet.json("port", "detach", "p1")["attachment"] is None
    assert qnet("port", "show", "p1", "-f", "value", "-c", "attachment").strip() == ""


def test_port_table_lists_addresses_on_one_line(qnet):
    qnet("network", "create", "web-net")
    qnet("subnet", "create", "--network", "web-net", "10.0.2.0/24")
    qnet("port", "create", "p1", "--network", "web-net", "--fixed-ip", "10.0.2.7")
    table = qnet("port", "list")
    names, starts = columns_of(table)
    assert names == ["id", "name", "network_id", "mac_address", "fixed_ips", "status",
                     "attachment"]
    (row,) = table.splitlines()[2:]
    assert "ip_address=10.0.2.7" in row[starts[4]:]


# -- errors ----------------------------------------------------------------------------------------
def test_unknown_name_fails_with_a_clear_message(qnet):
    err = qnet("network", "show", "nope", expect=1)
    assert "No network with name or id 'nope'" in err
    err = qnet("port", "create", "--network", "nope", expect=1)
    assert "No network with name or id 'nope'" in err
    assert qnet.json("port", "list") == []


def test_ambiguous_name_lists_the_ids_and_changes_nothing(qnet):
    first, second = qnet.json("network", "create", "twin", "twin")
    err = qnet("network", "delete", "twin", expect=1)
    assert "2 networks are named 'twin'" in err
    assert first["id"] in err and second["id"] in err and "use an id" in err
    assert len(qnet.json("network", "list")) == 2
    qnet("network", "delete", first["id"])        # an id always works
    assert qnet.json("network", "show", "twin")["id"] == second["id"]


def test_conflicts_report_the_servers_message(qnet):
    qnet("network", "create", "web-net")
    qnet("subnet", "create", "--network", "web-net", "10.0.2.0/24")
    qnet("port", "create", "p1", "--network", "web-net", "--attach", "iface-1")
    qnet("port", "create", "p2", "--network", "web-net")
    err = qnet("network", "delete", "web-net", expect=1)
    assert "ports still in use" in err and "HTTP 409" in err
    err = qnet("port", "attach", "p2", "iface-1", expect=1)
    assert "HTTP 409" in err
    assert qnet.json("port", "show", "p2")["attachment"] is None
    err = qnet("port", "create", "p3", "--network", "web-net", "--fixed-ip",
               qnet.json("port", "show", "p1")["fixed_ips"][0]["ip_address"], expect=1)
    assert "HTTP 409" in err
    assert len(qnet.json("port", "list")) == 2


def test_bad_input_is_a_400_with_the_servers_message(qnet):
    qnet("network", "create", "web-net")
    err = qnet("subnet", "create", "--network", "web-net", "10.0.2.0/33", expect=1)
    assert "HTTP 400" in err and "10.0.2.0/33" in err
    err = qnet("network", "update", "web-net", "--mtu", "20", expect=1)
    assert "HTTP 400" in err
    assert qnet.json("network", "show", "web-net")["mtu"] == 1450


def test_usage_errors_exit_2(qnet, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["subnet", "create", "10.0.0.0/24"])      # --network missing
    assert exc.value.code == 2
    assert "--network" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["subnet", "create", "--network", "x", "10.0.0.0/24", "--pool", "10.0.0.5"])
    assert exc.value.code == 2


def test_unreachable_server(capsys):
    assert cli.main(["--url", f"http://127.0.0.1:{free_port()}", "network", "list"]) == 1
    assert "cannot reach qnet at http://127.0.0.1:" in capsys.readouterr().err


def test_the_client_takes_proxies_and_ca_bundle_from_the_environment(server, monkeypatch):
    """The environment is read once, when a Client is made: a proxy that does not answer
    makes its calls fail unless NO_PROXY names the server, and a CA bundle is what it
    verifies TLS with."""
    from qnetclient import Client, ConnectionFailed
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(ConnectionFailed):
        Client(server.url, project="p").networks.list()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/qnet/ca.pem")
    client = Client(server.url, project="p")
    assert client.networks.list() == []
    assert client.session.verify == "/etc/qnet/ca.pem"


def test_topology_error_path_says_what_is_missing(qnet):
    err = qnet("topology", expect=1, project="admin-project")
    assert "topology" in err and "HTTP 40" in err


# -- token mode ------------------------------------------------------------------------------------
def test_token_server_401_and_tenancy(token_server, capsys):
    admin_token = token_server.manage("token", "create", "--project", "ops", "--admin")
    alice_token = token_server.manage("token", "create", "--project", "alice")
    q = Qnet(token_server.url, capsys)
    err = q("network", "list", expect=1, token="qnet-wrong")
    assert "The token is not valid" in err and "HTTP 401" in err
    assert cli.main(["--url", token_server.url, "network", "list"]) == 1
    assert "HTTP 401" in capsys.readouterr().err

    # an admin token with --project creates in (and lists from) that project
    created = q.json("network", "create", "web-net", "--project", "alice", token=admin_token)
    assert created["project_id"] == "alice"
    assert [n["id"] for n in q.json("network", "list", token=alice_token)] == [created["id"]]
    bob_token = token_server.manage("token", "create", "--project", "bob")
    err = q("network", "show", "web-net", expect=1, token=bob_token)
    assert "No network with name or id 'web-net'" in err


# -- pagination, settings, entry point -------------------------------------------------------------
def test_lists_follow_the_servers_pages(tmp_path, capsys):
    with QnetServer(tmp_path, extra=["--max-page-size", "3"]) as srv:
        q = Qnet(srv.url, capsys)
        names = [f"n{i}" for i in range(8)]
        q("network", "create", *names)
        assert sorted(n["name"] for n in q.json("network", "list")) == names
        from qnetclient import Client
        client = Client(srv.url, project="alice")
        assert len(list(client.networks.iter(page_size=2))) == 8


def test_settings_from_file_env_and_flags(server, tmp_path, monkeypatch, capsys):
    ini = tmp_path / "client.ini"
    ini.write_text(f"[qnet]\nurl = {server.url}\nproject = from-file\n")
    monkeypatch.setenv("QNET_CONFIG", str(ini))
    assert cli.main(["network", "create", "a", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["project_id"] == "from-file"
    monkeypatch.setenv("QNET_PROJECT", "from-env")
    assert cli.main(["network", "create", "b", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["project_id"] == "from-env"
    assert cli.main(["--project", "from-flag", "network", "create", "c", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["project_id"] == "from-flag"
    ini.write_text("[qnet]\nurl = x\ncolour = blue\n")
    with pytest.raises(SystemExit) as exc:
        cli.main(["network", "list"])
    assert exc.value.code == 2 and "colour" in capsys.readouterr().err


def test_console_script_env_and_exit_codes(server, tmp_path):
    env = {**os.environ, "QNET_URL": server.url, "QNET_PROJECT": "carol",
           "QNET_CONFIG": str(tmp_path / "none.ini")}
    run = lambda *a: subprocess.run([QNET, *a], env=env, capture_output=True, text=True,
                                    timeout=30)
    out = run("network", "create", "web-net", "-f", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["project_id"] == "carol"
    out = run("network", "delete", "missing")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == "qnet: error: No network with name or id 'missing'. (HTTP 404)"


def leaves(parser, path=()):
    """Every (command path, parser) of the tree."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaves(sub, path + (name,))
            return
    yield path, parser


def test_every_command_has_useful_help():
    parser = cli.build_parser()
    found = {path: p for path, p in leaves(parser)}
    for group in ("network", "subnet"):
        for action in ("create", "list", "show", "update", "delete"):
            assert (group, action) in found
    for action in ("create", "list", "show", "update", "delete", "attach", "detach"):
        assert ("port", action) in found
    assert ("topology",) in found
    for path, p in found.items():
        text = p.format_help()
        assert p.description and len(p.description) > 10, path
        assert "--format" in text and "--url" in text, path
        for action in p._actions:     # every argument says what it is for
            assert action.help, (path, action.dest)


def test_topology_of_a_fabric_server(tmp_path, capsys):
    with QnetServer(tmp_path, plugin="openflow", extra=["--mode", "fabric"]) as srv:
        q = Qnet(srv.url, capsys, project="ops")
        topo = q.json("topology", "--admin")
        assert topo["mode"] == "fabric" and topo["switches"] == [] and topo["links"] == []
        table = q("topology", "--admin")
        assert table.startswith("mode: fabric\n") and "switches (0)" in table
        assert "admin only" in q("topology", expect=1)
