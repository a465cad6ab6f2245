#!/usr/bin/env bash
# The API peer: real OpenStack Neutron (ML2, no agents, no mechanism driver) on 127.0.0.1,
# MariaDB underneath (Neutron's migrations need MySQL/MariaDB), served by uWSGI, so that
# simulations/bench_api.py can run the same workload against Neutron and qnet.
#
# Usage: simulations/peers/neutron.sh install|start|stop|status|all     (root)
#   install  Debian's mariadb-server if missing; Neutron from PyPI into its own venv
#   start    MariaDB + schema (first time) + the API on 127.0.0.1:$API_PORT
#   all      install, then start
# Settings (environment): API_WORKERS (uWSGI processes, default 1), API_THREADS (default 1),
# API_PORT (9696), NEUTRON_VERSION (29.0.0), QNET_NEUTRON_DIR (state: venv, database, logs;
# default $TMPDIR/qnet-neutron-peer).
#
# Identity: no Keystone. A small WSGI filter (written below) replaces authtoken and trusts
# X-Project-Id, as qnet's noauth mode does; stock `auth_strategy = noauth` would run every
# request as admin and reject X-Project-Id. Everything listens on 127.0.0.1 only.
set -euo pipefail
DIR=${QNET_NEUTRON_DIR:-${TMPDIR:-/tmp}/qnet-neutron-peer}
VENV=$DIR/venv
NEUTRON_VERSION=${NEUTRON_VERSION:-29.0.0}
API_PORT=${API_PORT:-9696}
API_WORKERS=${API_WORKERS:-1}
API_THREADS=${API_THREADS:-1}
DB_PORT=${DB_PORT:-33306}
DB_PASSWORD=qnet-peer
DATA=$DIR/mariadb
SOCK=$DATA/mysqld.sock

install() {
  command -v mariadbd >/dev/null 2>&1 || {
    apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server; }
  mkdir -p "$DIR"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "neutron==$NEUTRON_VERSION" pymysql uwsgi
}

database_up() {
  mkdir -p "$DATA"; chown mysql:mysql "$DATA"
  [ -d "$DATA/db/mysql" ] || mariadb-install-db --user=mysql --datadir="$DATA/db" \
      --auth-root-authentication-method=socket >/dev/null
  mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1 && return 0
  setsid mariadbd --no-defaults --user=mysql --datadir="$DATA/db" --socket="$SOCK" \
    --pid-file="$DATA/mysqld.pid" --bind-address=127.0.0.1 --port="$DB_PORT" \
    --innodb-flush-log-at-trx-commit=2 --max-connections=500 \
    --log-error="$DATA/mysqld.err" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 60); do mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1 && return 0; sleep 1; done
  echo "MariaDB did not start; see $DATA/mysqld.err" >&2; return 1
}

