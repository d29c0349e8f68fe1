#!/usr/bin/env bash
# A three-node MariaDB Galera cluster on loopback, for the test suite.
#
#   tests/galera/cluster.sh start   [DIR]  start (or restart) the cluster and
#                                          wait until all three nodes are Synced
#   tests/galera/cluster.sh stop    [DIR]  stop all nodes cleanly, keeping the data
#   tests/galera/cluster.sh status  [DIR]  each node's wsrep state
#   tests/galera/cluster.sh urls    [DIR]  print the URLs line only
#   tests/galera/cluster.sh destroy [DIR]  stop all nodes and remove DIR
#   tests/galera/cluster.sh start-node N [DIR]  start node N (1-3), joining the others
#   tests/galera/cluster.sh stop-node  N [DIR]  stop node N cleanly (SIGTERM)
#   tests/galera/cluster.sh kill-node  N [DIR]  kill node N (SIGKILL), as a crash
#
# DIR defaults to ${TMPDIR:-/tmp}/ebbtide-galera; it holds node1..node3, each
# with its config file (my.cnf), data directory, socket, pid file and error
# log. `start` prints, as its only line on stdout,
#
#   EBBTIDE_TEST_GALERA_URLS=mysql://root@127.0.0.1:4306/test,...:4307/test,...:4308/test
#
# (progress goes to stderr). Root has an empty password over TCP from
# 127.0.0.1, as `mariadb-install-db --auth-root-authentication-method=normal`
# makes it; database `test` exists.
#
# Ports, all on 127.0.0.1 (node N = 1..3, i = N-1):
#   SQL                 4306 + i                (EBBTIDE_GALERA_SQL_PORT for 4306)
#   Galera replication  4567 + 10*i             (EBBTIDE_GALERA_PORT for 4567)
#   IST                 4568 + 10*i
#   SST (rsync)         4569 + 10*i
#
# The machine's own MariaDB (port 3306, /etc/mysql) is never touched: the
# servers read only their own config file (--defaults-file) and every client
# call passes --no-defaults and the node's TCP port.
#
# `start` is idempotent. With the cluster up and healthy it only prints the
# URLs. With some nodes up, it starts the others joining them (first making
# the running ones re-form a primary component with pc.bootstrap if they lost
# it, as a lone survivor of two killed nodes does). With all nodes down it
# bootstraps one: a fresh DIR bootstraps node 1 (after mariadb-install-db;
# the joiners get their data by rsync SST); after a clean stop, the node
# whose grastate.dat says safe_to_bootstrap: 1 (the last one to stop, node 1
# after `stop`); after a crash (kill -9: every grastate.dat says seqno -1,
# safe_to_bootstrap: 0), the node with the highest position that
# `mariadbd --wsrep-recover` finds, marked safe to bootstrap and started at
# that position so that the cluster keeps its history and the others catch
# up by IST. Joiners start one at a time.
#
# Run as root (as in CI), the servers run as root too (user = root), and the
# rsync SST goes through two small wrappers in DIR/bin: see
# write_sst_wrappers.
set -euo pipefail

GALERA_LIB=/usr/lib/galera/libgalera_smm.so
SQL_BASE=${EBBTIDE_GALERA_SQL_PORT:-4306}
GALERA_BASE=${EBBTIDE_GALERA_PORT:-4567}
TIMEOUT=${EBBTIDE_GALERA_TIMEOUT:-90}
NODES=(1 2 3)
# mariadbd and mariadb-install-db live in /usr/sbin, which a non-root PATH
# may leave out; the SST scripts (wsrep_sst_rsync) are looked up on PATH.
export PATH="$PATH:/usr/sbin:/usr/local/sbin"

