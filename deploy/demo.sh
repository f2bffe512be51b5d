#!/usr/bin/env bash
# make demo: runs loupe on the bundled demo capture (generated, deterministic)
# with the shipped config, then shows what it found.
set -euo pipefail
build=${1:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pcap="$build/perf/demo.pcap"
echo "== loupe -c config/loupe.yaml -r $pcap"
"$build/app/loupe" -c config/loupe.yaml -r "$pcap" --set output.flows="$out/flows.json"
echo
python3 deploy/flow_report.py "$out/flows.json"
