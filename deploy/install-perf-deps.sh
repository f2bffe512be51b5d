#!/usr/bin/env bash
# What `make perf` needs beyond `make test`: valgrind (instruction counts),
# PyYAML (to write Suricata's config), and Suricata itself, the closest peer,
# which Debian 12 carries in bookworm-backports (7.0.10, built with DPDK,
# Hyperscan and LuaJIT). This script adds that suite to apt's sources when
# it is missing, and says so. Idempotent.
set -euo pipefail
bash "$(dirname "$0")/install-deps.sh"
need=()
for p in valgrind python3-yaml; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
have_suricata=1
command -v suricata >/dev/null 2>&1 || have_suricata=0
[ ${#need[@]} -eq 0 ] && [ $have_suricata -eq 1 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-perf-deps: need root to install ${need[*]} suricata" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ $have_suricata -eq 0 ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "install-perf-deps: adding Debian's bookworm-backports suite to apt's sources (for Suricata 7)" >&2
  echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/loupe-backports.list
fi
apt-get update -qq
[ ${#need[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [ $have_suricata -eq 0 ]; then
  apt-get install -y -qq -t bookworm-backports suricata >/dev/null ||
    echo "install-perf-deps: Suricata could not be installed; make perf compares with ndpiReader only" >&2
fi
