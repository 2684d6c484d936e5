#!/usr/bin/env bash
# slurm-cluster.sh: start and stop a throwaway one-node SLURM cluster that
# listens on loopback only. CI uses it to run the example array job for real.
#
# Usage:
#   scripts/slurm-cluster.sh install     # apt-get the Debian packages (root);
#                                        # does nothing if slurmctld is on PATH
#   scripts/slurm-cluster.sh start DIR   # config, munge key, state, logs and
#                                        # PID files all go under DIR
#   scripts/slurm-cluster.sh stop DIR    # stop what `start DIR` started
#   scripts/slurm-cluster.sh status DIR  # say which recorded daemons are alive
#
# The last line `start` prints to stdout is `export SLURM_CONF=DIR/slurm.conf`,
# so a caller can run:
#   state=$(mktemp -d)
#   scripts/slurm-cluster.sh install
#   eval "$(scripts/slurm-cluster.sh start "$state" | tail -1)"
#   sbatch --array=0-3 job.sbatch; ...; squeue
#   scripts/slurm-cluster.sh stop "$state"
#
# Notes:
# - Must run as root. Tested with Debian bookworm's Slurm 22.05 and munge.
# - One node named after `hostname -s` with NodeAddr=127.0.0.1, CPUs=nproc,
#   one default partition `debug`. Memory is not a consumable resource
#   (CR_CPU), so jobs without --mem share the node.
# - munged runs as user `munge` with its own key and socket under DIR;
#   slurmctld and slurmd run in the foreground (-D) in their own sessions.
#   DIR gets the traverse bit for others (chmod a+x) so munged can reach it.
# - No accounting (no slurmdbd): `sacct` does not work; use `squeue` and
#   `scontrol show job` (finished jobs stay visible MinJobAge=300 seconds).
# - `scontrol requeue` restarts a job after about cred_expire (5 s) plus a
#   scheduler pass.
# - Ports: SLURM_CLUSTER_CTLD_PORT (default 6817) and
#   SLURM_CLUSTER_SLURMD_PORT (default 6818) choose them; `start` fails if
#   either is already taken.
# - `stop` ends only the processes it recorded, plus job processes that the
#   cluster's slurmd started (found by a marker in their environment or as
#   descendants of such processes). It deletes nothing; remove DIR yourself.
# - Timeouts: SLURM_CLUSTER_START_TIMEOUT (default 60 s) bounds the wait for
#   the node to become idle.

set -euo pipefail

prog=${0##*/}
marker_var=SLURM_CLUSTER_SH_DIR

# Set while `start` runs, so a failure shows the logs and stops what began.
starting_dir=""

die() {
    echo "$prog: error: $*" >&2
    if [[ -n $starting_dir ]]; then
        local d=$starting_dir
        starting_dir=""
        show_logs "$d"
        cmd_stop "$d" >/dev/null 2>&1 || true
        echo "$prog: stopped the partly started cluster in $d" >&2
    fi
    exit 1
}

log() {
    echo "$prog: $*" >&2
}

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (daemons run as root and munged as user munge)"
}

# --- install ------------------------------------------------------------

cmd_install() {
    if command -v slurmctld >/dev/null 2>&1; then
        log "slurmctld already installed: $(command -v slurmctld); skipping install"
        return 0
    fi
    need_root
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install slurmctld, slurmd, slurm-client and munge by hand"
    local pkgs=(slurmctld slurmd slurm-client munge)
    export DEBIAN_FRONTEND=noninteractive
    log "installing ${pkgs[*]}"
    if ! apt-get install -y --no-install-recommends "${pkgs[@]}"; then
        log "install failed; running apt-get update and retrying"
        apt-get update
        apt-get install -y --no-install-recommends "${pkgs[@]}"
    fi
    command -v slurmctld >/dev/null 2>&1 || die "slurmctld still not on PATH after install"
}

# --- helpers ------------------------------------------------------------

abs_dir() {
    # Absolute, existing directory path for $1 (created if missing).
    mkdir -p -- "$1"
    (cd -- "$1" && pwd -P)
}

