"""``qnet-manage``: operator tasks done directly on the database (projects, API tokens, the
hypervisors' allow-list) and on the control channels' certificates (``pki``).

Whoever can write the database is the operator, so this needs no token: it is how the first
admin token comes to be.
"""
import argparse
import datetime
import json
import shlex
import subprocess
import sys

from sqlalchemy import select

from controller import config
from controller.db import Database
from controller.models import Hypervisor, Project, Token, utcnow
from controller.resource import isoformat


def main(argv=None):
    parser = argparse.ArgumentParser(prog="qnet-manage", description=__doc__.split("\n")[0])
    parser.add_argument("--config", metavar="FILE", help="INI file with a [qnet] section")
    parser.add_argument("--db-url", dest="db_url", default=None,
                        help="SQLAlchemy database URL (default: as qnet serve)")
    sub = parser.add_subparsers(dest="command", required=True)
    proj = sub.add_parser("project", help="projects (tenants)").add_subparsers(
        dest="action", required=True)
    p_create = proj.add_parser("create", help="create a project")
    p_create.add_argument("project_id", type=text(64))
    p_create.add_argument("--name", default="", type=text(255))
    proj.add_parser("list", help="list projects")
    tok = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    t_create = tok.add_parser("create", help="create a token (printed once, stored hashed)")
    t_create.add_argument("--project", required=True, type=text(64),
                          help="project the token acts for (created if missing)")
    t_create.add_argument("--admin", action="store_true", help="the token may act as admin")
    t_create.add_argument("--description", default="", type=text(255))
    t_create.add_argument("--expires", metavar="SECONDS|DATE", type=expiry, default=None,
                          help="lifetime: a number of seconds from now, or an ISO 8601 date "
                               "or time (UTC unless it names an offset); default: until revoked")
    tok.add_parser("list", help="list tokens (not their secrets)")
    t_revoke = tok.add_parser("revoke", help="revoke a token by its number")
    t_revoke.add_argument("token_id", type=int)
    hyp = sub.add_parser("hypervisor", help="hypervisors: join one, the allow-list").add_subparsers(
        dest="action", required=True)
    h_add = hyp.add_parser(
        "add", help="register a hypervisor and print (or --run) the ovs-vsctl steps that make "
                    "it join (docs/hypervisors.md)")
    h_add.add_argument("name", type=text(255), help="its external_ids:system-id")
    h_add.add_argument("--tunnel-ip", required=True, help="its underlay (VXLAN) address")
    h_add.add_argument("--controller", default="127.0.0.1:6653",
                       help="HOST[:PORT] of qnet serve's OpenFlow listener (ofp_listen)")
    h_add.add_argument("--manager", default="127.0.0.1:6640",
                       help="HOST[:PORT] of qnet serve's OVSDB manager (ovsdb_listen)")
    h_add.add_argument("--pki-dir", metavar="DIR", help="use TLS (ssl: targets, set-ssl) with "
                       "NAME-privkey.pem, NAME-cert.pem and cacert.pem in DIR, as made by "
                       "qnet-manage pki (the path on the hypervisor)")
    h_add.add_argument("--vsctl-db", metavar="TARGET",
                       help="ovs-vsctl --db (default: ovs-vsctl's own)")
    h_add.add_argument("--ovsdb-server-ctl", metavar="SOCKET", default="ovsdb-server",
                       help="ovs-appctl -t target of the hypervisor's ovsdb-server")
    h_add.add_argument("--run", action="store_true", help="run the steps here, not print them")
    h_add.add_argument("--no-register", dest="register", action="store_false",
                       help="only print/run the steps: do not touch the database")
    hyp.add_parser("list", help="list registered hypervisors")
    h_rm = hyp.add_parser("remove", help="unregister a hypervisor")
    h_rm.add_argument("name")
    pki = sub.add_parser("pki", help="certificates of the control channels (TLS)")\
        .add_subparsers(dest="action", required=True)
    k_init = pki.add_parser("init", help="make a CA and the controller's certificate")
    k_init.add_argument("--dir", required=True, help="directory for the files (made 0700)")
    k_hv = pki.add_parser("hypervisor", help="make a hypervisor's key and certificate "
                          "(CN = its system-id)")
    k_hv.add_argument("name")
    k_hv.add_argument("--dir", required=True, help="the directory pki init made")
    clu = sub.add_parser("cluster", help="the instances sharing this database (docs/cluster.md)")\
        .add_subparsers(dest="action", required=True)
    c_status = clu.add_parser("status", help="instances, who masters the switches, how far "
                              "each is behind the change log")
    c_status.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.command == "pki":
        return run_pki(args)
    if args.command == "hypervisor" and args.action == "add":
        try:
            args.steps = join_steps(args)
        except ValueError as exc:
            parser.error(str(exc))
        if not args.register:
            return run_steps(args.steps, args.run)
    settings = config.from_args(argparse.Namespace(config=args.config, db_url=args.db_url))
    db = Database(settings.db_url)
    try:
        return run(db, args)
    finally:
        db.dispose()