say() { echo "galera: $*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# --- layout ------------------------------------------------------------------

node_dir() { echo "$DIR/node$1"; }
cnf() { echo "$DIR/node$1/my.cnf"; }
datadir() { echo "$DIR/node$1/data"; }
errlog() { echo "$DIR/node$1/error.log"; }
sql_port() { echo $((SQL_BASE + $1 - 1)); }
gcomm_port() { echo $((GALERA_BASE + 10 * ($1 - 1))); }
ist_port() { echo $((GALERA_BASE + 10 * ($1 - 1) + 1)); }
sst_port() { echo $((GALERA_BASE + 10 * ($1 - 1) + 2)); }

urls_line() {
    local n urls=()
    for n in "${NODES[@]}"; do urls+=("mysql://root@127.0.0.1:$(sql_port "$n")/test"); done
    local IFS=,
    echo "EBBTIDE_TEST_GALERA_URLS=${urls[*]}"
}

write_cnf() {
    local n=$1 addresses=() m
    for m in "${NODES[@]}"; do addresses+=("127.0.0.1:$(gcomm_port "$m")"); done
    local cluster_address
    cluster_address="gcomm://$(IFS=,; echo "${addresses[*]}")"
    mkdir -p "$(datadir "$n")"
    cat >"$(cnf "$n").tmp" <<EOF
# Written by tests/galera/cluster.sh; rewritten on every start.
[mysqld]
$( [ "$(id -u)" -eq 0 ] && echo "user = root" )
datadir = $(datadir "$n")
socket = $(node_dir "$n")/mariadbd.sock
pid-file = $(node_dir "$n")/mariadbd.pid
log-error = $(errlog "$n")
port = $(sql_port "$n")
bind-address = 127.0.0.1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
innodb_buffer_pool_size = 64M
innodb_log_file_size = 48M
innodb_flush_log_at_trx_commit = 2

binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2

wsrep_on = ON
wsrep_provider = $GALERA_LIB
wsrep_cluster_name = ebbtide-test
wsrep_cluster_address = $cluster_address
wsrep_node_name = node$n
wsrep_node_address = 127.0.0.1:$(gcomm_port "$n")
wsrep_node_incoming_address = 127.0.0.1:$(sql_port "$n")
wsrep_sst_method = $(sst_method)
wsrep_sst_receive_address = 127.0.0.1:$(sst_port "$n")
wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(ist_port "$n");gcache.size=64M;pc.recovery=false"
EOF
    mv "$(cnf "$n").tmp" "$(cnf "$n")"
}

# --- processes ---------------------------------------------------------------

# The pid of node N's mariadbd (not of a --wsrep-recover run), or nothing.
node_pid() {
    local want="--defaults-file=$(cnf "$1")" p args
    for p in /proc/[0-9]*; do
        [ -r "$p/cmdline" ] || continue
        mapfile -d '' -t args <"$p/cmdline" 2>/dev/null || continue
        [ "${#args[@]}" -ge 2 ] || continue
        [ "${args[0]##*/}" = mariadbd ] && [ "${args[1]}" = "$want" ] || continue
        [[ " ${args[*]} " == *" --wsrep-recover "* ]] && continue
        echo "${p#/proc/}"
        return 0
    done
    return 0
}

running() { [ -n "$(node_pid "$1")" ]; }

# mariadb client on node N over TCP, never reading any option file.
client() {
    local n=$1
    shift
    mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$(sql_port "$n")" -u root \
        --connect-timeout=2 -N -B "$@"
}

# "state ready cluster_size cluster_status" of node N, or nothing.
wsrep_state() {
    client "$1" -e "SHOW GLOBAL STATUS WHERE Variable_name IN
        ('wsrep_local_state_comment','wsrep_ready','wsrep_cluster_size','wsrep_cluster_status')" \
        2>/dev/null | awk '{v[$1]=$2} END {
            if (NR) print v["wsrep_local_state_comment"], v["wsrep_ready"], v["wsrep_cluster_size"], v["wsrep_cluster_status"]
        }' || true
}

