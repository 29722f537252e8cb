#!/usr/bin/env bash
# A team's shared MLflow tracking server: runs, params and metrics in a private PostgreSQL
# cluster, artifacts in a directory that the server proxies to its clients.
# `scripts/mlflow-server.sh help` lists the commands and settings; docs/shared-server.md
# walks a team through the set-up.
set -euo pipefail

SCRIPT=$(readlink -f "$0")
REPO=$(cd "$(dirname "$SCRIPT")/.." && pwd)
COMMANDS="init, start, stop, status, backup, restore"

usage() {
    cat <<EOF
usage: $0 init | start | stop | status | backup [FILE] | restore FILE | help

  init     create the PostgreSQL cluster (initdb), its database and user
  start    start PostgreSQL, then the MLflow server in the background; waits for /health
  stop     stop the MLflow server, then PostgreSQL
  status   say what runs where (exit status 0 when both run and MLflow answers, else 3)
  backup   dump the database with pg_dump (custom format) to FILE
           (default: \$SUITE_MLFLOW_DIR/backups/mlflow-<date>-<time>.dump)
  restore  stop MLflow and replace the database with the dump in FILE (pg_restore);
           \`start\` serves it again

Settings (environment variables):
  SUITE_MLFLOW_DIR            everything below lives here          (~/mlflow-server of the
                                                                    PostgreSQL user)
  SUITE_MLFLOW_ARTIFACTS      artifact store the server proxies    (\$SUITE_MLFLOW_DIR/artifacts)
  SUITE_MLFLOW_HOST           address MLflow binds to              (127.0.0.1)
  SUITE_MLFLOW_PORT           port of MLflow                       (5000)
  SUITE_MLFLOW_WORKERS        MLflow worker processes              (2)
  SUITE_MLFLOW_ALLOWED_HOSTS  Host headers MLflow accepts, comma-separated
                              (MLflow's default: localhost and private addresses)
  SUITE_MLFLOW_START_TIMEOUT  seconds to wait for each server to come up (180)
  SUITE_MLFLOW_USER           the user PostgreSQL runs as when this runs as root (through
                              runuser; MLflow runs as root). Unset, root is refused.
  SUITE_PG_DATA               PostgreSQL data directory            (\$SUITE_MLFLOW_DIR/postgres)
  SUITE_PG_HOST               address PostgreSQL listens on        (127.0.0.1)
  SUITE_PG_PORT               port of PostgreSQL                   (5433)
  SUITE_PG_BINDIR             PostgreSQL's programs                (pg_config --bindir, else
                                                                    /usr/lib/postgresql/*/bin)
  SUITE_DB_NAME               database name                        (mlflow)
  SUITE_DB_USER               database user                        (mlflow)
  SUITE_DB_PASSWORD           its password, read by init only      (generated)
  MLFLOW                      the mlflow program                   (.venv/bin/mlflow)
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION
                              MLflow's background job workers (GenAI scorers, trace
                              roll-ups); the suite uses none       (false)
EOF
}

die() {
    echo "mlflow-server: $*" >&2
    exit 1
}

check_command() {
    case "${1:-}" in
        init | start | stop | status | backup | restore) ;;
        help | -h | --help) usage; exit 0 ;;
        "") usage >&2; exit 2 ;;
        *) echo "mlflow-server: unknown command '$1'; expected one of: $COMMANDS, help" >&2
           exit 2 ;;
    esac
}

check_number() {
    local name=$1 value=$2 low=$3 high=$4
    if ! [[ "$value" =~ ^[0-9]+$ ]] || ((10#$value < low || 10#$value > high)); then
        die "$name='$value': expected a whole number from $low to $high"
    fi
}

check_identifier() {
    local name=$1 value=$2
    if ! [[ "$value" =~ ^[a-z_][a-z0-9_]{0,62}$ ]]; then
        die "$name='$value': expected a PostgreSQL name: lower-case letters, digits and _," \
            "not starting with a digit, at most 63 characters"
    fi
}

check_address() {
    local name=$1 value=$2
    if ! [[ "$value" =~ ^[A-Za-z0-9.:_-]+$ ]] || [[ "$value" =~ ^(0\.0\.0\.0|::)$ ]]; then
        die "$name='$value': expected one host name or IP address of this machine" \
            "(such as 127.0.0.1)"
    fi
}

check_settings() {
    check_number SUITE_MLFLOW_PORT "${SUITE_MLFLOW_PORT:-5000}" 1 65535
    check_number SUITE_PG_PORT "${SUITE_PG_PORT:-5433}" 1 65535
    check_number SUITE_MLFLOW_WORKERS "${SUITE_MLFLOW_WORKERS:-2}" 1 64
    check_number SUITE_MLFLOW_START_TIMEOUT "${SUITE_MLFLOW_START_TIMEOUT:-180}" 1 3600
    check_identifier SUITE_DB_NAME "${SUITE_DB_NAME:-mlflow}"
    check_identifier SUITE_DB_USER "${SUITE_DB_USER:-mlflow}"
    check_address SUITE_PG_HOST "${SUITE_PG_HOST:-127.0.0.1}"
    if [ "${SUITE_DB_USER:-mlflow}" = postgres ]; then
        die "SUITE_DB_USER='postgres': that name is the cluster's superuser; choose another"
    fi
}

# PostgreSQL refuses to run as root. A root caller names the user that owns the cluster, and
# every PostgreSQL program runs as that user through runuser; the MLflow server runs as the
# caller, since its program may live in a virtual environment only the caller can run.
find_owner() {
    local user=${SUITE_MLFLOW_USER:-}
    if [ -n "$user" ] && ! id -u "$user" >/dev/null 2>&1; then
        die "SUITE_MLFLOW_USER='$user': no such user on this machine"
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if [ -n "$user" ] && [ "$user" != "$(id -un)" ]; then
            die "SUITE_MLFLOW_USER='$user', but this runs as $(id -un): run it as $user" \
                "(or as root, which runs PostgreSQL as $user), or unset SUITE_MLFLOW_USER"
        fi
        return 0
    fi
    if [ -z "$user" ]; then
        die "PostgreSQL refuses to run as root. Run this as the user that is to own the" \
            "server's data (for example: sudo -u mlflow $0 $1), or set" \
            "SUITE_MLFLOW_USER=<user> to run PostgreSQL as that user (through runuser)."
    fi
    if [ "$(id -u "$user")" -eq 0 ]; then
        die "SUITE_MLFLOW_USER='$user' is root; PostgreSQL refuses root: name another user"
    fi
    echo "$user"
}

as_owner() {
    if [ -n "$OWNER" ]; then
        runuser -u "$OWNER" -- "$@"
    else
        "$@"
    fi
}

owner_home() {
    if [ -n "$OWNER" ]; then
        getent passwd "$OWNER" | cut -d: -f6
    else
        echo "$HOME"
    fi
}

load_settings() {
    OWNER=$(find_owner "$1")
    DIR=$(realpath -m "${SUITE_MLFLOW_DIR:-$(owner_home)/mlflow-server}")
    ARTIFACTS=$(realpath -m "${SUITE_MLFLOW_ARTIFACTS:-$DIR/artifacts}")
    PGDATA_DIR=$(realpath -m "${SUITE_PG_DATA:-$DIR/postgres}")
    RUN_DIR=$DIR/run
    LOG_DIR=$DIR/log
    PGPASS=$DIR/pgpass
    PIDFILE=$RUN_DIR/mlflow.pid
    HOST=${SUITE_MLFLOW_HOST:-127.0.0.1}
    PORT=${SUITE_MLFLOW_PORT:-5000}
    WORKERS=${SUITE_MLFLOW_WORKERS:-2}
    ALLOWED_HOSTS=${SUITE_MLFLOW_ALLOWED_HOSTS:-}
    JOBS=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}
    TIMEOUT=${SUITE_MLFLOW_START_TIMEOUT:-180}
    PG_HOST=${SUITE_PG_HOST:-127.0.0.1}
    PG_PORT=${SUITE_PG_PORT:-5433}
    DB_NAME=${SUITE_DB_NAME:-mlflow}
    DB_USER=${SUITE_DB_USER:-mlflow}
    PG_BIN=$(find_pg_bindir)
}

find_pg_bindir() {
    local dir
    if [ -n "${SUITE_PG_BINDIR:-}" ]; then
        [ -x "$SUITE_PG_BINDIR/initdb" ] || die "SUITE_PG_BINDIR='$SUITE_PG_BINDIR' has no initdb"
        echo "$SUITE_PG_BINDIR"
        return
    fi
    if dir=$(pg_config --bindir 2>/dev/null) && [ -x "$dir/initdb" ]; then
        echo "$dir"
        return
    fi
    for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
        if [ -x "$dir/initdb" ]; then
            echo "$dir"
            return
        fi
    done
    die "PostgreSQL's server programs (initdb, pg_ctl) are not installed: install the Debian" \
        "package postgresql (apt-get install postgresql), or set SUITE_PG_BINDIR"
}

find_mlflow() {
    local program=${MLFLOW:-$REPO/.venv/bin/mlflow}
    if [ -z "${MLFLOW:-}" ] && [ ! -x "$program" ]; then
        program=$(command -v mlflow) || die "no mlflow program: run scripts/setup.sh" \
            "(it installs .venv/bin/mlflow), or set MLFLOW to one"
    fi
    [ -x "$program" ] || die "MLFLOW='$program' is not an executable program"
    echo "$program"
}

# An IPv6 address inside a URL goes in brackets.
url_host() {
    case "$1" in
        0.0.0.0) echo 127.0.0.1 ;;
        ::) echo "[::1]" ;;
        *:*) echo "[$1]" ;;
        *) echo "$1" ;;
    esac
}

# The driver is named: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, and the suite
# installs psycopg2. The password comes from $PGPASS.
backend_uri() {
    echo "postgresql+psycopg2://$DB_USER@$(url_host "$PG_HOST"):$PG_PORT/$DB_NAME"
}

tracking_url() {
    echo "http://$(url_host "$HOST"):$PORT"
}

conf_quote() {
    echo "'${1//\'/\'\'}'"
}

show_log() {
    if [ -f "$1" ]; then
        echo "--- last lines of $1 ---" >&2
        tail -n 40 "$1" >&2
    fi
}

psql_admin() {
    as_owner "$PG_BIN/psql" -h "$RUN_DIR" -p "$PG_PORT" -U postgres -d postgres -X -q \
        -v ON_ERROR_STOP=1 "$@"
}

new_password() {
    od -An -N18 -tx1 /dev/urandom | tr -d ' \n'
}

# libpq reads the password from this file, so it appears on no command line.
write_pgpass() {
    local password=${1//\\/\\\\}
    password=${password//:/\\:}
    (umask 077 && printf '*:*:%s:%s:%s\n' "$DB_NAME" "$DB_USER" "$password" >"$PGPASS")
}

# The addresses and the socket follow the settings of each start.
write_pg_settings() {
    as_owner tee "$PGDATA_DIR/mlflow-server.conf" >/dev/null <<EOF
# Rewritten by scripts/mlflow-server.sh at every start from its SUITE_PG_* settings.
listen_addresses = $(conf_quote "$PG_HOST")
port = $PG_PORT
unix_socket_directories = $(conf_quote "$RUN_DIR")
unix_socket_permissions = 0700
EOF
}

pg_running() {
    as_owner "$PG_BIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

start_postgres() {
    if pg_running; then
        echo "PostgreSQL is already running ($PGDATA_DIR)"
        return
    fi
    write_pg_settings
    if ! as_owner "$PG_BIN/pg_ctl" start -D "$PGDATA_DIR" -l "$LOG_DIR/postgresql.log" -w \
        -t "$TIMEOUT" >/dev/null; then
        show_log "$LOG_DIR/postgresql.log"
        die "PostgreSQL did not start on $PG_HOST:$PG_PORT"
    fi
    echo "PostgreSQL is running on $PG_HOST:$PG_PORT ($PGDATA_DIR)"
}

stop_postgres() {
    if ! pg_running; then
        echo "PostgreSQL is not running"
        return
    fi
    as_owner "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t "$TIMEOUT" >/dev/null
    echo "PostgreSQL stopped"
}

create_database() {
    local password=${1//\'/\'\'}
    psql_admin <<EOF
CREATE ROLE "$DB_USER" LOGIN PASSWORD '$password';
CREATE DATABASE "$DB_NAME" OWNER "$DB_USER" ENCODING 'UTF8';
EOF
}

# The cluster's owner makes the directories PostgreSQL writes to; the caller, the artifacts.
make_dirs() {
    if ! as_owner mkdir -p "$DIR" "$RUN_DIR" "$LOG_DIR"; then
        die "${OWNER:-$(id -un)} cannot create $DIR: set SUITE_MLFLOW_DIR to a directory" \
            "that ${OWNER:-$(id -un)} can write to"
    fi
    as_owner chmod 700 "$RUN_DIR"
    mkdir -p "$ARTIFACTS"
}

cmd_init() {
    if [ -f "$PGDATA_DIR/PG_VERSION" ]; then
        echo "already initialised: $PGDATA_DIR (start it with: $0 start)"
        return
    fi
    make_dirs
    local password=${SUITE_DB_PASSWORD:-$(new_password)}
    if ! as_owner "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >"$LOG_DIR/initdb.log" 2>&1; then
        show_log "$LOG_DIR/initdb.log"
        die "initdb could not create the cluster in $PGDATA_DIR"
    fi
    echo "include = 'mlflow-server.conf'" \
        | as_owner tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
    printf 'host\t%s\t%s\tsamehost\tscram-sha-256\n' "$DB_NAME" "$DB_USER" \
        | as_owner tee -a "$PGDATA_DIR/pg_hba.conf" >/dev/null
    write_pgpass "$password"
    start_postgres
    if ! create_database "$password"; then
        stop_postgres
        die "could not create database $DB_NAME for user $DB_USER; remove $PGDATA_DIR" \
            "and run init again"
    fi
    stop_postgres
    echo "initialised: database $DB_NAME, user $DB_USER (password in $PGPASS)," \
        "artifacts in $ARTIFACTS"
    echo "start the server with: $0 start"
}

mlflow_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(<"$PIDFILE")
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 -- "-$pid" 2>/dev/null || return 1
    echo "$pid"
}

healthy() {
    python3 - "$(tracking_url)/health" <<'EOF'
import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
        sys.exit(response.read().strip() != b"OK")
except OSError:
    sys.exit(1)
EOF
}

# The server runs in its own session, so that `stop` ends it and all of its workers.
launch_mlflow() {
    local program=$1 args
    args=(server --backend-store-uri "$(backend_uri)" --serve-artifacts
          --artifacts-destination "$ARTIFACTS" --host "$HOST" --port "$PORT"
          --workers "$WORKERS")
    if [ -n "$ALLOWED_HOSTS" ]; then
        args+=(--allowed-hosts "$ALLOWED_HOSTS")
    fi
    (cd "$DIR" && PGPASSFILE=$PGPASS MLFLOW_SERVER_ENABLE_JOB_EXECUTION=$JOBS \
        exec setsid "$program" "${args[@]}" </dev/null >>"$LOG_DIR/mlflow.log" 2>&1) &
    echo $! >"$PIDFILE"
}

wait_for_mlflow() {
    local pid=$1 deadline=$((SECONDS + TIMEOUT))
    until healthy; do
        if ! kill -0 -- "-$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            show_log "$LOG_DIR/mlflow.log"
            die "the MLflow server exited while starting"
        fi
        if ((SECONDS >= deadline)); then
            stop_mlflow >/dev/null
            show_log "$LOG_DIR/mlflow.log"
            die "the MLflow server did not answer $(tracking_url)/health within ${TIMEOUT}s"
        fi
        sleep 1
    done
}

start_mlflow() {
    local program pid
    if pid=$(mlflow_pid); then
        echo "MLflow is already running (pid $pid) at $(tracking_url)"
        return
    fi
    if healthy; then
        die "another server already answers at $(tracking_url): stop it, or choose another" \
            "SUITE_MLFLOW_PORT"
    fi
    program=$(find_mlflow)
    mkdir -p "$ARTIFACTS"
    launch_mlflow "$program"
    wait_for_mlflow "$(<"$PIDFILE")"
    echo "MLflow is running (pid $(<"$PIDFILE")) at $(tracking_url)," \
        "artifacts in $ARTIFACTS, log in $LOG_DIR/mlflow.log"
}

stop_mlflow() {
    local pid
    if ! pid=$(mlflow_pid); then
        rm -f "$PIDFILE"
        echo "MLflow is not running"
        return
    fi
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    echo "MLflow stopped"
}

require_init() {
    [ -f "$PGDATA_DIR/PG_VERSION" ] || die "no PostgreSQL cluster in $PGDATA_DIR: run $0 init first"
}

cmd_start() {
    require_init
    start_postgres
    start_mlflow
    echo "team members: export MLFLOW_TRACKING_URI=$(tracking_url)"
}

cmd_stop() {
    stop_mlflow
    if [ -f "$PGDATA_DIR/PG_VERSION" ]; then
        stop_postgres
    fi
}

cmd_status() {
    local pid ok=0
    if [ -f "$PGDATA_DIR/PG_VERSION" ] && pg_running; then
        echo "PostgreSQL: running on $PG_HOST:$PG_PORT ($PGDATA_DIR)"
    else
        echo "PostgreSQL: not running ($PGDATA_DIR)"
        ok=3
    fi
    if ! pid=$(mlflow_pid); then
        echo "MLflow: not running"
        ok=3
    elif healthy; then
        echo "MLflow: running (pid $pid) at $(tracking_url), artifacts in $ARTIFACTS"
    else
        echo "MLflow: running (pid $pid) but $(tracking_url)/health does not answer" \
            "(log: $LOG_DIR/mlflow.log)"
        ok=3
    fi
    return $ok
}

cmd_backup() {
    local file
    file=$(realpath -m "${1:-$DIR/backups/mlflow-$(date +%Y%m%d-%H%M%S).dump}")
    require_init
    pg_running || die "PostgreSQL is not running: start it with $0 start"
    mkdir -p "$(dirname "$file")"
    if ! (umask 077 && as_owner "$PG_BIN/pg_dump" -h "$RUN_DIR" -p "$PG_PORT" -U postgres \
        -Fc "$DB_NAME" >"$file"); then
        rm -f "$file"
        die "pg_dump could not save database $DB_NAME"
    fi
    echo "database $DB_NAME saved to $file"
}

cmd_restore() {
    local file=${1:-}
    [ -n "$file" ] || die "restore needs the FILE to read, a dump written by $0 backup"
    [ -f "$file" ] || die "no such file: $file"
    require_init
    stop_mlflow
    start_postgres
    if ! as_owner "$PG_BIN/pg_restore" -h "$RUN_DIR" -p "$PG_PORT" -U postgres --clean \
        --if-exists --single-transaction -d "$DB_NAME" <"$file"; then
        die "pg_restore could not restore $file; database $DB_NAME is unchanged"
    fi
    echo "database $DB_NAME restored from $file; serve it with: $0 start"
}

main() {
    check_command "$@"
    check_settings
    load_settings "$1"
    local command=$1
    shift
    "cmd_$command" "$@"
}

main "$@"
