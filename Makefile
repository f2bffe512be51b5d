# Thin wrapper over meson. Every target installs what is missing first
# (deploy/install-deps.sh: apt-get, idempotent; needs root or sudo).
BUILD ?= build
MESON_SETUP = meson setup $(BUILD) --buildtype=release

.PHONY: all deps build demo test perf clean

all: build

deps:
	@bash deploy/install-deps.sh

build: deps
	@test -f $(BUILD)/build.ninja || $(MESON_SETUP)
	@ninja -C $(BUILD)

demo: build
	@bash deploy/demo.sh $(BUILD)

test: build
	@meson test -C $(BUILD) --print-errorlogs --num-processes 2

# The perf regression run: workloads, loupe bench, loupe vs ndpiReader and
# Suricata, micro-benchmarks, and the instruction-count gate (a second build
# for x86-64-v3, which valgrind can run). Fails when the gate regresses.
CG_BUILD ?= build-cg
perf: build
	@bash deploy/install-perf-deps.sh
	@test -f $(CG_BUILD)/build.ninja || meson setup $(CG_BUILD) --buildtype=release -Dmarch=x86-64-v3 -Dtests=false
	@ninja -C $(CG_BUILD) app/loupe
	@python3 perf/run.py $(BUILD) $(CG_BUILD) --out $(BUILD)/perf-report.json
	@python3 perf/compare.py perf/baseline.json $(BUILD)/perf-report.json

clean:
	rm -rf $(BUILD) $(CG_BUILD)
