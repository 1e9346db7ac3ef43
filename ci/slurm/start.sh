#!/usr/bin/env bash
# Start a one-node SLURM cluster on localhost (munged + slurmctld + slurmd, no systemd, no accounting)
# so that CI and developers can run the workflow with the SLURM executor plugin.
#
#   sudo bash ci/slurm/start.sh      # idempotent: a second call while the cluster is up does nothing
#   bash ci/slurm/stop.sh            # cancel jobs, stop the daemons by their pidfiles
#
# THROWAWAY MACHINES ONLY: this script OVERWRITES /etc/slurm/slurm.conf.
set -euo pipefail

PARTITION=debug                       # ci/slurm/profile/config.yaml submits to this partition
NODE=localhost
CONF=/etc/slurm/slurm.conf
MUNGE_KEY=/etc/munge/munge.key
MUNGED_PIDFILE=/run/munge/munged.pid
SLURMCTLD_PIDFILE=/run/slurmctld.pid
SLURMD_PIDFILE=/run/slurmd.pid
WAIT_SECONDS=${SRFLOW_SLURM_WAIT:-60}

now() { date +%s.%N; }
T_START=$(now)
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
say() { echo "[slurm start] $*"; }
die() { echo "[slurm start] ERROR: $*" >&2; exit 1; }

# shellcheck source=ci/slurm/daemons.sh
source "$(dirname "$0")/daemons.sh"

[[ $(id -u) -eq 0 ]] || die "run as root (sudo bash $0): it installs packages and starts system daemons."

cat >&2 <<'EOF'
##########################################################################################
#  WARNING: ci/slurm/start.sh OVERWRITES /etc/slurm/slurm.conf and starts munged,         #
#  slurmctld and slurmd on this machine. Use it only on throwaway CI or dev machines,     #
#  never on a host that belongs to a real SLURM cluster.                                  #
##########################################################################################
EOF

# 1. packages -------------------------------------------------------------------------------
t=$(now)
missing=()
for tool in munged munge unmunge slurmctld slurmd sinfo srun sbatch squeue scancel scontrol; do
    command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || missing+=("$tool")
