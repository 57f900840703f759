#!/usr/bin/env bash
# Start a real single-node SLURM on this machine, as root, on 127.0.0.1, without systemd
# or cgroups: munged, MariaDB + slurmdbd (accounting, so that sacct works as on a real
# cluster), slurmctld and slurmd, from Debian's packages (installed with apt if missing).
#
# Adapted from the team's reference script (../shared/cluster/start-local-slurm.sh and its
# NOTES.md, which record the pitfalls handled below). Changes: every file lives under one
# base directory, the four TCP ports are parameters (so that it never collides with
# another SLURM or MariaDB on the machine), and each daemon's PID file is the record of
# what this script started, which stop-local-slurm.sh stops and nothing else.
#
# Usage: start-local-slurm.sh BASE [CTLD_PORT SLURMD_PORT DBD_PORT DB_PORT]
# Then:  export SLURM_CONF=BASE/etc/slurm.conf PATH=BASE/bin:$PATH  (printed at the end)
set -euo pipefail

BASE=$(realpath -m "${1:?usage: $0 BASE [CTLD_PORT SLURMD_PORT DBD_PORT DB_PORT]}")
CTLD_PORT=${2:-6817} SLURMD_PORT=${3:-6818} DBD_PORT=${4:-6819} DB_PORT=${5:-3306}
ETC=$BASE/etc RUN=$BASE/run LOG=$BASE/log STATE=$BASE/state MUNGE=$BASE/munge DB=$BASE/mysql
export SLURM_CONF=$ETC/slurm.conf

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() {  # TRIES COMMAND...: retry every 0.2 s
  local tries=$1; shift
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

[ "$(id -u)" = 0 ] || { echo "$0: needs root (daemons, apt)" >&2; exit 1; }
# munge's socket path must fit in sun_path (108 bytes).
[ ${#MUNGE} -le 80 ] || { echo "$0: base path too long for a Unix socket: $BASE" >&2; exit 1; }

packages=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >"${TMPDIR:-/tmp}/backproplab-slurm-apt.log" 2>&1 \
    || { cat "${TMPDIR:-/tmp}/backproplab-slurm-apt.log" >&2; exit 1; }
fi

mkdir -p "$ETC" "$RUN" "$LOG" "$STATE/ctld" "$STATE/d" "$MUNGE" "$DB/data" "$BASE/bin"
for user in munge mysql; do  # the daemons that drop root must reach their directories
  runuser -u "$user" -- test -x "$BASE" \
    || { echo "$0: user $user cannot enter $BASE (a parent of mode 700?)" >&2; exit 1; }
done
chown munge: "$MUNGE"
chmod 711 "$MUNGE"  # munged refuses a socket directory without o+x
if [ ! -s "$MUNGE/munge.key" ]; then
  dd if=/dev/urandom bs=1k count=1 of="$MUNGE/munge.key" status=none
  chown munge: "$MUNGE/munge.key"
  chmod 400 "$MUNGE/munge.key"
fi

MEM_MB=$(awk '/MemAvailable/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
OLD_CONF=$(cat "$SLURM_CONF" 2>/dev/null || true)
[ -z "$OLD_CONF" ] || MEM_MB=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$OLD_CONF")
cat >"$SLURM_CONF" <<EOF
ClusterName=backproplab
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE/munge.socket.2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE/munge.socket.2
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
AccountingStoreFlags=job_comment
ReturnToService=2
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
if [ -n "$OLD_CONF" ] && [ "$OLD_CONF" != "$(cat "$SLURM_CONF")" ]; then
  # Started before with other ports: the running daemons must read the new file.
  "$(dirname "$0")/stop-local-slurm.sh" "$BASE" >/dev/null
fi

# The plugin's in-job step drops every SLURM_* variable, SLURM_CONF included, before its
# nested srun; PATH survives, so the client commands on it set SLURM_CONF again.
for c in srun sbatch squeue sacct sacctmgr scancel sinfo scontrol sshare; do
  printf '#!/bin/sh\nexport SLURM_CONF=%s\nexec /usr/bin/%s "$@"\n' "$SLURM_CONF" "$c" >"$BASE/bin/$c"
  chmod 755 "$BASE/bin/$c"
done
export PATH=$BASE/bin:$PATH

alive "$MUNGE/munged.pid" || runuser -u munge -- /usr/sbin/munged \
  --socket="$MUNGE/munge.socket.2" --key-file="$MUNGE/munge.key" \
  --pid-file="$MUNGE/munged.pid" --log-file="$MUNGE/munged.log" --seed-file="$MUNGE/munged.seed"
wait_for 50 munge -S "$MUNGE/munge.socket.2" -n || { echo "munged did not start" >&2; exit 1; }

chown mysql: "$DB" "$DB/data"
if ! alive "$DB/mariadbd.pid"; then
  [ -d "$DB/data/mysql" ] || mariadb-install-db --user=mysql --datadir="$DB/data" \
    >"$LOG/mariadb-install.log" 2>&1
  setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DB/data" \
    --socket="$DB/mysqld.sock" --pid-file="$DB/mariadbd.pid" --bind-address=127.0.0.1 \
    --port="$DB_PORT" --log-error="$LOG/mariadb.err" </dev/null >/dev/null 2>&1 &
  wait_for 150 mariadb -S "$DB/mysqld.sock" -e 'select 1' \
    || { echo "MariaDB did not start, see $LOG/mariadb.err" >&2; exit 1; }
fi
mariadb -S "$DB/mysqld.sock" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
  CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
# StorageHost=127.0.0.1, not localhost: "localhost" would mean MariaDB's default socket.
cat >"$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE/munge.socket.2
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurmpw
EOF
chmod 600 "$ETC/slurmdbd.conf"
alive "$RUN/slurmdbd.pid" || /usr/sbin/slurmdbd  # reads slurmdbd.conf beside $SLURM_CONF
wait_for 60 timeout 5 sacctmgr -n list cluster || { echo "slurmdbd did not start" >&2; exit 1; }
sacctmgr -n -P list cluster format=cluster | grep -qx backproplab \
  || sacctmgr -i add cluster backproplab >/dev/null

alive "$RUN/slurmctld.pid" || /usr/sbin/slurmctld
wait_for 100 sh -c 'scontrol ping | grep -q UP' || { echo "slurmctld did not start" >&2; exit 1; }
alive "$RUN/slurmd.pid" || /usr/sbin/slurmd -N localhost  # the host's name is not localhost
state=
for _ in $(seq 120); do
  state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
  case "$state" in
    idle | mix | alloc) break ;;
    down* | drain*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
case "$state" in
  idle | mix | alloc) ;;
  *) echo "node not ready ('$state'), see $LOG" >&2; exit 1 ;;
esac
sinfo
echo "export SLURM_CONF=$SLURM_CONF PATH=$BASE/bin:\$PATH"
