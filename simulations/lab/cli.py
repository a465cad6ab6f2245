"""qnet-lab: a Mininet hypervisor lab against a running `qnet serve`, and servers in it.

    qnet-lab overlay --hypervisors 3                      # as root; runs until Ctrl-C
    qnet network create dmz-net web-net db-net            # in another terminal
    qnet subnet create --network dmz-net 10.0.1.0/24      # ... one per network
    qnet-lab server create fw --nics dmz-net,web-net      # or the seed's spelling:
    qnet-lab create-server fw image=fw-img nics=dmz-net,web-net
    qnet-lab server list
    qnet-lab exec fw ping -c1 10.0.2.5
    qnet-lab server delete fw
    qnet-lab fabric --topology mesh --scenario tenants    # with qnet serve --mode fabric

`overlay` starts namespaced hypervisors (own ovsdb-server/ovs-vswitchd each, userspace datapath)
over a routed underlay, connects them to the controller's OpenFlow and OVSDB manager ports, and
serves a control socket. `server create` creates the server's ports through the API with your
credentials (QNET_URL, QNET_TOKEN, QNET_PROJECT as for `qnet`), asks the lab to start a VM on a
hypervisor and plug its NICs (iface-id = the port's attachment, qnet-project-id = its project),
runs DHCP in it and prints its addresses. `--scenario seed` builds the seed's demo for two
tenants with the same CIDRs and prints who can ping whom; `--scenario seed-routed` gives
fw's role to a qnet router per tenant (dmz-net, web-net and the outside; a dmz server with a
floating IP on dmz-net). `fabric` starts plain OVS switches as a tree or a looped mesh for
`qnet serve --mode fabric`. The lab is torn down on exit (Ctrl-C, SIGTERM too).
"""
import argparse
import sys
import threading

from qnetclient import Client, ClientError, Settings
from qnetclient.cli import connection_options
from qnetclient.output import render_list

from . import control, seed
from .nodes import LabError

SERVER_KEYS = ("name", "image", "nics", "hypervisor")


def overlay(args):
    from .topo import start_lab
    with start_lab(hypervisors=args.hypervisors, subnets=args.subnets) as lab, \
            control.LabControl(lab, args.control) as ctl:
        outside = None
        if args.scenario == "seed-routed" and not args.outside:
            args.outside = ",".join(hv.name for hv in lab.hypervisors[:2])
        if args.outside:
            from .outside import ADDRESS, PHYSNET, add_outside
            outside = add_outside(lab, args.outside.split(","))
            print(f"outside: {ADDRESS} on physical network {PHYSNET}, reached through "
                  f"{args.outside} (`qnet-lab exec outside ...`)", flush=True)
        for hv in lab.hypervisors:
            hv.set_controller(args.controller)
            hv.set_manager(args.ovsdb)
        print(f"lab up: {', '.join(hv.name for hv in lab.hypervisors)} "
              f"(controller {args.controller}, ovsdb {args.ovsdb}, control {ctl.path})",
              flush=True)
        code = 0
        if args.scenario in ("seed", "seed-routed"):
            code = run_seed(lab, ctl, args, outside)
        if args.cli:
            from mininet.cli import CLI
            CLI(lab.net)
        elif not args.once:
            print("ready: `qnet-lab server create NAME --nics NET[,NET]`; Ctrl-C stops the lab",
                  flush=True)
            threading.Event().wait()
    return code


def run_seed(lab, ctl, args, outside=None):
    """The seed's demo (``seed-routed``: fw a router per tenant, a dmz server behind a floating
    IP, and the outside host in the matrix); 0 if the matrix is as intended."""
    clients = {t: Client(args.api, project=t, token=args.token)
               for t in args.tenants.split(",")}
    routed = []
    if args.scenario == "seed-routed":
        admin = Client(args.api, project="admin", token=args.token, admin=not args.token)
        servers, routed = seed.build_routed(lab, clients, admin, lab.hypervisors)
    else:
        servers = seed.build(lab, clients, lab.hypervisors)
    for s in servers:
        ctl.add(s)
        line = f"{s.tenant}/{s.name} on {s.hypervisor.name}: " + ", ".join(
            f"{n.network}={n.ip}" for n in s.nics)
        if routed:          # DHCP's default route: the router, where there is one
            gateway = seed.default_route(s)
            line += f" (default via {gateway})" if gateway else " (no default route)"
        print(line)
    for r in routed:
        print(seed.describe_routed(r))
    matrix, expected = seed.reachability(servers, bool(routed)), seed.expected(servers)
    names = list(servers)
    if routed:
        matrix.update(seed.outside_reachability(servers, routed, outside))
        expected, names = seed.expected_routed(servers), names + [seed.OUTSIDE]
    print("\nreachability (ping):\n" + seed.format_matrix(matrix, names), flush=True)
    wrong = {k for k, v in matrix.items() if v != expected[k]}
    print("\nas intended" if not wrong else f"\nNOT as intended: {sorted(wrong)}", flush=True)
    return 1 if wrong else 0


