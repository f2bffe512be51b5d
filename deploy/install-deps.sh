#!/usr/bin/env bash
# Installs loupe's build and test dependencies from Debian 12's packages.
# Idempotent: packages already present are not touched, and a second run
# installs nothing and does not call apt-get at all.
set -euo pipefail

build_pkgs=(
  build-essential pkg-config meson ninja-build python3
  libdpdk-dev dpdk-dev dpdk librte-net-pcap23 librte-net-af-packet23 librte-net-ring23
  libpcap-dev libndpi-dev libluajit2-5.1-dev libhyperscan-dev libjemalloc-dev
  prometheus-cpp-dev libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libfmt-dev libssl-dev libhttp-parser-dev libpcre2-dev libcurl4-openssl-dev
)
test_pkgs=(
  tshark tcpreplay libndpi-bin iproute2 procps valgrind prometheus lua5.3
)

missing=()
for p in "${build_pkgs[@]}" "${test_pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo "$0" "$@"
  fi
  echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