def join_steps(args):
    """The ``hypervisor add`` steps (apps/hypervisor_join.py) from the command line."""
    from apps import hypervisor_join
    from controller import pki
    tls = None
    if args.pki_dir:
        key, cert = pki.paths(args.pki_dir, args.name)
        tls = hypervisor_join.Tls(key, cert, pki.ca_certificate(args.pki_dir))
    vsctl = ["ovs-vsctl"] + ([f"--db={args.vsctl_db}"] if args.vsctl_db else [])
    return hypervisor_join.join_steps(
        args.name, args.tunnel_ip, args.controller, args.manager, tls, vsctl=vsctl,
        appctl=["ovs-appctl", "-t", args.ovsdb_server_ctl])


def run_steps(steps, execute):
    """Print the steps as shell lines, or run them in order (stopping at the first failure)."""
    for step in steps:
        line = " ".join(shlex.quote(a) for a in step)
        if not execute:
            print(line)
            continue
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"failed ({done.returncode}): {line}\n{done.stderr.strip()}", file=sys.stderr)
            return 1
    return 0


def run_pki(args):
    from controller import pki
    try:
        written = (pki.init(args.dir) if args.action == "init"
                   else pki.issue(args.dir, args.name))
    except (OSError, ValueError) as exc:
        print(f"qnet-manage pki: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def run(db, args):
    from rest.auth import create_token
    if args.command == "hypervisor":
        return run_hypervisor(db, args)
    if args.command == "cluster":
        return run_cluster(db, args)
    if args.command == "project" and args.action == "create":
        def work(session):
            if session.get(Project, args.project_id) is None:
                session.add(Project(id=args.project_id, name=args.name or args.project_id))
        db.run_write(work)
        print(args.project_id)
    elif args.command == "project":
        with db.read() as session:
            for p in session.scalars(select(Project).order_by(Project.id)):
                print(f"{p.id}\t{p.name}\t{p.created_at:%Y-%m-%d %H:%M}")
    elif args.action == "create":
        print(create_token(db, args.project, args.admin, args.description, args.expires))
    elif args.action == "list":
        with db.read() as session:
            for t in session.scalars(select(Token).order_by(Token.id)):
                role = "admin" if t.is_admin else "member"
                expires = "never" if t.expires_at is None else isoformat(t.expires_at)
                if t.expires_at is not None and t.expires_at <= utcnow():
                    expires += " (expired)"
                print(f"{t.id}\t{t.project_id}\t{role}\t{t.created_at:%Y-%m-%d %H:%M}\t"
                      f"expires {expires}\t{t.description}")
    else:
        def work(session):
            token = session.get(Token, args.token_id)
            if token is None:
                return False
            session.delete(token)
            return True
        if not db.run_write(work):
            print(f"no token {args.token_id}", file=sys.stderr)
            return 1
        print(f"revoked token {args.token_id}")
    return 0


def run_hypervisor(db, args):
    if args.action == "add":
        def work(session):
            row = session.get(Hypervisor, args.name)
            if row is None:
                session.add(Hypervisor(system_id=args.name, tunnel_ip=args.tunnel_ip))
            else:
                row.tunnel_ip = args.tunnel_ip
        db.run_write(work)
        return run_steps(args.steps, args.run)
    if args.action == "list":
        with db.read() as session:
            for h in session.scalars(select(Hypervisor).order_by(Hypervisor.system_id)):
                print(f"{h.system_id}\t{h.tunnel_ip}\t{h.created_at:%Y-%m-%d %H:%M}")
        return 0

    def remove(session):
        row = session.get(Hypervisor, args.name)
        if row is not None:
            session.delete(row)
        return row is not None
    if not db.run_write(remove):
        print(f"no hypervisor {args.name}", file=sys.stderr)
        return 1
    print(f"removed hypervisor {args.name}")
    return 0


def run_cluster(db, args):
    from controller import cluster
    with db.read() as session:
        found = cluster.status(session)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    lease = found["lease"]
    print(f"change log at {found['change_log']}; " + (
        "no master yet" if lease is None else
        f"switches mastered by {lease['holder']} (generation {lease['generation']}, "
        f"lease expires in {lease['expires_in']} s)"))
    for i in found["instances"]:
        state = "alive" if i["alive"] else f"gone (last seen {i['heartbeat_age']} s ago)"
        print(f"{i['id']}\t{i['role']}\t{state}\tbehind {i['behind']}\t{i['name']}\t"
              f"{i['api_url']}")
    return 0


def text(max_len):
    """An argparse type: a string that fits its column (PostgreSQL refuses longer ones)."""
    def check(value):
        if len(value) > max_len:
            raise argparse.ArgumentTypeError(f"longer than {max_len} characters")
        return value
    return check


def expiry(value):
    """``--expires``: seconds from now, or an ISO 8601 date/time; naive UTC, in the future."""
    now = utcnow()
    if value.isascii() and value.isdigit():
        try:
            when = now + datetime.timedelta(seconds=int(value))
        except OverflowError:
            raise argparse.ArgumentTypeError(f"{value} seconds is beyond the calendar")
    else:
        try:
            when = datetime.datetime.fromisoformat(value)
            if when.tzinfo is not None:
                when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(
                f"{value!r} is neither a number of seconds nor an ISO 8601 date or time")
    if when <= now:
        raise argparse.ArgumentTypeError(f"{value!r} is not in the future")
    return when


if __name__ == "__main__":
    sys.exit(main())
