"""``qnet serve``: one process, one event loop, running the os-ken controller and the REST API.

The REST handlers and the OpenFlow apps share the logical model in memory, with no RPC between
them. Everything that depends on the concurrency model is in this module: the hub is os-ken's
(eventlet, chosen in ``prepare_hub``), and only ``os_ken.lib.hub`` primitives start work, so a move
to native threads is a setting plus a WSGI server swap.
"""
import logging
import os
import signal
import sys
import warnings

LOG = logging.getLogger("qnet")


def prepare_hub():
    """Must run before anything imports os_ken, SQLAlchemy or socket users."""
    os.environ.setdefault("OSKEN_HUB_TYPE", "eventlet")
    # eventlet 0.41 warns against new use on import; it is chosen on purpose (docs/architecture.md)
    warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
    import eventlet
    eventlet.monkey_patch()


def setup_logging(level):
    if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"log level must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    logging.basicConfig(stream=sys.stdout, level=getattr(logging, level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level.upper() != "DEBUG":  # os-ken's WSGI wrapper logs each request at INFO
        logging.getLogger("os_ken.lib.hub").setLevel(logging.WARNING)


def serve(config):
    prepare_hub()
    setup_logging(config.log_level)
    from os_ken import cfg
    from os_ken.base.app_manager import AppManager
    from os_ken.lib import hub

    from apps.reconcile import Reconciler
    from controller.cluster import ClusterMember
    from controller.core import Core
    from rest.app import build_app

    from controller.policy import PolicyFileError
    config.tls()                     # refuse a half TLS setup or an unknown allow-list mode
    config.check_hypervisors()
    try:
        core = Core.from_url(config.db_url, config.backend(), config.core_config())
    except PolicyFileError as exc:
        raise SystemExit(str(exc)) from None
    app = build_app(core, auth=config.auth, noauth_project=config.noauth_project,
                    max_limit=config.max_page_size or None,
                    max_body=config.max_request_body_size,
                    keystone_config=config.keystone_config or None)
    ofp_host, ofp_port = config.split(config.ofp_listen)
    api_host, api_port = config.split(config.api_listen)
    member = ClusterMember(core, f"http://{api_host}:{api_port}")
    core.plugin.configure(config)
    manager = AppManager.get_instance()
    # Loading imports the apps, which registers their options: parse the configuration after.
    manager.load_apps(list(core.plugin.osken_apps) or ["os_ken.controller.ofp_handler"])
    cfg.CONF(args=["--ofp-listen-host", ofp_host, *openflow_args(config, ofp_port),
                   *core.plugin.osken_args(config)], project="os_ken")
    stopping = []
    # Signals only set a flag: raised into whatever greenthread runs (e.g. eventlet's accept
    # loop, which swallows KeyboardInterrupt) they could be lost and leave a half-dead process.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopping.append(signum))
    threads = manager.instantiate_apps(**manager.create_contexts())
    stop_unix = None
    if config.ofp_unix_socket:
        from apps import ofp_unix
        stop_unix = ofp_unix.listen(config.ofp_unix_socket)
    core.plugin.bind_apps(manager.applications)
    join_cluster(member, manager.applications.values(), Reconciler)
    cluster_threads = [hub.spawn(member.run_follower, hub.sleep),
                       hub.spawn(member.run_lease, hub.sleep)]
    api = hub.WSGIServer((api_host, api_port), app)
    api_thread = hub.spawn(api.serve_forever)
    LOG.info("qnet serving the REST API on http://%s:%d (auth=%s) and OpenFlow on %s:%d%s; "
             "plug-in %s; database %s", api_host, api_port, config.auth, ofp_host, ofp_port,
             " (TLS)" if config.tls() else "", core.plugin.name, _safe_url(config.db_url))
    if config.auth == "token":
        LOG.info("get a token with: qnet-manage --db-url '%s' token create --project demo "
                 "[--admin]", _safe_url(config.db_url))
    try:
        while not stopping:
            hub.sleep(0.2)
        LOG.info("stopping (signal %d)", stopping[0])
    finally:
        member.stop()
        for thread in cluster_threads:
            hub.kill(thread)
        hub.kill(api_thread)
        if stop_unix is not None:
            stop_unix()
        manager.close()
        for thread in threads:
            hub.kill(thread)
        core.close()


def join_cluster(member, apps, reconciler_class):
    """In a cluster, the apps that program switches write only while this instance holds the
    lease (controller/cluster.py); outside one (SQLite) they are always master."""
    if member.mastership is None:
        return
    programmers = [app for app in apps if isinstance(app, reconciler_class)]
    for app in programmers:
        app.mastership = member.mastership

    def changed():
        for app in programmers:
            app.mastership_changed()
    member.mastership.on_change = changed
    LOG.info("clustered on PostgreSQL as instance %s: standby until the lease is ours",
             member.core.instance_id)


def openflow_args(config, port):
    """os-ken's OpenFlow listener options: plain TCP, or with TLS its SSL listener only (on the
    same port), which requires a client certificate signed by the CA (os-ken's ``ca_certs``)."""
    tls = config.tls()
    if tls is None:
        return ["--ofp-tcp-listen-port", str(port)]
    key, cert, ca = tls
    return ["--ofp-ssl-listen-port", str(port), "--ctl-privkey", key, "--ctl-cert", cert,
            "--ca-certs", ca]


def _safe_url(url):
    """The database URL without its password, for logs."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)
