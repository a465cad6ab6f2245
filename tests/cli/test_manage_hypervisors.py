"""``qnet-manage hypervisor ...`` and ``qnet-manage pki ...`` (controller/manage.py): the join
recipe as the commands print it, the allow-list in the database, and the certificates."""
import shlex
import ssl

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from controller import manage, pki
from controller.core import Core


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'qnet.sqlite'}"


def run(capsys, *argv):
    code = manage.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def steps(out):
    return [shlex.split(line) for line in out.splitlines()]


def test_hypervisor_add_prints_every_step_and_registers_it(capsys, db_url):
    code, out, _ = run(capsys, "--db-url", db_url, "hypervisor", "add", "hv1",
                       "--tunnel-ip", "172.16.1.1", "--controller", "192.0.2.10",
                       "--manager", "192.0.2.10:6641")
    assert code == 0
    assert steps(out) == [
        ["ovs-appctl", "-t", "ovsdb-server", "ovsdb-server/add-remote",
         "db:Open_vSwitch,Open_vSwitch,manager_options"],
        ["ovs-vsctl", "set", "Open_vSwitch", ".", "external_ids:system-id=hv1",
         "external_ids:qnet-tunnel-ip=172.16.1.1"],
        ["ovs-vsctl", "--may-exist", "add-br", "br-int", "--", "set", "Bridge", "br-int",
         "datapath_type=netdev", "protocols=OpenFlow13", "fail_mode=secure",
         "other_config:disable-in-band=true"],
        ["ovs-vsctl", "set-controller", "br-int", "tcp:192.0.2.10:6653"],
        ["ovs-vsctl", "set-manager", "tcp:192.0.2.10:6641"],
    ]
    core = Core.from_url(db_url)
    try:
        assert core.hypervisor_registered("hv1") and not core.hypervisor_registered("hv2")
    finally:
        core.close()
    assert run(capsys, "--db-url", db_url, "hypervisor", "list")[1].startswith(
        "hv1\t172.16.1.1\t")
    assert run(capsys, "--db-url", db_url, "hypervisor", "remove", "hv1")[0] == 0
    assert run(capsys, "--db-url", db_url, "hypervisor", "list")[1] == ""
    assert run(capsys, "--db-url", db_url, "hypervisor", "remove", "hv1")[0] == 1


def test_hypervisor_add_with_tls_sets_ssl_and_ssl_targets(capsys, db_url):
    code, out, _ = run(capsys, "--db-url", db_url, "hypervisor", "add", "hv2",
                       "--tunnel-ip", "2001:db8::2", "--controller", "[2001:db8::1]:6653",
                       "--manager", "2001:db8::1", "--pki-dir", "/etc/qnet/pki",
                       "--vsctl-db", "unix:/run/db.sock", "--ovsdb-server-ctl", "/run/ctl")
    assert code == 0
    got = steps(out)
    assert got[0][:3] == ["ovs-appctl", "-t", "/run/ctl"]
    assert all(s[:2] == ["ovs-vsctl", "--db=unix:/run/db.sock"] for s in got[1:])
    assert ["set-ssl", "/etc/qnet/pki/hv2-privkey.pem", "/etc/qnet/pki/hv2-cert.pem",
            "/etc/qnet/pki/cacert.pem"] in [s[2:] for s in got]
    assert got[-2][2:] == ["set-controller", "br-int", "ssl:[2001:db8::1]:6653"]
    assert got[-1][2:] == ["set-manager", "ssl:[2001:db8::1]:6640"]
    assert "external_ids:qnet-tunnel-ip=2001:db8::2" in got[1]


@pytest.mark.parametrize("argv", [
    ["hv1", "--tunnel-ip", "172.16.1.x"],
    ["hv1", "--tunnel-ip", "172.16.1.1", "--controller", "ctl.example.com"],
    ["hv1", "--tunnel-ip", "172.16.1.1", "--manager", "192.0.2.1:70000"],
    ["hv 1", "--tunnel-ip", "172.16.1.1"],
])
def test_hypervisor_add_refuses_bad_input_and_registers_nothing(capsys, db_url, argv):
    with pytest.raises(SystemExit) as exc:
        manage.main(["--db-url", db_url, "hypervisor", "add", *argv])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
    assert run(capsys, "--db-url", db_url, "hypervisor", "list")[1] == ""


def test_pki_makes_a_ca_and_certificates_named_by_system_id(capsys, tmp_path):
    directory = str(tmp_path / "pki")
    code, out, _ = run(capsys, "pki", "init", "--dir", directory)
    assert code == 0 and pki.ca_certificate(directory) in out.split()
    assert run(capsys, "pki", "init", "--dir", directory)[0] == 1   # never replaces a CA
    assert run(capsys, "pki", "hypervisor", "hv1", "--dir", directory)[0] == 0
    assert run(capsys, "pki", "hypervisor", "../x", "--dir", directory)[0] == 1
    key, cert = pki.paths(directory, "hv1")
    with open(cert, "rb") as f:
        parsed = x509.load_pem_x509_certificate(f.read())
    assert parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "hv1"
    assert (tmp_path / "pki" / "hv1-privkey.pem").stat().st_mode & 0o077 == 0
    # the CA verifies it, as the controller's TLS context will
    ctx = ssl.create_default_context(cafile=pki.ca_certificate(directory))
    ctx.load_cert_chain(cert, key)           # key and certificate belong together
    store = ctx.get_ca_certs()
    [ca] = [dict(r[0] for r in c["subject"])["commonName"] for c in store]
    assert ca.startswith(pki.CA_NAME + " ")
