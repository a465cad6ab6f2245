"""Tunnels only between switches that share a network."""
from apps.model import place
from tests.unit.overlay_fixtures import chassis, iface, model, network, port
from tunnel.mesh import tunnel_port_name, tunnel_tag, wanted_tunnels


def test_tunnel_port_names_are_short_and_stable():
    assert tunnel_port_name("172.16.2.1") == tunnel_port_name("172.16.2.1")
    assert tunnel_port_name("172.16.2.1") != tunnel_port_name("172.16.2.2")
    assert len(tunnel_port_name("2001:db8::1")) <= 15


def test_only_switches_sharing_a_network_get_tunnels():
    m = model([network("a", 1), network("b", 2)], [
        port("a1", "a", "fa:16:3e:00:00:01", "10.0.0.2", "va1"),
        port("a2", "a", "fa:16:3e:00:00:02", "10.0.0.3", "va2"),
        port("b3", "b", "fa:16:3e:00:00:03", "10.0.0.2", "vb3")])
    chs = [chassis("hv1", "172.16.1.1", iface("t", 1, "va1")),
           chassis("hv2", "172.16.2.1", iface("t", 1, "va2")),
           chassis("hv3", "172.16.1.2", iface("t", 1, "vb3"))]
    wanted = wanted_tunnels(m, place(m, chs).bound, {c.system_id: c.tunnel_ip for c in chs})
    assert wanted == {"hv1": {tunnel_port_name("172.16.2.1"): "172.16.2.1"},
                      "hv2": {tunnel_port_name("172.16.1.1"): "172.16.1.1"},
                      "hv3": {}}


def test_tunnel_tags_name_a_switch_in_32_bits():
    assert tunnel_tag("172.16.2.1") == 0xAC100201
    assert tunnel_tag("2001:db8::1") == tunnel_tag("2001:db8::1") < 1 << 32
    assert tunnel_tag("2001:db8::1") != tunnel_tag("2001:db8::2")
