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

perf: build
	@$(BUILD)/perf/pipeline_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

clean:
	rm -rf $(BUILD)
