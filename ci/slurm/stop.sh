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

# pid_alive PIDFILE NAME: true if the pidfile names a live (not zombie) process called NAME.
pid_alive() {
    local pidfile=$1 name=$2 pid stat
    pid=$(tr -dc '0-9' 2>/dev/null <"$pidfile") || return 1  # the daemon removes it as it exits
    [[ -n $pid && -r /proc/$pid/stat ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ $stat == *"($name)"* ]] || return 1
    [[ $(awk '{ sub(/.*\) /, ""); print $1 }' <<<"$stat") != Z ]]
}

# stop_daemon PIDFILE NAME: SIGTERM, wait up to 30 s, then SIGKILL (said loudly).
stop_daemon() {
    local pidfile=$1 name=$2 pid i t
    if ! pid_alive "$pidfile" "$name"; then
        say "$name: not running"
        return 0
    fi
    pid=$(tr -dc '0-9' 2>/dev/null <"$pidfile") || return 0
    t=$(now)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        if ! pid_alive "$pidfile" "$name"; then
            say "$name (pid $pid) stopped in $(since "$t") s"
            rm -f "$pidfile"
            return 0
        fi
        sleep 0.1
    done
    echo "[slurm stop] WARNING: $name (pid $pid) ignored SIGTERM for 30 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

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
