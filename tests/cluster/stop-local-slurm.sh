#!/usr/bin/env bash
# Stop exactly the daemons start-local-slurm.sh BASE started: each by its PID file under
# BASE, and only if that PID still runs the daemon's program. Idempotent.
# Adapted from the team's reference script (../shared/cluster/stop-local-slurm.sh).
#
# Usage: stop-local-slurm.sh BASE
set -uo pipefail

BASE=$(realpath -m "${1:?usage: $0 BASE}")
export SLURM_CONF=$BASE/etc/slurm.conf

stop() {  # PIDFILE NAME PROGRAM
  local pid
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
  if [ "$(readlink "/proc/$pid/exe")" != "$(readlink -f "$3")" ]; then
    echo "$2: PID $pid is not $3, left alone"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$1"
  echo "$2: PID $pid stopped"
}

# Jobs still queued or running would leave slurmstepd processes behind.
if [ -s "$BASE/run/slurmctld.pid" ] && kill -0 "$(cat "$BASE/run/slurmctld.pid")" 2>/dev/null; then
  jobs=$(timeout 10 /usr/bin/squeue -h -o %i 2>/dev/null | xargs)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086 # one argument per job id
    /usr/bin/scancel $jobs
    sleep 2
  fi
fi
stop "$BASE/run/slurmd.pid" slurmd /usr/sbin/slurmd
stop "$BASE/run/slurmctld.pid" slurmctld /usr/sbin/slurmctld
stop "$BASE/run/slurmdbd.pid" slurmdbd /usr/sbin/slurmdbd
stop "$BASE/mysql/mariadbd.pid" mariadbd /usr/sbin/mariadbd
stop "$BASE/munge/munged.pid" munged /usr/sbin/munged
exit 0
