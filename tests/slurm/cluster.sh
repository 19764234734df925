#!/usr/bin/env bash
# A one-node Slurm cluster in a scratch directory, for the Slurm test:
#   cluster.sh start DIR   writes DIR/slurm.conf and a munge key, starts
#                          munged, slurmctld and slurmd (root as SlurmUser,
#                          ports away from the defaults); prints
#                          "export SLURM_CONF=..." for the clients
#   cluster.sh stop DIR    stops the three daemons by the PIDs in DIR
# Exit 77 from start: Slurm cannot be started here (the reason on stderr).
set -euo pipefail
cmd=${1:?start|stop}
dir=$(realpath -m "${2:?scratch directory}")

not_run() { echo "slurm cluster: not run: $*" >&2; exit 77; }

stop() {
  # slurmd first, so no job step outlives its controller
  for name in slurmd slurmctld munged; do
    pidfile="$dir/$name.pid"
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: cluster.sh start|stop DIR" >&2; exit 2; }

[ "$(id -u)" = 0 ] || not_run "needs root (SlurmUser=root, munged)"
for prog in munged mungekey slurmctld slurmd sbatch squeue scancel; do
  command -v "$prog" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$prog" >/dev/null 2>&1 ||
    not_run "$prog missing (scripts/install-deps.sh installs slurm-wlm and munge)"
done
export PATH="$PATH:/usr/sbin"
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
# a port pair from the directory's name, so two clusters on one machine
# (two test runs at once) do not collide
port=$((17000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 2000 * 2))

mungekey --create --keyfile="$dir/munge/munge.key" --force 2>/dev/null ||
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed" ||
  not_run "munged did not start: $(tail -3 "$dir/munged.log" 2>/dev/null)"

cat > "$dir/slurm.conf" <<CONF
ClusterName=tsedartstest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=10
MinJobAge=5
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=tsedarts Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF" -i || { stop; not_run "slurmctld did not start: $(tail -3 "$dir/slurmctld.log" 2>/dev/null)"; }
slurmd -f "$SLURM_CONF" || { stop; not_run "slurmd did not start: $(tail -3 "$dir/slurmd.log" 2>/dev/null)"; }
for _ in $(seq 60); do
  state=$(sinfo --noheader --format=%T 2>/dev/null | head -1 || true)
  case "$state" in idle|mixed|allocated) echo "export SLURM_CONF=$SLURM_CONF"; exit 0 ;; esac
  sleep 0.5
done
stop
not_run "the node did not become idle (state '$state'): $(tail -3 "$dir/slurmd.log" 2>/dev/null)"
