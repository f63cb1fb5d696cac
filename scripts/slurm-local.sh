#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A throwaway single-node Slurm on localhost (Debian's slurm-wlm + munge), everything under one folder:
#   eval "$(scripts/slurm-local.sh start DIR)"   # starts munged, slurmctld, slurmd; prints `export SLURM_CONF=...`
#   scripts/slurm-local.sh stop DIR              # stops them (by their pid files)
# No cgroups (proctrack/linuxproc, task/none), no accounting, its own munge key and socket and free
# ports, so it runs beside a real cluster's config and in a container. Daemons run as root (sudo
# when not root); jobs run as the submitting user.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PATH=$PATH:/usr/sbin:/sbin

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
dir=$(mkdir -p "$2" && cd "$2" && pwd)
conf=$dir/slurm.conf

stop() {
  # slurmd first (it reports to slurmctld), munged last; each by its own pid file.
  for d in slurmd slurmctld munged; do
    local pidfile=$dir/$d.pid pid
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    $SUDO kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    $SUDO kill -9 "$pid" 2>/dev/null || true
    $SUDO rm -f "$pidfile"
  done
}

start() {
  for tool in munged slurmctld slurmd sbatch scontrol sinfo; do
    command -v "$tool" >/dev/null ||
      { echo "$0: $tool not found: install slurm-wlm and munge (scripts/install-deps.sh)" >&2; exit 1; }
  done
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool"
  chmod 700 "$dir/munge"
  # A key of our own: the cluster never talks to a system munged.
  [ -f "$dir/munge/munge.key" ] || { head -c 1024 /dev/urandom >"$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"; }
  local node port
  node=$(hostname -s)
  # Two free ports beside Slurm's defaults (6817/6818), so a real cluster on this host is untouched.
  port=$(( 20000 + RANDOM % 20000 ))
  while ss -ltn 2>/dev/null | grep -qE ":($port|$((port + 1)))\b"; do port=$(( 20000 + RANDOM % 20000 )); done
  cat >"$conf" <<CONF
ClusterName=qslocal
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=600
MailProg=/bin/true
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 )) State=UNKNOWN
PartitionName=qslocal Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
  $SUDO munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed" --force
  $SUDO slurmctld -f "$conf" -i
  $SUDO slurmd -f "$conf" -N "$node"
  # Ready when the node is idle.
  for _ in $(seq 100); do
    if SLURM_CONF=$conf sinfo -h -N -o %t 2>/dev/null | grep -q '^idle'; then
      echo "export SLURM_CONF=$conf"
      return 0
    fi
    sleep 0.2
  done
  echo "$0: the local Slurm did not come up; logs in $dir:" >&2
  tail -n 20 "$dir"/*.log >&2 || true
  stop
  exit 1
}

case "$1" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
