"""``qnet-lab``: start a Mininet hypervisor lab against a running ``qnet serve``.

    qnet-lab overlay --hypervisors 3 --scenario seed            # noauth server
    qnet-lab overlay --scenario seed --token $ADMIN_TOKEN       # token server (admin token)
    qnet-lab fabric --topology mesh --scenario tenants          # qnet serve --mode fabric

Each hypervisor's br-int connects to the controller's OpenFlow port and its ovsdb-server to the
controller's OVSDB manager port, through relays, so the lab needs no route to the host. With
``--scenario seed`` the seed's demo is created through the REST API for two tenants with the
same CIDRs, and the reachability matrix is printed. The lab is torn down on exit (Ctrl-C too).
"""
import argparse
import sys

from . import seed
from .api import Api
from .topo import start_lab


def main(argv=None):
    parser = argparse.ArgumentParser(prog="qnet-lab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="lab", required=True)
    ov = sub.add_parser("overlay", help="namespaced hypervisors over a routed underlay")
    ov.add_argument("--hypervisors", type=int, default=3)
    ov.add_argument("--subnets", type=int, default=2, help="underlay subnets (routed)")
    ov.add_argument("--api", default="http://127.0.0.1:9696", help="qnet REST API")
    ov.add_argument("--controller", default="127.0.0.1:6653", help="OpenFlow HOST:PORT")
    ov.add_argument("--ovsdb", default="127.0.0.1:6640", help="OVSDB manager HOST:PORT")
    ov.add_argument("--token", help="API token (admin: creates the tenants' resources)")
    ov.add_argument("--scenario", choices=["none", "seed"], default="none")
    ov.add_argument("--tenants", default="tenant-a,tenant-b",
                    help="comma-separated projects for the scenario")
    ov.add_argument("--cli", action="store_true", help="drop into the Mininet CLI at the end")
    fab = sub.add_parser("fabric", help="plain OVS switches as a tree or a looped mesh "
                                        "(qnet serve --mode fabric)")
    fab.add_argument("--topology", choices=["tree", "mesh"], default="tree")
    fab.add_argument("--api", default="http://127.0.0.1:9696", help="qnet REST API")
    fab.add_argument("--controller", default="127.0.0.1:6653", help="OpenFlow HOST:PORT")
    fab.add_argument("--token", help="admin API token (token auth)")
    fab.add_argument("--scenario", choices=["none", "tenants"], default="none",
                     help="tenants: two tenants, three networks, hosts bound by binding:profile")
    fab.add_argument("--cli", action="store_true", help="drop into the Mininet CLI at the end")
    args = parser.parse_args(argv)
    if args.lab == "fabric":
        return fabric_main(args)

    with start_lab(hypervisors=args.hypervisors, subnets=args.subnets) as lab:
        for hv in lab.hypervisors:
            hv.set_controller(args.controller)
            hv.set_manager(args.ovsdb)
        print(f"lab up: {', '.join(hv.name for hv in lab.hypervisors)} "
              f"(controller {args.controller}, ovsdb {args.ovsdb})")
        if args.scenario == "seed":
            apis = {t: Api(args.api, project=t, token=args.token)
                    for t in args.tenants.split(",")}
            servers = seed.build(lab, apis, lab.hypervisors)
            for s in servers:
                print(f"{s.tenant}/{s.name} on {s.hypervisor.name}: " + ", ".join(
                    f"{n.network}={n.ip}" for n in s.nics))
            matrix = seed.reachability(servers)
            print("\nreachability (ping):\n" + seed.format_matrix(matrix, servers))
            wrong = {k for k, v in matrix.items() if v != seed.expected(servers)[k]}
            print("\nas intended" if not wrong else f"\nNOT as intended: {sorted(wrong)}")
            if wrong and not args.cli:
                return 1
        if args.cli:
            from mininet.cli import CLI
            CLI(lab.net)
    return 0


def fabric_main(args):
    from . import fabric
    with fabric.start_fabric(args.topology, controller=args.controller) as net:
        print(f"fabric up: {', '.join(s.name for s in net.switches)} "
              f"(controller {args.controller})")
        if args.scenario == "tenants":
            admin = Api(args.api, project="ops", token=args.token, admin=not args.token)
            members = fabric.fabric_scenario(net, admin, args.topology)
            fabric.wait_ready(admin, members, fabric.LINKS[args.topology])
            fabric.pin_neighbours(members)
            for m in members:
                print(f"{m.tenant}/{m.network}: {m.host.name} {m.ip} {m.mac}")
            matrix = fabric.reachability(members)
            print("\nreachability (ping):\n" + seed.format_matrix(matrix, members))
            by = {m.label: m.network for m in members}
            if any(ok != (by[a] == by[b]) for (a, b), ok in matrix.items()):
                print("\nNOT as intended")
                if not args.cli:
                    return 1
            else:
                print("\nas intended")
        if args.cli:
            from mininet.cli import CLI
            CLI(net)
    return 0


if __name__ == "__main__":
    sys.exit(main())
