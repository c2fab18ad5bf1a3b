#!/usr/bin/env bash
# Bring up a single-node Slurm (Debian's slurm-wlm + munge) on this machine, for the Slurm tests of curate.
# Needs root. Usage: tools/slurm/single-node.sh [start|stop]. Installs the packages when they are missing.
# The node offers all cores and 8 GB; the partition is called `debug`.
set -euo pipefail
action="${1:-start}"
conf=/etc/slurm/slurm.conf
host="$(hostname -s)"

if [ "$action" = stop ]; then
  for daemon in slurmd slurmctld; do
    [ -f "/run/$daemon.pid" ] && kill "$(cat "/run/$daemon.pid")" 2>/dev/null || true
  done
  exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge
fi

mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || munged --force

cat > "$conf" <<CONF
ClusterName=curate
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MaxArraySize=1001
NodeName=$host CPUs=$(nproc) RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do
  if sinfo -h -o %t 2>/dev/null | grep -qx idle; then sinfo; exit 0; fi
  sleep 1
done
echo "slurm did not come up; see /var/log/slurm/" >&2
exit 1
