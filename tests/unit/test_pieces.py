"""The desired state of a switch as a union of pieces, each depending on few inputs."""
from apps import flows
from apps.model import place
from tests.unit.overlay_fixtures import port, two_hypervisors


def pieces(m, chs, chassis_id):
    return flows.chassis_pieces(chassis_id, m, place(m, chs))


def test_pieces_add_up_to_the_switch_state_and_sit_where_their_port_is():
    m, chs = two_hypervisors()
    hv1, hv2 = pieces(m, chs, "hv1"), pieces(m, chs, "hv2")
    assert set(hv1) == {("chassis",), ("network", "net"), ("flood", "net"), ("arp", "p1"),
                        ("arp", "p2"), ("local", "p1"), ("remote", "p2")}
    assert ("local", "p2") in hv2 and ("remote", "p1") in hv2
    union = flows.union(hv1.values())
    state = flows.compile_chassis("hv1", m, place(m, chs))
    assert set(union.flows) == set(state.flows) and union.groups == state.groups
    # pieces that do not depend on the switch are identical wherever they are held
    for key in (("network", "net"), ("arp", "p1"), ("arp", "p2")):
        assert hv1[key] == hv2[key]
    assert hv1[("flood", "net")] != hv2[("flood", "net")]


def test_a_port_change_changes_only_that_ports_pieces():
    m, chs = two_hypervisors()
    before = pieces(m, chs, "hv1")
    m.put(port("p2", "net", "fa:16:3e:00:00:02", "10.0.0.42", "vm2"))
    after = pieces(m, chs, "hv1")
    assert {k for k in before if before[k] != after[k]} == {("arp", "p2")}
    m.put(port("p2", "net", "fa:16:3e:00:00:22", "10.0.0.42", "vm2"))
    again = pieces(m, chs, "hv1")
    assert {k for k in after if after[k] != again[k]} == {("arp", "p2"), ("remote", "p2")}


def test_a_port_admin_down_leaves_its_addresses_answered_but_no_path():
    m, chs = two_hypervisors()
    m.put(port("p2", "net", "fa:16:3e:00:00:02", "10.0.0.12", "vm2", admin_up=False))
    hv1 = pieces(m, chs, "hv1")
    assert ("arp", "p2") in hv1 and ("remote", "p2") not in hv1
    assert [g.buckets for g in hv1[("flood", "net")].groups] == [((("output", 1),),)] * 2


def test_a_recreated_tunnel_port_changes_only_the_switch_piece_and_flooding():
    m, chs = two_hypervisors()
    before = pieces(m, chs, "hv1")
    chs[0].interfaces["qvx1"].ofport = 6
    after = pieces(m, chs, "hv1")
    assert {k for k in before if before[k] != after[k]} == {("chassis",), ("flood", "net")}
