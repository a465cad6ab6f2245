"""``python -m simulations.lab``: start the hypervisor lab and open the Mininet CLI.

``--check`` instead installs hand-written VXLAN flows, pings and runs a short iperf3
between the first two VMs, and exits (0 = the lab works). Run as root with
/usr/bin/python3 (Debian's mininet). The lab is always torn down on exit.
"""

import argparse
import sys

from mininet.log import setLogLevel

from . import check
from .topo import start_lab


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m simulations.lab', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--hypervisors', type=int, default=2)
    p.add_argument('--subnets', type=int, default=2)
    p.add_argument('--vms-per-hypervisor', type=int, default=1)
    p.add_argument('--controller', metavar='HOST:PORT',
                   help='relay every br-int to this OpenFlow controller (root namespace)')
    p.add_argument('--check', action='store_true',
                   help='hand-flow ping + iperf3 between the first two VMs, then exit')
    p.add_argument('-v', '--verbose', action='store_true', help='Mininet info logging')
    a = p.parse_args(argv)
    setLogLevel('info' if a.verbose or not a.check else 'warning')
    with start_lab(hypervisors=a.hypervisors, subnets=a.subnets,
                   vms_per_hypervisor=a.vms_per_hypervisor, controller=a.controller) as lab:
        for hv in lab.hypervisors:
            print('%s tunnel %s ovsdb unix:%s' % (hv.name, hv.tunnel_ip, hv.ovsdb_socket))
        if not a.check:
            from mininet.cli import CLI
            CLI(lab.net)
            return 0
        vms = lab.vms
        if len(vms) < 2:
            print('--check needs at least two VMs', file=sys.stderr)
            return 2
        a_vm, b_vm = vms[0], vms[1]
        b_ip = b_vm.IP()
        check.install_hand_flows(lab)
        check.wait_ping(a_vm, b_ip)
        print('ping %s -> %s ok' % (a_vm.name, b_vm.name))
        bps = check.iperf3(a_vm, b_vm, b_ip, seconds=2)
        print('iperf3 %s -> %s: %.0f Mbit/s' % (a_vm.name, b_vm.name, bps / 1e6))
        check.remove_hand_flows(lab)
        ok = not check.ping(a_vm, b_ip, count=2)
        print('without flows ping %s' % ('fails (as it should)' if ok else 'STILL PASSES'))
        return 0 if ok and bps > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