def fabric_main(args):
    from . import fabric
    with fabric.start_fabric(args.topology, controller=args.controller) as net:
        print(f"fabric up: {', '.join(s.name for s in net.switches)} "
              f"(controller {args.controller})")
        if args.scenario == "tenants":
            admin = Client(args.api, project="ops", token=args.token, admin=not args.token)
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


def server_fields(args):
    """NAME and --nics/--image/--hypervisor, or the seed's KEY=VALUE spelling."""
    fields = {"name": None, "nics": args.nics, "image": args.image,
              "hypervisor": args.hypervisor}
    for item in args.spec:
        key, sep, value = item.partition("=")
        if not sep:
            if fields["name"]:
                raise LabError(f"two names: {fields['name']} and {item}")
            fields["name"] = item
        elif key in SERVER_KEYS:
            fields[key] = value
        else:
            raise LabError(f"unknown setting {key}= (use {', '.join(SERVER_KEYS)})")
    if not fields["name"] or not fields["nics"]:
        raise LabError("a server needs a NAME and --nics NET[,NET] (or nics=NET[,NET])")
    return fields


def addresses(server):
    return ", ".join(f"{n['network']}={n['ip']}" for n in server["nics"])


def print_servers(servers, args):
    rows = [{**s, "addresses": addresses(s)} for s in servers]
    print(render_list(rows, args.format or "table",
                      ("name", "tenant", "hypervisor", "host", "addresses"), args.columns))


def client_of(args):
    return Client(settings=Settings.load(url=args.url, token=args.token, project=args.project,
                                         admin=args.admin, config=args.config))


def server_create(args):
    fields = server_fields(args)
    client = client_of(args)
    ports = seed.create_ports(client, fields["name"], fields["nics"].split(","))
    try:
        server = control.call("server.create", args.control, name=fields["name"],
                              tenant=ports[0][1]["project_id"], ports=ports,
                              hypervisor=fields["hypervisor"])
    except Exception:
        for _, port in ports:
            client.ports.delete(port["id"])
        raise
    if (args.format or "table") == "table":
        print(f"{server['tenant']}/{server['name']} on {server['hypervisor']}: "
              f"{addresses(server)}")
    else:
        print_servers([server], args)


def server_list(args):
    print_servers(control.call("server.list", args.control), args)


def server_delete(args):
    client = client_of(args)
    for name in args.names:
        server = control.call("server.delete", args.control, name=name)
        for nic in server["nics"]:
            try:
                client.ports.delete(nic["port_id"])
            except ClientError as exc:
                print(f"qnet-lab: port {nic['port_id']} of {name} not deleted: {exc}",
                      file=sys.stderr)
        print(f"deleted {server['tenant']}/{server['name']}")


def exec_(args):
    if not args.argv:
        raise LabError("exec needs a command")
    result = control.call("exec", args.control, name=args.server,
                          cmd=" ".join(args.argv), timeout=args.timeout)
    sys.stdout.write(result["output"])
    return result["rc"]


def add_server_create(sub, name, help):
    p = sub.add_parser(name, help=help, description=help + ". NAME and the NICs may also be "
                       "given as the seed spells them: name=fw image=fw-img "
                       "nics=dmz-net,web-net (the image is informative: every VM is a "
                       "Mininet host).")
    p.add_argument("spec", nargs="+", metavar="NAME|KEY=VALUE",
                   help="the server's name, or name=/image=/nics=/hypervisor= settings")
    p.add_argument("--nics", metavar="NET[,NET]", help="networks (names or ids), one NIC each")
    p.add_argument("--image", help="informative only")
    p.add_argument("--hypervisor", help="hvN (default: the one with the fewest VMs)")
    lab_options(p, server_create)


def lab_options(p, handler):
    p.add_argument("--control", metavar="SOCKET",
                   help=f"the lab's control socket (env QNET_LAB_CONTROL, default "
                        f"{control.DEFAULT_SOCKET})")
    connection_options(p, None)
    p.set_defaults(handler=handler)


