# shellcheck shell=bash
# Shared by start.sh and stop.sh (sourced; each script defines say() and now()/since() first).
# Daemons are found and stopped by the PIDs in their pidfiles, never by name.

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
    echo "[slurm] WARNING: $name (pid $pid) ignored SIGTERM for 30 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}
