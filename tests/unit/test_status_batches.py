"""Status reports in batches (``PortManager.report_statuses``): what a cold start sends, with
the same outcome as one ``report_status`` per port."""


def test_a_batch_writes_only_real_changes_each_a_change_and_skips_gone_ports(core, alice):
    net = core.networks.create(alice, {"name": "n"})
    ports = [core.ports.create(alice, {"network_id": net["id"]}) for _ in range(5)]
    gone = ports.pop()
    core.ports.delete(alice, gone["id"])
    n = len(core.plugin.changes)
    reports = [(p["id"], "ACTIVE", "hv1", "0000000000000002", i + 1, None)
               for i, p in enumerate(ports[:3])]
    reports += [(ports[3]["id"], "DOWN", "", None, None, None),       # what it already is
                (gone["id"], "ACTIVE", "hv1", "0000000000000002", 9, None)]
    assert core.ports.report_statuses(reports, batch=2) == 3
    changes = list(core.plugin.changes)[n:]
    assert sorted(c.new["id"] for c in changes) == sorted(p["id"] for p in ports[:3])
    assert {c.hook for c in changes} == {"port_status"}
    assert [core.ports.get(alice, p["id"])["status"] for p in ports] == ["ACTIVE"] * 3 + ["DOWN"]
    assert core.ports.get(alice, ports[2]["id"])["binding:host_id"] == "hv1"
    assert core.ports.report_statuses(reports) == 0          # nothing new: no write at all
    assert len(core.plugin.changes) == n + 3
