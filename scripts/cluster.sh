#!/usr/bin/env bash
# A real single-node Slurm cluster on the loopback, for sweeps and tests on one machine (run as root).
#
#   scripts/cluster.sh start     install what is missing, write the configuration for this host, start munged,
#                                mariadb, slurmdbd, slurmctld and slurmd, wait until the node is idle
#   scripts/cluster.sh stop      cancel every job, then stop the daemons by the PIDs that start recorded
#   scripts/cluster.sh status    the daemons, the node and the queue
#
# Everything it writes lives in its state folder (CLUSTER_DIR, default .cluster/ at the repository root), except
# /etc/slurm/slurm.conf, a link to the folder's slurm.conf while the cluster runs, so sbatch, squeue and sacct
# work from any shell as on a real cluster. Each start begins with an empty queue and an empty accounting
# database: job ids start again at 1, and an old record under the same id would mislead sacct.
# Slurm's ports are fixed (6817 slurmctld, 6818 slurmd, 6819 slurmdbd); mariadb listens on 127.0.0.1:CLUSTER_DB_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${CLUSTER_DIR:-$ROOT/.cluster}"
DB_PORT="${CLUSTER_DB_PORT:-6820}"
# how long a requeued job waits before it can start again is this plus 1 s (Slurm's default is 120 s)
CRED_EXPIRE_S=5
SYSTEM_CONF=/etc/slurm/slurm.conf
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)  # start order; stop goes in reverse

say() { echo "cluster: $*"; }
die() { echo "cluster: error: $*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and runs the Slurm daemons); try: sudo $0 $1"
}