# Is $1 a live (not zombie) process? Bash builtins only (no forks).
pid_alive() {
    local stat
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# Is $1 a live process whose executable name is $2?
pid_is() {
    local pid=$1 name=$2 comm
    pid_alive "$pid" || return 1
    { read -r comm <"/proc/$pid/comm"; } 2>/dev/null || return 1
    [[ $comm == "$name" ]]
}

read_pid() {
    local f=$1
    [[ -f $f ]] || return 1
    local pid
    pid=$(head -n1 -- "$f")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    echo "$pid"
}

port_in_use() {
    # True if something accepts TCP connections on 127.0.0.1:$1.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Send TERM to a recorded daemon, wait, then KILL. Only if the PID still
# belongs to a process with the expected name.
stop_daemon() {
    local dir=$1 name=$2 pid i
    local pidfile=$dir/pids/$name.pid
    pid=$(read_pid "$pidfile") || return 0
    if pid_is "$pid" "$name"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            pid_is "$pid" "$name" || break
            sleep 0.1
        done
        if pid_is "$pid" "$name"; then
            log "$name (pid $pid) ignored TERM for 10 s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                pid_is "$pid" "$name" || break
                sleep 0.1
            done
        fi
    fi
    rm -f -- "$pidfile"
}

# PIDs of this cluster's job processes: slurmstepd processes that hold this
# cluster's slurmd log open (slurmstepd wipes its environment), processes
# with the marker in their environment (set for slurmctld and slurmd),
# job processes whose environment names this cluster's SLURM_CONF, and all
# descendants of those. Zombies and the recorded daemons are left out.
job_pids() {
    local dir=$1 p f line rest comm state
    local -A seed=() skip=() parent=()
    local self=$$ want_conf="SLURM_CONF=$dir/slurm.conf" want_marker="$marker_var=$dir"
    # The recorded daemons themselves are stopped by stop_daemon, not here.
    for f in "$dir"/pids/*.pid; do
        p=$(read_pid "$f") && skip[$p]=1
    done
    # One pass over /proc with builtins: parent of every live process, and
    # slurmstepd processes holding this cluster's slurmd log open.
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        { read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
        comm=${line#*(}
        comm=${comm%)*}
        rest=${line##*) }
        state=${rest%% *}
        rest=${rest#* }
        [[ $state == Z ]] && continue
        parent[$p]=${rest%% *}
        if [[ $comm == slurmstepd && -z ${skip[$p]:-} ]]; then
            for f in "/proc/$p/fd"/*; do
                if [[ $f -ef $dir/log/slurmd.log ]]; then
                    seed[$p]=1
                    break
                fi
            done
        fi
    done
    # Environment matches: one grep over all environ files.
    while IFS= read -r f; do
        p=${f#/proc/}
        p=${p%/environ}
        [[ -n ${parent[$p]:-} && -z ${skip[$p]:-} ]] && seed[$p]=1
    done < <(grep -lsxzF -e "$want_marker" /proc/[0-9]*/environ || true)
    while IFS= read -r f; do
        p=${f#/proc/}
        p=${p%/environ}
        [[ -n ${parent[$p]:-} && -z ${skip[$p]:-} ]] || continue
        grep -qsz '^SLURM_JOB_ID=' "$f" && seed[$p]=1
    done < <(grep -lsxzF -e "$want_conf" /proc/[0-9]*/environ || true)
    # Add descendants until nothing changes.
    local changed=1
    while ((changed)); do
        changed=0
        for p in "${!parent[@]}"; do
            [[ -n ${seed[$p]:-} || -n ${skip[$p]:-} ]] && continue
            if [[ -n ${seed[${parent[$p]}]:-} ]]; then
                seed[$p]=1
                changed=1
            fi
        done
    done
    # Never include ourselves, this subshell or our ancestors (the caller
    # could itself be running inside a job).
    for p in "$self" "$BASHPID"; do
        while [[ -n $p && $p != 0 ]]; do
            unset "seed[$p]"
            p=${parent[$p]:-}
        done
    done
    if ((${#seed[@]})); then
        printf '%s\n' "${!seed[@]}"
    fi
}

kill_job_processes() {
    local dir=$1 pids p i left=()
    mapfile -t pids < <(job_pids "$dir")
    ((${#pids[@]})) || return 0
    log "ending ${#pids[@]} leftover job process(es): ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # Wait up to 5 s for the job processes proper; slurmstepd ignores TERM,
    # so once only slurmstepd processes are left, KILL them at once.
    local busy
    for ((i = 0; i < 50; i++)); do
        left=()
        busy=0
        for p in "${pids[@]}"; do
            pid_alive "$p" || continue
            left+=("$p")
            pid_is "$p" slurmstepd || busy=1
        done
        ((busy)) || break
        sleep 0.1
    done
    if ((${#left[@]})); then
        log "sending KILL to: ${left[*]}"
        kill -KILL "${left[@]}" 2>/dev/null || true
    fi
    # Anything started meanwhile (a job's child forked late): KILL it.
    mapfile -t pids < <(job_pids "$dir")
    if ((${#pids[@]})); then
        log "sending KILL to late job process(es): ${pids[*]}"
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    return 0
}

show_logs() {
    # Daemons in foreground mode log to both their log file and stderr
    # (*.out); show the log file, or the .out file where there is none.
    local dir=$1 name f
    for name in munged slurmctld slurmd; do
        f=$dir/log/$name.log
        [[ -s $f ]] || f=$dir/log/$name.out
        [[ -s $f ]] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 25 -- "$f" >&2
    done
}

# Start "$@" in its own session with stdio detached, record its PID.
spawn() {
    local dir=$1 name=$2
    shift 2
    # In a non-interactive shell a background job is not a process group
    # leader, so setsid execs in place and $! is the daemon's own PID.
    # The marker in the environment lets `stop` find job processes that
    # slurmd started (slurmstepd inherits it); munged does not need it.
    local marker=()
    [[ $name == munged ]] || marker=("$marker_var=$dir")
    env "${marker[@]}" SLURM_CONF="$dir/slurm.conf" \
        setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/pids/$name.pid"
    # Let exec chains (setsid, setpriv) finish, then check the name.
    local i
    for ((i = 0; i < 20; i++)); do
        pid_is "$pid" "$name" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if ! pid_is "$pid" "$name"; then
        die "$name did not start (pid $pid is not $name); see $dir/log"
    fi
}

# --- start --------------------------------------------------------------

cmd_start() {
    [[ $# -eq 1 ]] || usage
    need_root
    local d
    for d in slurmctld slurmd sinfo munged setpriv setsid; do
        command -v "$d" >/dev/null 2>&1 || die "$d not found; run '$prog install' first"
    done
    id munge >/dev/null 2>&1 || die "user munge does not exist; run '$prog install' first"

    local dir
    dir=$(abs_dir "$1")
    [[ $dir != *[[:space:]=,]* ]] || die "DIR must not contain spaces, '=' or ',': $dir"

    local name
    for name in munged slurmctld slurmd; do
        local pid
        if pid=$(read_pid "$dir/pids/$name.pid") && pid_is "$pid" "$name"; then
            die "$name from an earlier start is still running (pid $pid); run '$prog stop $dir' first"
        fi
    done

    local ctld_port=${SLURM_CLUSTER_CTLD_PORT:-6817}
    local slurmd_port=${SLURM_CLUSTER_SLURMD_PORT:-6818}
    local timeout=${SLURM_CLUSTER_START_TIMEOUT:-60}
    local p
    for p in "$ctld_port" "$slurmd_port"; do
        port_in_use "$p" && die "port $p on 127.0.0.1 is already in use (another cluster?); set SLURM_CLUSTER_CTLD_PORT/SLURM_CLUSTER_SLURMD_PORT"
    done

    local node cpus mem_avail_kb real_mem
    node=$(hostname -s)
    [[ -n $node ]] || die "hostname -s is empty"
    cpus=$(nproc)
    mem_avail_kb=$(awk '/^MemAvailable:/{print $2}' /proc/meminfo)
    [[ -n $mem_avail_kb ]] || mem_avail_kb=$(awk '/^MemFree:/{print $2}' /proc/meminfo)
    real_mem=$((mem_avail_kb / 1024 / 2)) # half of what is free, in MB
    ((real_mem >= 1)) || real_mem=1

    chmod a+x "$dir"
    rm -rf -- "$dir/state" "$dir/spool"
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/pids" "$dir/run" "$dir/munge" "$dir/munge-run"
    rm -f -- "$dir"/log/*

    # munge: key dir 0700 and key 0400 owned by munge; socket dir 0755.
    local key=$dir/munge/munge.key
    local sock=$dir/munge-run/munge.socket.2
    if [[ ! -s $key ]]; then
        dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
    chown -R munge:munge "$dir/munge" "$dir/munge-run"
    chmod 0700 "$dir/munge"
    chmod 0400 "$key"
    chmod 0755 "$dir/munge-run"
    rm -f -- "$sock" "$sock.lock"

    : >"$dir/plugstack.conf"
    cat >"$dir/slurm.conf" <<EOF
# Written by $prog for a throwaway one-node cluster on loopback.
ClusterName=localci
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1,bf_interval=1
ReturnToService=2
KillWait=5
MinJobAge=300
InactiveLimit=0
Waittime=0
SlurmctldTimeout=60
SlurmdTimeout=120
MaxArraySize=1001
MaxJobCount=10000
MailProg=/bin/true
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 0644 "$dir/slurm.conf"

    local t0=$SECONDS
    starting_dir=$dir

    spawn "$dir" munged setpriv --reuid=munge --regid=munge --init-groups \
        munged --foreground --key-file="$key" --socket="$sock" \
        --pid-file="$dir/munge-run/munged.pid" --seed-file="$dir/munge-run/munged.seed"
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -S $sock ]] && break
        sleep 0.1
    done
    if [[ ! -S $sock ]]; then
        die "munged did not create its socket $sock within 10 s"
    fi

    spawn "$dir" slurmctld slurmctld -D -c -f "$dir/slurm.conf"
    spawn "$dir" slurmd slurmd -D -N "$node" -f "$dir/slurm.conf"

    local state=""
    while ((SECONDS - t0 < timeout)); do
        state=$(SLURM_CONF=$dir/slurm.conf sinfo -h -n "$node" -o '%T' 2>/dev/null | head -n1) || state=""
        [[ $state == idle ]] && break
        for name in slurmctld slurmd; do
            if ! pid_is "$(read_pid "$dir/pids/$name.pid")" "$name"; then
                die "$name exited during start-up; see $dir/log"
            fi
        done
        sleep 0.2
    done
    if [[ $state != idle ]]; then
        die "node $node not idle after ${timeout}s (last state: '${state:-none}')"
    fi
    starting_dir=""
    log "node $node idle after $((SECONDS - t0))s (CPUs=$cpus RealMemory=${real_mem}MB, ports $ctld_port/$slurmd_port)"
    echo "export SLURM_CONF=$dir/slurm.conf"
}

# --- stop ---------------------------------------------------------------

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    need_root
    [[ -d $1 ]] || {
        log "no state folder $1; nothing to stop"
        return 0
    }
    local dir
    dir=$(cd -- "$1" && pwd -P)

    # Cancel jobs while slurmctld and slurmd are still up so slurmd ends the
    # job steps itself (TERM, then KILL after KillWait).
    local ctld_pid slurmd_pid jobs i
    if ctld_pid=$(read_pid "$dir/pids/slurmctld.pid") && pid_is "$ctld_pid" slurmctld &&
        slurmd_pid=$(read_pid "$dir/pids/slurmd.pid") && pid_is "$slurmd_pid" slurmd &&
        command -v squeue >/dev/null 2>&1; then
        jobs=$(SLURM_CONF=$dir/slurm.conf timeout 10 squeue -h -o '%A' 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            log "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
            # shellcheck disable=SC2086 # word splitting of job ids is wanted
            SLURM_CONF=$dir/slurm.conf timeout 10 scancel $jobs 2>/dev/null || true
            # KillWait=5: give slurmd up to 10 s to end them.
            for ((i = 0; i < 50; i++)); do
                jobs=$(SLURM_CONF=$dir/slurm.conf timeout 10 squeue -h -t R,CG,S -o '%A' 2>/dev/null || true)
                [[ -z $jobs ]] && break
                sleep 0.2
            done
        fi
    fi

    stop_daemon "$dir" slurmd
    stop_daemon "$dir" slurmctld
    kill_job_processes "$dir"
    stop_daemon "$dir" munged
    rm -f -- "$dir/munge-run/munge.socket.2" "$dir/munge-run/munge.socket.2.lock"
    log "stopped cluster in $dir"
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    local dir=$1 name pid rc=0
    for name in munged slurmctld slurmd; do
        if pid=$(read_pid "$dir/pids/$name.pid") && pid_is "$pid" "$name"; then
            echo "$name: running (pid $pid)"
        else
            echo "$name: not running"
            rc=1
        fi
    done
    return "$rc"
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    case $cmd in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help) usage ;;
    *)
        echo "$prog: unknown command '$cmd'" >&2
        usage
        ;;
    esac
}

main "$@"
