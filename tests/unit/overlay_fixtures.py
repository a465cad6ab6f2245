"""Small logical models and chassis reports for data-plane unit tests: the builders the benches
use too (simulations/fixtures.py), and a two-hypervisor world."""
from simulations.fixtures import chassis, iface, model, network, port

__all__ = ["chassis", "iface", "model", "network", "port", "two_hypervisors"]


def two_hypervisors(extra_ports=()):
    """vm1 on hv1 (ofport 1) and vm2 on hv2 (ofport 1), one network (VNI 1001); tunnels hv1:5,
    hv2:7."""
    m = model([network("net", 1001)],
              [port("p1", "net", "fa:16:3e:00:00:01", "10.0.0.11", "vm1"),
               port("p2", "net", "fa:16:3e:00:00:02", "10.0.0.12", "vm2"), *extra_ports])
    hv1 = chassis("hv1", "172.16.1.1", iface("tap1", 1, "vm1"),
                  iface("qvx1", 5, type_="vxlan", remote_ip="172.16.2.1"), datapath_id=1)
    hv2 = chassis("hv2", "172.16.2.1", iface("tap2", 1, "vm2"),
                  iface("qvx2", 7, type_="vxlan", remote_ip="172.16.1.1"), datapath_id=2)
    return m, [hv1, hv2]