def build_parser():
    parser = argparse.ArgumentParser(prog="qnet-lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ov = sub.add_parser("overlay", help="start the hypervisor lab (root) and keep it running",
                        description="Start namespaced hypervisors over a routed underlay, "
                        "connected to a running qnet serve; serve the control socket "
                        "until Ctrl-C.")
    ov.add_argument("--hypervisors", type=int, default=3, help="how many (default 3)")
    ov.add_argument("--subnets", type=int, default=2, help="underlay subnets, routed")
    ov.add_argument("--api", default="http://127.0.0.1:9696",
                    help="qnet REST API (for --scenario)")
    ov.add_argument("--controller", default="127.0.0.1:6653", help="OpenFlow HOST:PORT")
    ov.add_argument("--ovsdb", default="127.0.0.1:6640", help="OVSDB manager HOST:PORT")
    ov.add_argument("--token", help="API token for --scenario (admin: creates the tenants' "
                    "resources)")
    ov.add_argument("--scenario", choices=["none", "seed", "seed-routed"], default="none",
                    help="seed: the seed's demo for --tenants, and its reachability matrix; "
                         "seed-routed: fw played by a qnet router per tenant (dmz-net, web-net "
                         "and its gateway on the outside host's external network: --outside, "
                         "default the first two hypervisors), a dmz server on dmz-net with a "
                         "floating IP, web and db as in the seed (db-net without a gateway)")
    ov.add_argument("--outside", metavar="HV[,HV]",
                    help="an outside host (203.0.113.254) on a flat external network, "
                         "physnet1, that these hypervisors reach through a bridge mapping "
                         "(docs/l3.md)")
    ov.add_argument("--tenants", default="tenant-a,tenant-b",
                    help="comma-separated projects for the scenario")
    ov.add_argument("--control", metavar="SOCKET",
                    help=f"control socket to serve (default {control.DEFAULT_SOCKET})")
    end = ov.add_mutually_exclusive_group()
    end.add_argument("--cli", action="store_true", help="open the Mininet CLI; exit stops")
    end.add_argument("--once", action="store_true",
                     help="stop after the scenario (exit status 1 if the matrix is wrong)")
    ov.set_defaults(handler=overlay)

    fab = sub.add_parser("fabric", help="plain OVS switches as a tree or a looped mesh "
                                        "(qnet serve --mode fabric)",
                         description="Plain OVS switches as a tree or a looped mesh, for "
                         "qnet serve --mode fabric.")
    fab.add_argument("--topology", choices=["tree", "mesh"], default="tree",
                     help="switch layout (default tree)")
    fab.add_argument("--api", default="http://127.0.0.1:9696", help="qnet REST API")
    fab.add_argument("--controller", default="127.0.0.1:6653", help="OpenFlow HOST:PORT")
    fab.add_argument("--token", help="admin API token (token auth)")
    fab.add_argument("--scenario", choices=["none", "tenants"], default="none",
                     help="tenants: two tenants, three networks, hosts bound by binding:profile")
    fab.add_argument("--cli", action="store_true", help="drop into the Mininet CLI at the end")
    fab.set_defaults(handler=fabric_main)

    srv = sub.add_parser("server", help="VMs in the running lab",
                         description="VMs in the running lab").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add_server_create(srv, "create", "create the ports, start a VM with them, DHCP, print "
                      "its addresses")
    lab_options(srv.add_parser("list", help="the lab's VMs and their addresses",
                               description="The lab's VMs and their addresses."), server_list)
    p = srv.add_parser("delete", help="stop VMs and delete their ports",
                       description="Stop VMs (NAME or TENANT/NAME) and delete their ports.")
    p.add_argument("names", nargs="+", metavar="NAME", help="NAME or TENANT/NAME")
    lab_options(p, server_delete)
    add_server_create(sub, "create-server", "the seed's spelling of `server create`")
    p = sub.add_parser("exec", help="run a command in a VM",
                       description="Run a shell command in a VM; exits with its status.")
    p.add_argument("server", metavar="NAME", help="NAME or TENANT/NAME")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND",
                   help="the command and its arguments (options of exec go before NAME)")
    p.add_argument("--timeout", type=float, default=60, help="seconds (default 60)")
    p.add_argument("--control", metavar="SOCKET", help="the lab's control socket")
    p.set_defaults(handler=exec_)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except (LabError, ClientError) as exc:
        print(f"qnet-lab: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
