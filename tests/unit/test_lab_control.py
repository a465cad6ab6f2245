"""qnet-lab's front-end without a lab: the seed's spelling of create-server, and the control
socket's protocol and errors (the lab test drives the same socket with real VMs)."""
import argparse

import pytest

from simulations.lab import cli, control
from simulations.lab.nodes import LabError


def fields(*spec, nics=None, image=None, hypervisor=None):
    return cli.server_fields(argparse.Namespace(spec=list(spec), nics=nics, image=image,
                                                hypervisor=hypervisor))


def test_the_seeds_spelling_and_the_flags_mean_the_same():
    seed = fields("fw", "image=fw-img", "nics=dmz-net,web-net")
    flags = fields("fw", nics="dmz-net,web-net", image="fw-img")
    assert seed == flags == {"name": "fw", "nics": "dmz-net,web-net", "image": "fw-img",
                             "hypervisor": None}
    assert fields("name=db", "nics=db-net", "hypervisor=hv2")["hypervisor"] == "hv2"


@pytest.mark.parametrize("spec, message", [
    (("image=fw-img", "nics=a"), "needs a NAME"),
    (("fw",), "needs a NAME and --nics"),
    (("fw", "web", "nics=a"), "two names"),
    (("fw", "nics=a", "flavor=big"), "unknown setting flavor="),
])
def test_bad_server_specs_are_refused(spec, message):
    with pytest.raises(LabError, match=message):
        fields(*spec)


@pytest.fixture
def lab_socket(tmp_path):
    path = str(tmp_path / "control.sock")
    with control.LabControl(lab=None, path=path):
        yield path


def test_requests_and_errors_over_the_socket(lab_socket):
    assert control.call("server.list", lab_socket) == []
    with pytest.raises(LabError, match="no server fw in this lab"):
        control.call("exec", lab_socket, name="fw", cmd="true")
    with pytest.raises(LabError, match="unknown operation"):
        control.call("reboot", lab_socket)
    with pytest.raises(LabError, match="TypeError"):       # a bad request keeps the lab up
        control.call("server.delete", lab_socket, nom="fw")
    assert control.call("server.list", lab_socket) == []


def test_a_second_lab_on_the_same_socket_is_refused(lab_socket):
    with pytest.raises(LabError, match="another lab already serves"):
        control.LabControl(lab=None, path=lab_socket).start()


def test_commands_without_a_lab_say_how_to_start_one(tmp_path, capsys):
    assert cli.main(["server", "list", "--control", str(tmp_path / "none.sock")]) == 1
    err = capsys.readouterr().err
    assert "no lab answers on" in err and "qnet-lab overlay" in err
