#!/usr/bin/env bash
# make demo: runs loupe on the bundled demo capture (generated, deterministic)
# with the shipped config, then shows what it found.
set -euo pipefail
build=${1:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pcap="$build/perf/demo.pcap"
echo "== loupe -c config/loupe.yaml -r $pcap"
"$build/app/loupe" -c config/loupe.yaml -r "$pcap" --set output.flows="$out/flows.json" \
  --set alerts.file="$out/alerts.json"
echo
python3 deploy/flow_report.py "$out/flows.json"
echo
echo "== alerts from the shipped Lua checks (scripts/flow/): $(wc -l < "$out/alerts.json")"
python3 -c '
import collections, json, sys
by = collections.Counter(json.loads(l)["alert"]["script"] for l in open(sys.argv[1]))
for script, n in by.most_common():
    print("  %-32s %d" % (script, n))
' "$out/alerts.json"