done
if ((${#missing[@]})); then
    say "installing slurm-wlm and munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    # another apt user on the machine may hold the dpkg lock: wait for it instead of failing
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    # the postinst cannot start the services here (no systemd): "policy-rc.d denied execution" is expected
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
T_APT=$(since "$t")
say "packages: ${T_APT} s ($(dpkg-query -W -f '${Version}' slurmctld 2>/dev/null || echo '?') slurm, \
$(dpkg-query -W -f '${Version}' munge 2>/dev/null || echo '?') munge)"

# 2. munge key and munged -------------------------------------------------------------------
t=$(now)
if [[ ! -s $MUNGE_KEY ]]; then
    say "creating $MUNGE_KEY"
    mkdir -p "$(dirname "$MUNGE_KEY")"
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile="$MUNGE_KEY"
    else
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
fi
chown munge:munge "$MUNGE_KEY" && chmod 400 "$MUNGE_KEY"
# systemd's RuntimeDirectory would create these; without systemd we do
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge
if pid_alive "$MUNGED_PIDFILE" munged; then
    say "munged already running (pid $(cat "$MUNGED_PIDFILE"))"
else
    # --force: a socket or pidfile left by a killed munged is stale (we just checked it is not running)
    runuser -u munge -- /usr/sbin/munged --force </dev/null >/dev/null 2>&1
fi
munge -n | unmunge >/dev/null || die "munge does not work (munge -n | unmunge failed); see /var/log/munge/munged.log"
T_MUNGE=$(since "$t")

# 3. slurm.conf -----------------------------------------------------------------------------
cpus=$(nproc)
# RealMemory above what slurmd detects drains the node; 90% of MemTotal stays below it
mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
new_conf=$(mktemp)
trap 'rm -f "$new_conf"' EXIT
cat >"$new_conf" <<EOF
# One-node SLURM for srflow CI: localhost only, no systemd, no cgroups, no slurmdbd.
# Written by ci/slurm/start.sh, which overwrites this file on every call. Throwaway machines only.
ClusterName=srflowci
SlurmctldHost=${NODE}
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=${SLURMCTLD_PIDFILE}
SlurmdPidFile=${SLURMD_PIDFILE}
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it a job that gives no --mem asks for the whole node and jobs run one at a time
DefMemPerCPU=1000
ReturnToService=2
# Finished jobs stay visible to squeue this long. The executor plugin (status command squeue) treats
# a job missing from squeue as still running and polls up to every 180 s, so this must exceed 180 s.
MinJobAge=300
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=${PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
conf_changed=1
if [[ -f $CONF ]] && cmp -s "$new_conf" "$CONF"; then
    conf_changed=0
else
    say "writing $CONF (CPUs=${cpus}, RealMemory=${mem_mb} MB, partition ${PARTITION})"
    mkdir -p /etc/slurm
    install -m 644 "$new_conf" "$CONF"
fi
mkdir -p /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
chown slurm:slurm /var/lib/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm

# 4. slurmctld and slurmd -------------------------------------------------------------------
t=$(now)
if ((conf_changed)); then
    # daemons started with another config must be restarted to read this one
    stop_daemon "$SLURMD_PIDFILE" slurmd
    stop_daemon "$SLURMCTLD_PIDFILE" slurmctld
fi
started=0
if pid_alive "$SLURMCTLD_PIDFILE" slurmctld; then
    say "slurmctld already running (pid $(cat "$SLURMCTLD_PIDFILE"))"
else
    # both daemonize and write their pidfiles; stdio to /dev/null so that they never hold the caller's pipes
    /usr/sbin/slurmctld </dev/null >/dev/null 2>&1 || die "slurmctld did not start; see /var/log/slurm/slurmctld.log"
    started=1
fi
if pid_alive "$SLURMD_PIDFILE" slurmd; then
    say "slurmd already running (pid $(cat "$SLURMD_PIDFILE"))"
else
    # -N: the node is called localhost whatever this machine's hostname is
    /usr/sbin/slurmd -N "$NODE" </dev/null >/dev/null 2>&1 || die "slurmd did not start; see /var/log/slurm/slurmd.log"
    started=1
fi
for pair in "$SLURMCTLD_PIDFILE:slurmctld" "$SLURMD_PIDFILE:slurmd"; do
    for ((i = 0; i < 100; i++)); do pid_alive "${pair%%:*}" "${pair##*:}" && break; sleep 0.1; done
    pid_alive "${pair%%:*}" "${pair##*:}" || die "${pair##*:} is not running; see /var/log/slurm/${pair##*:}.log"
done

# 5. wait until the node takes jobs ---------------------------------------------------------
resumed=0
deadline=$(($(date +%s) + WAIT_SECONDS))
state=""
while :; do
    state=$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -1 || true)
    case $state in
        idle | mixed | allocated | completing) break ;;  # mixed/allocated: the cluster was up and busy
        *drain* | down)
            # a node that was drained (e.g. by an earlier RealMemory) stays so until told otherwise
            if ((!resumed)); then
                say "node is '$state'; resuming it"
                scontrol update NodeName="$NODE" State=RESUME || true
                resumed=1
            fi ;;
    esac
    if (($(date +%s) >= deadline)); then
        sinfo -R >&2 || true
        tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
        die "node $NODE is '${state:-not reported}' after ${WAIT_SECONDS} s"
    fi
    sleep 0.2
done
T_DAEMONS=$(since "$t")

# 6. a real job ------------------------------------------------------------------------------
t=$(now)
timeout 60 srun --partition="$PARTITION" --ntasks=1 --mem=10 true || die "srun true failed"
T_SRUN=$(since "$t")

say "cluster up: node $NODE is '$state', partition $PARTITION, $(sinfo -h -o '%D node(s), %c CPUs')"
say "pids: munged $(cat "$MUNGED_PIDFILE"), slurmctld $(cat "$SLURMCTLD_PIDFILE"), slurmd $(cat "$SLURMD_PIDFILE")"
say "timings: packages ${T_APT} s, munge ${T_MUNGE} s, daemons+idle ${T_DAEMONS} s (started anything: $started), \
srun true ${T_SRUN} s, total $(since "$T_START") s"