install_missing() {
  local missing=()
  command -v munged >/dev/null || missing+=(munge)
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null || missing+=(slurm-wlm)
  command -v slurmdbd >/dev/null || missing+=(slurmdbd)
  command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null || missing+=(mariadb-server)
  [ ${#missing[@]} = 0 ] && return
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them; install them with your package manager"
  say "installing ${missing[*]}"
  # the packages' services must not start on their own: this script runs its own daemons on its own files
  local policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { [ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install ${missing[*]} failed"; }
  [ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

pid_of() { [ -s "$STATE/pids/$1.pid" ] && cat "$STATE/pids/$1.pid" || true; }

# A recorded PID counts only while it is still that daemon (a PID can be reused after a reboot).
alive() {
  local pid; pid="$(pid_of "$1")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && [ "$(tr '\0' '\n' < "/proc/$pid/cmdline" | head -1 | xargs -r basename)" = "$1" ]
}

write_config() {
  local host cpus mem_mb
  host="$(hostname -s)"
  cpus="$(nproc)"
  # leave a quarter of the memory (at least 1 GiB) to the system and the daemons
  mem_mb="$(awk '/MemTotal/ {m = int($2 / 1024); r = int(m / 4); if (r < 1024) r = 1024; print m - r}' /proc/meminfo)"
  mkdir -p "$STATE"/{etc,log,pids,run,munge,ctld,spool,mysql}
  chmod 755 "$STATE/munge"  # clients reach the socket inside; the key itself is 0400
  [ -s "$STATE/munge/munge.key" ] || { dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none; chmod 400 "$STATE/munge/munge.key"; }
  [ -s "$STATE/etc/db_password" ] || { head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$STATE/etc/db_password"; chmod 600 "$STATE/etc/db_password"; }
  local auth="socket=$STATE/munge/munge.socket.2"
  cat > "$STATE/etc/slurm.conf" <<EOF
# Written by scripts/cluster.sh start for host $host; rewritten at every start.
ClusterName=debtgpt
# NodeName and SlurmctldHost must be this host's short name, or slurmd and slurmctld do not find themselves
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=$auth,cred_expire=$CRED_EXPIRE_S
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# no cgroups here: track processes by their parents and bind no tasks
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
# jobs start at once instead of about 3 s after submission
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,defer=0
SchedulerTimeSlice=30
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# without a default, each job is given the whole node's memory and jobs never run side by side
DefMemPerCPU=512
JobRequeue=1
KillWait=5
MessageTimeout=10
InactiveLimit=0
MinJobAge=300
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
# the munge socket slurmctld signs its messages to slurmdbd with (AuthInfo does not reach this connection)
AccountingStoragePass=$STATE/munge/munge.socket.2
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  cat > "$STATE/etc/slurmdbd.conf" <<EOF
# Written by scripts/cluster.sh start; rewritten at every start.
AuthType=auth/munge
AuthInfo=$auth
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$STATE/etc/db_password")
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$STATE/etc/slurmdbd.conf"  # slurmdbd refuses a config others can read: it holds the password
}

# Start a daemon in the foreground of its own session and record its PID in pids/ (the daemons' own PID files,
# which some leave behind, go to run/).
launch() {
  local name="$1"; shift
  setsid "$@" > "$STATE/log/$name.out" 2>&1 < /dev/null &
  echo $! > "$STATE/pids/$name.pid"
}

wait_for() {  # wait_for SECONDS DAEMON DESCRIPTION COMMAND...: until COMMAND succeeds, failing at once if DAEMON died
  local seconds="$1" daemon="$2" what="$3"; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    # the PID alone: for a moment after the fork its command line is still setsid's
    kill -0 "$(pid_of "$daemon")" 2>/dev/null || die "$daemon exited while starting; see $STATE/log/$daemon.out"
    [ $SECONDS -lt $deadline ] || die "$what not ready after ${seconds} s (logs in $STATE/log/)"
    sleep 0.2
  done
}

sql() { mariadb --protocol=socket --socket="$STATE/mysql/mysqld.sock" -u root "$@"; }

start_database() {
  if [ ! -d "$STATE/mysql/data/mysql" ]; then
    rm -rf "$STATE/mysql/data"
    mariadb-install-db --no-defaults --datadir="$STATE/mysql/data" --user=root --auth-root-authentication-method=socket \
      > "$STATE/log/mariadb-install.out" 2>&1 || die "mariadb-install-db failed (see $STATE/log/mariadb-install.out)"
  fi
  launch mariadbd mariadbd --no-defaults --datadir="$STATE/mysql/data" --socket="$STATE/mysql/mysqld.sock" \
    --pid-file="$STATE/run/mariadbd.pid" --port="$DB_PORT" --bind-address=127.0.0.1 --user=root \
    --log-error="$STATE/log/mariadb.log" --innodb-buffer-pool-size=64M
  wait_for 60 mariadbd mariadb sql -e "SELECT 1"
  local password; password="$(cat "$STATE/etc/db_password")"
  # a fresh accounting database at every start: job ids begin at 1 again, and no old record may share one
  sql <<EOF
DROP DATABASE IF EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
}

link_system_conf() {
  if [ -e "$SYSTEM_CONF" ] || [ -L "$SYSTEM_CONF" ]; then
    [ "$(readlink "$SYSTEM_CONF" || true)" = "$STATE/etc/slurm.conf" ] && return
    die "$SYSTEM_CONF exists and is not this cluster's: this host already belongs to a Slurm cluster; submit there instead"
  fi
  mkdir -p "$(dirname "$SYSTEM_CONF")"
  ln -s "$STATE/etc/slurm.conf" "$SYSTEM_CONF"
}

node_idle() { [ "$(sinfo -h -N -o %t 2>/dev/null | head -1)" = idle ]; }

start() {
  need_root start
  if alive slurmctld && alive slurmd; then
    say "already running (state in $STATE)"; status; return
  fi
  for port in 6817 6818 6819 "$DB_PORT"; do
    if (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port on 127.0.0.1 is in use; stop what listens there (Slurm's ports 6817-6819 are fixed; CLUSTER_DB_PORT=$DB_PORT is mariadb's)"
    fi
  done
  install_missing
  stop_quietly  # daemons of a start that failed half-way
  local t0=$SECONDS
  write_config
  link_system_conf
  export SLURM_CONF="$STATE/etc/slurm.conf"
  # no job of an earlier cluster survives: slurmctld -c also purges its saved state, slurmd's spool is emptied
  rm -rf "${STATE:?}/ctld/"* "${STATE:?}/spool/"*

  launch munged munged --foreground --force --key-file="$STATE/munge/munge.key" --socket="$STATE/munge/munge.socket.2" \
    --pid-file="$STATE/run/munged.pid" --seed-file="$STATE/munge/munge.seed" --log-file="$STATE/log/munged.log"
  wait_for 20 munged munged test -S "$STATE/munge/munge.socket.2"
  start_database
  launch slurmdbd slurmdbd -D  # reads slurmdbd.conf beside $SLURM_CONF
  wait_for 60 slurmdbd slurmdbd bash -c "(echo > /dev/tcp/127.0.0.1/6819)"
  launch slurmctld slurmctld -D -c -i -f "$STATE/etc/slurm.conf"
  wait_for 30 slurmctld slurmctld scontrol ping
  launch slurmd slurmd -D -f "$STATE/etc/slurm.conf"
  wait_for 60 slurmd "the node (idle)" node_idle
  wait_for 30 slurmdbd "accounting (sacct)" sacct -n -X -S now
  say "up in $((SECONDS - t0)) s: node $(hostname -s), $(nproc) CPUs, partition debug; state in $STATE"
  say "stop it with: $0 stop"
}

# Stop each recorded daemon by its PID: TERM, then KILL after 15 s.
stop_daemons() {
  local i name pid
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    name="${DAEMONS[$i]}"
    if alive "$name"; then
      pid="$(pid_of "$name")"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 75); do alive "$name" || break; sleep 0.2; done
      if alive "$name"; then kill -KILL "$pid" 2>/dev/null || true; say "$name ($pid) did not stop on TERM: killed"; fi
      say "stopped $name ($pid)"
    fi
    rm -f "$STATE/pids/$name.pid"
  done
}

stop_quietly() { stop_daemons >/dev/null; }

stop() {
  need_root stop
  export SLURM_CONF="$STATE/etc/slurm.conf"
  if alive slurmctld; then
    # jobs first, while slurmd can still end their processes; a stopped slurmd leaves its job steps running
    local jobs; jobs="$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')"
    if [ -n "${jobs// /}" ]; then
      say "cancelling jobs $jobs"
      # shellcheck disable=SC2086
      scancel $jobs || true
      for _ in $(seq 100); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
    fi
  fi
  stop_daemons
  [ "$(readlink "$SYSTEM_CONF" 2>/dev/null || true)" = "$STATE/etc/slurm.conf" ] && rm -f "$SYSTEM_CONF"
  say "stopped (state and logs kept in $STATE)"
}

status() {
  export SLURM_CONF="$STATE/etc/slurm.conf"
  local name up=0
  for name in "${DAEMONS[@]}"; do
    if alive "$name"; then echo "$name: running (pid $(pid_of "$name"))"; up=$((up + 1)); else echo "$name: stopped"; fi
  done
  if alive slurmctld; then sinfo -N -o "%N %t %c %m %P"; squeue; fi
  [ "$up" = "${#DAEMONS[@]}" ]
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "command=${1:-} is not allowed; allowed values: start, stop, status" ;;
esac
