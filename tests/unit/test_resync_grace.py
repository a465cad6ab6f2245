"""After a restart the controller prunes stale flows only once its view of the hypervisors is
complete (or the grace period ran out), so reconnecting one by one cuts no traffic."""
import time
from types import SimpleNamespace

import pytest

from apps.model import LogicalModel
from apps.openflow import QnetController


def controller(grace, hosts_at_load):
    ctl = QnetController(chassis_monitor=SimpleNamespace(chassis={}))
    ctl.attach(SimpleNamespace(resync_grace=grace,
                               model=SimpleNamespace(hosts_at_load=set(hosts_at_load))))
    return ctl


def seen(ctl, *names):
    """Chassis reported over OVSDB; each one's switch also connected over OpenFlow."""
    out = []
    for dpid, name in enumerate(names, start=1):
        ctl.switches[dpid] = object()
        out.append(SimpleNamespace(system_id=name, datapath_id=dpid))
    return out


def test_prunes_only_once_every_chassis_with_active_ports_is_back():
    ctl = controller(60, {"hv1", "hv2"})
    assert ctl._still_settling(seen(ctl, "hv1"))
    assert ctl._still_settling(seen(ctl, "hv1", "hv3"))
    assert not ctl._still_settling(seen(ctl, "hv1", "hv2"))
    assert not ctl._still_settling(seen(ctl, "hv1"))      # settled for good


def test_a_chassis_known_over_ovsdb_but_without_its_switch_is_not_back():
    ctl = controller(60, {"hv1"})
    assert ctl._still_settling([SimpleNamespace(system_id="hv1", datapath_id=9)])


def test_grace_running_out_ends_settling_without_the_missing_chassis():
    ctl = controller(60, {"hv1", "hv2"})
    deadline, awaited = ctl.settling
    ctl.settling = (time.monotonic() - 1, awaited)
    assert not ctl._still_settling(seen(ctl, "hv1"))


@pytest.mark.parametrize("grace, hosts", [(0, {"hv1"}), (60, set())])
def test_no_grace_or_nothing_was_active_prunes_at_once(grace, hosts):
    ctl = controller(grace, hosts)
    assert ctl.settling is None and not ctl._still_settling([])


def test_the_model_remembers_where_ports_were_active(core, alice):
    net = core.networks.create(alice, {"name": "n"})
    up = core.ports.create(alice, {"network_id": net["id"]})
    down = core.ports.create(alice, {"network_id": net["id"]})
    core.ports.report_status(up["id"], "ACTIVE", "hv1", "0000000000000001", 3)
    core.ports.report_status(down["id"], "DOWN", "", None, None)
    assert LogicalModel.load(core).hosts_at_load == {"hv1"}
