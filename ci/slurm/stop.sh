#!/usr/bin/env bash
# Stop the one-node SLURM cluster started by ci/slurm/start.sh:
# cancel its jobs, then stop slurmd, slurmctld and munged by the PIDs in their pidfiles (never by name)
# and wait until each has exited. Safe to call when nothing is running.
set -euo pipefail

SLURMD_PIDFILE=/run/slurmd.pid
SLURMCTLD_PIDFILE=/run/slurmctld.pid
MUNGED_PIDFILE=/run/munge/munged.pid

now() { date +%s.%N; }
T_START=$(now)
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
say() { echo "[slurm stop] $*"; }

[[ $(id -u) -eq 0 ]] || { echo "[slurm stop] ERROR: run as root (sudo bash $0)" >&2; exit 1; }

# shellcheck source=ci/slurm/daemons.sh
source "$(dirname "$0")/daemons.sh"

# 1. jobs: only while the controller answers
if pid_alive "$SLURMCTLD_PIDFILE" slurmctld && command -v squeue >/dev/null 2>&1; then
    jobs=$(squeue -h -o '%i' 2>/dev/null | tr '\n' ' ' || true)
    if [[ -n ${jobs// /} ]]; then
        say "cancelling jobs: $jobs"
        # shellcheck disable=SC2086  # word splitting wanted: one id per argument
        scancel $jobs || true
        for ((i = 0; i < 100; i++)); do
            [[ -z $(squeue -h -t RUNNING,COMPLETING,PENDING -o '%i' 2>/dev/null) ]] && break
            sleep 0.1
        done
    fi
fi

# 2. daemons, node first: slurmd reports to slurmctld, both authenticate through munged
stop_daemon "$SLURMD_PIDFILE" slurmd
stop_daemon "$SLURMCTLD_PIDFILE" slurmctld
stop_daemon "$MUNGED_PIDFILE" munged
say "done in $(since "$T_START") s"