log_tails() {
    local n
    for n in "${NODES[@]}"; do
        say "--- node $n: last lines of $(errlog "$n")"
        tail -n 25 "$(errlog "$n")" >&2 2>/dev/null || say "(no log)"
    done
}

# rsync SST as root. The joiner's rsync daemon, started by root, switches to
# the user `nobody` (rsyncd.conf's default uid) because the config that
# wsrep_sst_rsync writes names none, and `nobody` cannot write the root-owned
# data directory ("recv_generator: mkdir ... Permission denied", MDEV-40688).
# So, as root, the servers use the SST method `ebbtide_rsync`: the script
# $DIR/bin/wsrep_sst_ebbtide_rsync, which runs wsrep_sst_rsync with
# $DIR/bin first on its PATH (mariadbd puts its basedir's bin, /usr/bin,
# first), where an `rsync` adds `uid = root` and `gid = root` to a daemon's
# config, then runs the real rsync.
sst_method() { if [ "$(id -u)" -eq 0 ]; then echo ebbtide_rsync; else echo rsync; fi; }

write_sst_wrappers() {
    local rsync sst
    rsync=$(command -v rsync)
    sst=$(command -v wsrep_sst_rsync)
    mkdir -p "$DIR/bin"
    cat >"$DIR/bin/wsrep_sst_ebbtide_rsync.tmp" <<WRAPPER
#!/bin/sh
# Written by tests/galera/cluster.sh: see write_sst_wrappers there.
PATH="\$(dirname "\$0"):\$PATH"
export PATH
exec $sst "\$@"
WRAPPER
    cat >"$DIR/bin/rsync.tmp" <<WRAPPER
#!/bin/sh
# Written by tests/galera/cluster.sh: see write_sst_wrappers there.
daemon= config= previous=
for arg in "\$@"; do
    case "\$arg" in
        --daemon) daemon=1 ;;
        --config=*) config=\${arg#--config=} ;;
    esac
    [ "\$previous" = --config ] && config=\$arg
    previous=\$arg
done
if [ -n "\$daemon" ] && [ -f "\$config" ] && ! grep -q '^uid *=' "\$config"; then
    sed -i '1i uid = root\\ngid = root' "\$config"
fi
exec $rsync "\$@"
WRAPPER
    local f
    for f in wsrep_sst_ebbtide_rsync rsync; do
        chmod +x "$DIR/bin/$f.tmp"
        mv "$DIR/bin/$f.tmp" "$DIR/bin/$f"
    done
}

# Launch node N's mariadbd in the background, detached (its own session,
# stdio on a file), so that callers capturing stdout do not wait for it.
launch() {
    local n=$1
    shift
    write_cnf "$n"
    rm -f "$(node_dir "$n")/mariadbd.pid"
    [ "$(sst_method)" = rsync ] || write_sst_wrappers
    local recovered
    recovered="$(node_dir "$n")/recovered-position"
    if [ -f "$recovered" ]; then
        set -- "$@" "--wsrep-start-position=$(cat "$recovered")"
        rm -f "$recovered"
    fi
    PATH="$DIR/bin:$PATH" setsid mariadbd "--defaults-file=$(cnf "$n")" "$@" \
        </dev/null >>"$(node_dir "$n")/mariadbd.out" 2>&1 &
    local child=$! i
    # Until it has exec'd, the child is still a copy of this shell.
    for i in $(seq 100); do
        running "$n" && return 0
        kill -0 "$child" 2>/dev/null || break
        sleep 0.05
    done
    log_tails
    die "node $n's mariadbd did not start (see $(node_dir "$n")/mariadbd.out)"
}