configure() {
  mkdir -p "$DIR/etc" "$DIR/lib" "$DIR/state" "$DIR/lock" "$DIR/log"
  cat > "$DIR/etc/neutron.conf" <<CONF
[DEFAULT]
core_plugin = ml2
service_plugins =
auth_strategy = keystone
bind_host = 127.0.0.1
bind_port = $API_PORT
api_workers = $API_WORKERS
rpc_workers = 0
rpc_state_report_workers = 0
transport_url = fake:/
api_paste_config = $DIR/etc/api-paste.ini
state_path = $DIR/state
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
dhcp_agent_notification = false
use_stderr = true
[database]
connection = mysql+pymysql://neutron:$DB_PASSWORD@127.0.0.1:$DB_PORT/neutron
[ml2]
type_drivers = vxlan,flat
tenant_network_types = vxlan
mechanism_drivers =
extension_drivers = port_security
[ml2_type_vxlan]
vni_ranges = 1:100000
[quotas]
quota_network = -1
quota_subnet = -1
quota_port = -1
[oslo_concurrency]
lock_path = $DIR/lock
CONF
  cat > "$DIR/lib/qnet_peer_identity.py" <<'PY'
"""Identity from request headers, for a benchmark peer on 127.0.0.1 only."""


def filter_factory(global_conf, **local_conf):
    def wrap(app):
        def call(environ, start_response):
            project = environ.get("HTTP_X_PROJECT_ID") or environ.get("HTTP_X_TENANT_ID")
            roles = "member,reader" if project else "admin,member,reader"
            environ["HTTP_X_PROJECT_ID"] = project or "admin"
            environ.setdefault("HTTP_X_USER_ID", "user-" + (project or "admin"))
            environ.setdefault("HTTP_X_ROLES", roles)
            environ["HTTP_X_IDENTITY_STATUS"] = "Confirmed"
            return app(environ, start_response)
        return call
    return wrap
PY
  # Neutron's own paste pipeline with authtoken replaced by the filter above.
  sed -e '/^keystone = /s/ authtoken / qnetidentity /' "$VENV/etc/neutron/api-paste.ini" \
    > "$DIR/etc/api-paste.ini"
  printf '\n[filter:qnetidentity]\npaste.filter_factory = qnet_peer_identity:filter_factory\n' \
    >> "$DIR/etc/api-paste.ini"
  cat > "$DIR/etc/uwsgi.ini" <<CONF
[uwsgi]
module = neutron.wsgi.api:application
http-socket = 127.0.0.1:$API_PORT
http-keepalive = true
processes = $API_WORKERS
threads = $API_THREADS
enable-threads = true
pythonpath = $DIR/lib
master = true
lazy-apps = true
die-on-term = true
buffer-size = 65535
pidfile = $DIR/uwsgi.pid
env = OS_NEUTRON_CONFIG_DIR=$DIR/etc
env = OS_NEUTRON_CONFIG_FILES=neutron.conf
CONF
}

schema() {
  mariadb --socket="$SOCK" -e "CREATE DATABASE IF NOT EXISTS neutron CHARACTER SET utf8mb4;
    CREATE USER IF NOT EXISTS 'neutron'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
    GRANT ALL PRIVILEGES ON neutron.* TO 'neutron'@'127.0.0.1';"
  [ -f "$DIR/state/schema-done" ] && return 0
  "$VENV/bin/neutron-db-manage" --config-file "$DIR/etc/neutron.conf" upgrade heads >"$DIR/log/db-manage.log" 2>&1
  touch "$DIR/state/schema-done"
}

start() {
  [ -x "$VENV/bin/uwsgi" ] || { echo "not installed: run $0 install" >&2; return 1; }
  database_up; configure; schema
  (cd "$DIR" && setsid "$VENV/bin/uwsgi" --ini "$DIR/etc/uwsgi.ini" >"$DIR/log/api.log" 2>&1 </dev/null &)
  for _ in $(seq 120); do
    if curl -sf "http://127.0.0.1:$API_PORT/" >/dev/null 2>&1; then
      echo "neutron api on 127.0.0.1:$API_PORT: $API_WORKERS worker(s) x $API_THREADS thread(s), pid $(cat "$DIR/uwsgi.pid")"
      return 0
    fi
    sleep 1
  done
  echo "the Neutron API did not come up; see $DIR/log/api.log" >&2; return 1
}

stop_pid() {  # stop_pid PIDFILE SIGNAL: signal the pid it names, wait until it is gone
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  kill "-$2" "$pid" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  rm -f "$1"
}

stop() {
  stop_pid "$DIR/uwsgi.pid" INT
  stop_pid "$DATA/mysqld.pid" TERM
}

status() {
  curl -s "http://127.0.0.1:$API_PORT/" || echo "api down"
  mariadb-admin --socket="$SOCK" status 2>/dev/null || echo "database down"
}

case "${1:-all}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  all) install; start ;;
  *) echo "usage: $0 install|start|stop|status|all" >&2; exit 2 ;;
esac