# Wait until every node in $@ is running, Synced, ready, Primary, and sees a
# cluster of `expected` nodes; fail with the logs after the deadline.
wait_synced() {
    local expected=$1 deadline=$2
    shift 2
    local n state pending
    while :; do
        pending=()
        for n in "$@"; do
            if ! running "$n"; then
                log_tails
                die "node $n's mariadbd exited (see its log above)"
            fi
            state=$(wsrep_state "$n")
            [ "$state" = "Synced ON $expected Primary" ] || pending+=("node $n: ${state:-no connection}")
        done
        [ "${#pending[@]}" -eq 0 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            log_tails
            die "not synced after ${TIMEOUT}s: ${pending[*]}"
        fi
        sleep 0.5
    done
}

grastate() { echo "$(datadir "$1")/grastate.dat"; }
grastate_field() { sed -n "s/^$2:[[:space:]]*//p" "$(grastate "$1")" 2>/dev/null | head -1; }

# The position (uuid:seqno) of a crashed node (one whose grastate.dat says
# seqno -1), as `mariadbd --wsrep-recover` finds it in InnoDB, into the file
# recovered-position, which `launch` passes on as --wsrep-start-position (as
# mysqld_safe does): without it, a node bootstrapped after a crash starts a
# new history (a new cluster UUID), and every joiner then needs a full SST.
recover_position() {
    local n=$1 log position
    log="$(node_dir "$n")/recover.log"
    rm -f "$log"
    mariadbd "--defaults-file=$(cnf "$n")" --wsrep-recover "--log-error=$log" \
        </dev/null >/dev/null 2>&1 || true
    position=$(sed -n 's/.*WSREP: Recovered position: *\([0-9a-f-]*:-\{0,1\}[0-9]*\).*/\1/p' "$log" | tail -1)
    [ -n "$position" ] && echo "$position" >"$(node_dir "$n")/recovered-position"
    return 0
}

# With every node down, pick the node to bootstrap and make it safe to.
choose_bootstrap() {
    local n have=() safe=() seqno best=-2 choice=""
    for n in "${NODES[@]}"; do
        rm -f "$(node_dir "$n")/recovered-position"
        [ -f "$(grastate "$n")" ] || continue
        have+=("$n")
        [ "$(grastate_field "$n" safe_to_bootstrap)" = 1 ] && safe+=("$n")
    done
    if [ "${#have[@]}" -eq 0 ]; then
        echo 1
        return
    fi
    if [ "${#safe[@]}" -gt 0 ]; then
        echo "${safe[0]}"
        return
    fi
    # A crash: find each node's position (in parallel; each takes a couple
    # of seconds) and bootstrap the most advanced.
    say "no node is marked safe to bootstrap (not stopped cleanly); recovering positions of nodes ${have[*]}"
    for n in "${have[@]}"; do
        write_cnf "$n"
        [ "$(grastate_field "$n" seqno)" = -1 ] && recover_position "$n" &
    done
    wait
    for n in "${have[@]}"; do
        seqno=$(grastate_field "$n" seqno)
        if [ "${seqno:--1}" = -1 ]; then
            seqno=$(sed -n 's/.*://p' "$(node_dir "$n")/recovered-position" 2>/dev/null)
        fi
        seqno=${seqno:--1}
        say "node $n: seqno $seqno"
        if [ "$seqno" -gt "$best" ]; then best=$seqno; choice=$n; fi
    done
    # (Every node is a candidate: a seqno it cannot find counts as -1.)
    sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$(grastate "$choice")"
    echo "$choice"
}

init_datadir() {
    local n=$1
    [ -d "$(datadir "$n")/mysql" ] && return 0
    say "initialising node $n's data directory"
    local args=(--no-defaults "--datadir=$(datadir "$n")" --auth-root-authentication-method=normal --skip-test-db)
    [ "$(id -u)" -eq 0 ] && args+=(--user=root)
    mariadb-install-db "${args[@]}" </dev/null >"$(node_dir "$n")/install-db.log" 2>&1 \
        || { cat "$(node_dir "$n")/install-db.log" >&2; die "mariadb-install-db failed for node $n"; }
}

check_installed() {
    [ -f "$GALERA_LIB" ] || die "$GALERA_LIB is missing (apt-get install galera-4)"
    local c
    for c in mariadbd mariadb-install-db mariadb rsync wsrep_sst_rsync; do
        command -v "$c" >/dev/null || die "$c is not installed"
    done
}

# Before nodes join the running ones ($@): wait until those have settled
# after any crash of the others (Galera drops a lost peer after about 5 s),
# and if none of them is in a primary component any more (a majority was
# lost, as when two of three nodes are killed), make the most advanced one
# form a new primary component (pc.bootstrap), keeping its data and history.
ensure_primary() {
    local n state comment ready size status settled primary best_seqno=-2 best="" seqno
    local until=$((SECONDS + 30))
    while :; do
        settled=1
        primary=0
        for n in "$@"; do
            state=$(wsrep_state "$n")
            read -r comment ready size status <<<"${state:-none none 0 none}"
            if [ "$status" = Primary ]; then
                primary=1
                [ "$size" = "$#" ] || settled=0
            elif [ "$status" = none ]; then
                settled=0
            fi
        done
        [ "$settled" = 1 ] && break
        [ "$SECONDS" -lt "$until" ] || break
        sleep 0.5
    done
    [ "$primary" = 1 ] && return 0
    for n in "$@"; do
        seqno=$(client "$n" -e "SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'" 2>/dev/null | awk '{print $2}')
        if [ "${seqno:--1}" -gt "$best_seqno" ]; then best_seqno=${seqno:--1}; best=$n; fi
    done
    [ -n "$best" ] || return 0
    say "node(s) $* not in a primary component; re-forming one from node $best (pc.bootstrap)"
    client "$best" -e "SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'" || true
}

# --- subcommands -------------------------------------------------------------

healthy() {
    local n
    for n in "${NODES[@]}"; do
        [ "$(wsrep_state "$n")" = "Synced ON 3 Primary" ] || return 1
    done
}

cmd_start() {
    check_installed
    local deadline=$((SECONDS + TIMEOUT)) n up=() down=()
    for n in "${NODES[@]}"; do mkdir -p "$(node_dir "$n")"; done
    if healthy; then
        say "cluster already up and synced in $DIR"
    else
        for n in "${NODES[@]}"; do
            if running "$n"; then up+=("$n"); else down+=("$n"); fi
        done
        if [ "${#up[@]}" -gt 0 ]; then
            ensure_primary "${up[@]}"
            wait_synced "${#up[@]}" "$deadline" "${up[@]}"
        else
            local first
            first=$(choose_bootstrap)
            init_datadir "$first"
            say "bootstrapping the cluster from node $first"
            rm -f "$(datadir "$first")/gvwstate.dat"
            launch "$first" --wsrep-new-cluster
            wait_synced 1 "$deadline" "$first"
            up=("$first")
            down=()
            for n in "${NODES[@]}"; do [ "$n" = "$first" ] || down+=("$n"); done
        fi
        # Joiners one at a time: a donor serves one rsync SST at a time (and
        # starting them together measured no faster for IST either).
        for n in "${down[@]}"; do
            say "starting node $n, joining node(s) ${up[*]}"
            rm -f "$(datadir "$n")/gvwstate.dat"
            launch "$n"
            up+=("$n")
            wait_synced "${#up[@]}" "$deadline" "${up[@]}"
        done
        wait_synced 3 "$deadline" "${NODES[@]}"
        say "cluster up and synced in $DIR (${SECONDS}s)"
    fi
    client 1 -e "CREATE DATABASE IF NOT EXISTS test;
        CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
        GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION" \
        || die "could not create database test on node 1"
    for n in "${NODES[@]}"; do
        # DDL replicates in total order; wait until every node has it.
        local tries=0
        until [ "$(client "$n" -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'test'" 2>/dev/null)" = 1 ]; do
            tries=$((tries + 1))
            [ "$tries" -lt 50 ] || die "database test did not reach node $n"
            sleep 0.1
        done
    done
    urls_line
}

stop_node() {
    local n=$1 signal=${2:-TERM} pid i
    pid=$(node_pid "$n")
    if [ -z "$pid" ]; then
        say "node $n is not running"
        return 0
    fi
    say "stopping node $n (pid $pid, SIG$signal)"
    kill "-$signal" "$pid" 2>/dev/null || true
    for i in $(seq 1200); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    die "node $n (pid $pid) did not stop within 120s"
}

cmd_stop() {
    # Nodes 2 and 3 first (together), node 1 last: the last node to leave
    # is the one marked safe to bootstrap, so that the next start bootstraps
    # node 1.
    local failed=0
    stop_node 2 &
    local p2=$!
    stop_node 3 &
    local p3=$!
    wait "$p2" || failed=1
    wait "$p3" || failed=1
    [ "$failed" -eq 0 ] || die "a node did not stop"
    stop_node 1
}

cmd_status() {
    local n pid state
    for n in "${NODES[@]}"; do
        pid=$(node_pid "$n")
        if [ -z "$pid" ]; then
            echo "node $n: down (port $(sql_port "$n"))"
            continue
        fi
        state=$(wsrep_state "$n")
        if [ -z "$state" ]; then
            echo "node $n: pid $pid, port $(sql_port "$n"), no SQL connection"
        else
            set -- $state
            echo "node $n: pid $pid, port $(sql_port "$n"), wsrep_local_state_comment=$1 wsrep_ready=$2 wsrep_cluster_size=$3 wsrep_cluster_status=$4"
        fi
    done
    healthy && echo "cluster: healthy" || echo "cluster: not healthy"
}

cmd_start_node() {
    local n=$1 m others=() deadline=$((SECONDS + TIMEOUT))
    check_installed
    if running "$n"; then
        say "node $n is already running"
    else
        for m in "${NODES[@]}"; do [ "$m" != "$n" ] && running "$m" && others+=("$m"); done
        mkdir -p "$(node_dir "$n")"
        rm -f "$(datadir "$n")/gvwstate.dat"
        if [ "${#others[@]}" -eq 0 ]; then
            # Alone: bootstrap a new primary component from this node.
            say "no other node is running; bootstrapping from node $n"
            init_datadir "$n"
            [ -f "$(grastate "$n")" ] \
                && sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$(grastate "$n")"
            launch "$n" --wsrep-new-cluster
        else
            ensure_primary "${others[@]}"
            wait_synced "${#others[@]}" "$deadline" "${others[@]}"
            say "starting node $n, joining node(s) ${others[*]}"
            launch "$n"
        fi
        others+=("$n")
        wait_synced "${#others[@]}" "$deadline" "${others[@]}"
    fi
}

cmd_destroy() {
    cmd_stop
    say "removing $DIR"
    # Only what this script makes, then DIR itself if that leaves it empty.
    rm -rf "$DIR/node1" "$DIR/node2" "$DIR/node3" "$DIR/bin"
    rmdir "$DIR" 2>/dev/null || true
}

node_arg() {
    case "${1:-}" in
        1 | 2 | 3) ;;
        *) usage ;;
    esac
}

cmd=${1:-}
[ "$#" -gt 0 ] && shift
case "$cmd" in
    start | stop | status | destroy | urls)
        [ "$#" -le 1 ] || usage
        DIR=${1:-${TMPDIR:-/tmp}/ebbtide-galera}
        ;;
    start-node | stop-node | kill-node)
        node_arg "${1:-}"
        NODE=$1
        shift
        [ "$#" -le 1 ] || usage
        DIR=${1:-${TMPDIR:-/tmp}/ebbtide-galera}
        ;;
    *) usage ;;
esac
DIR=$(realpath -m "$DIR")

case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    urls) urls_line ;;
    destroy) cmd_destroy ;;
    start-node) cmd_start_node "$NODE" ;;
    stop-node) stop_node "$NODE" TERM ;;
    kill-node) stop_node "$NODE" KILL ;;
esac
