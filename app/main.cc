// loupe's command line. Parsing only: what to run lives in app/runtime.cc.
#include <jemalloc/jemalloc.h>
#include <luajit.h>
#include <hs.h>
#include <ndpi_api.h>
#include <rte_version.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "app/bench.h"
#include "app/control_cli.h"
#include "app/runtime.h"
#include "app/script_sets.h"
#include "build_info.h"
#include "config/loader.h"
#include "dpdk/pcap_source.h"

namespace {

void print_build_info() {
  const char* je = nullptr;
  size_t len = sizeof(je);
  mallctl("version", &je, &len, nullptr, 0);
  std::printf("loupe %s\n", LOUPE_VERSION);
  std::printf("%s\n", rte_version());
  std::printf("nDPI %s\n", ndpi_revision());
  std::printf("%s\n", LUAJIT_VERSION);
  std::printf("Hyperscan %s\n", hs_version());
  std::printf("jemalloc %s\n", je ? je : LOUPE_JEMALLOC_VERSION);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loupe: flow capture and analysis on DPDK"};
  app.set_version_flag("-V,--version", std::string("loupe ") + LOUPE_VERSION);
  std::string config_path = "config/loupe.yaml";
  std::string read_path;
  std::vector<std::string> overrides;
  bool test_config = false, dump = false, build_info = false, reference = false;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  app.add_option("-r,--read", read_path,
                 "read packets from a pcap file, or a directory's files in name order");
  app.add_flag("-T,--test-config", test_config,
               "validate the configuration: exit 0, or print every error and exit 1");
  app.add_flag("--dump-config", dump, "print the effective configuration as YAML and exit");
  app.add_option("--set", overrides, "override a config key: --set flow.capacity=1048576")
      ->type_name("KEY.PATH=VALUE")
      ->allow_extra_args(false);
  app.add_flag("--build-info", build_info, "print the versions of loupe and its libraries");
  app.add_flag("--config-reference", reference,
               "print the configuration reference (docs/configuration.md)");
  // Commands are subcommands of this app; a plain invocation runs the
  // capture. -c and --set apply to all.
  loupe::BenchOptions bench_options;
  CLI::App* bench_cmd = app.add_subcommand(
      "bench", "in-memory replay through the worker pipeline on one core: packets/s, per stage");
  bench_cmd->add_option("-r,--read", bench_options.input, "the capture to replay")->required();
  bench_cmd->add_option("-l,--loops", bench_options.loops, "times to replay it")
      ->capture_default_str()
      ->check(CLI::Range(1, 250));
  bench_cmd->add_flag("--rewrite", bench_options.rewrite,
                      "rewrite addresses each loop so every loop's flows are new");
  bench_cmd->add_option("--json", bench_options.json, "write the report as JSON here (- for stdout)");
  bench_cmd->add_flag("--scripts", bench_options.scripts,
                      "run the configured Lua script set (lua.scripts_dir) in the worker");
  bench_cmd->fallthrough();
  // The running instance, through its control socket (app/control_cli.h).
  bool json = false;
  CLI::App* status_cmd =
      app.add_subcommand("status", "workers, ports and scripts of the running instance");
  status_cmd->add_flag("--json", json, "print the instance's answer as JSON");
  status_cmd->fallthrough();
  CLI::App* scripts_cmd = app.add_subcommand("scripts", "the Lua scripts of the running instance");
  scripts_cmd->require_subcommand(1);
  scripts_cmd->fallthrough();
  CLI::App* scripts_status_cmd = scripts_cmd->add_subcommand(
      "status", "every script's state, calls, errors and time; the VMs' memory");
  scripts_status_cmd->add_flag("--json", json, "print the instance's answer as JSON");
  scripts_status_cmd->fallthrough();
  std::string unquarantine_key;
  CLI::App* unquarantine_cmd = scripts_cmd->add_subcommand(
      "unquarantine",
      "lift the quarantine of a script that stalled a worker: through the running instance, "
      "or in lua-quarantine under paths.workdir when none runs");
  unquarantine_cmd->add_option("key", unquarantine_key, "the script key, e.g. flow/dns_tunnel")
      ->required();
  unquarantine_cmd->add_flag("--json", json, "print the answer as JSON");
  unquarantine_cmd->fallthrough();
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);

  if (build_info) {
    print_build_info();
    return 0;
  }
  if (reference) {
    std::fputs(loupe::config_reference_markdown().c_str(), stdout);
    return 0;
  }

  const loupe::LoadResult loaded = loupe::load_config(config_path, overrides);
  if (!loaded.errors.empty()) {
    for (const loupe::ConfigError& e : loaded.errors)
      std::fprintf(stderr, "%s\n", loupe::to_string(e).c_str());
    return 1;
  }
  const loupe::Config& config = *loaded.config;
  if (test_config) {
    // The script set is part of the configuration: -T builds it too.
    const std::vector<std::string> errors = loupe::ScriptSets::check(config, !read_path.empty());
    if (!errors.empty()) {
      std::fprintf(stderr, "%s: the Lua script set is rejected:\n", config_path.c_str());
      for (const std::string& e : errors) std::fprintf(stderr, "  %s\n", e.c_str());
      return 1;
    }
    std::fprintf(stderr, "%s: configuration OK\n", config_path.c_str());
    return 0;
  }
  if (dump) {
    std::fputs(loupe::dump_config(config).c_str(), stdout);
    return 0;
  }

  if (bench_cmd->parsed()) return loupe::bench(config, bench_options);
  if (status_cmd->parsed()) return loupe::status_command(config, json);
  if (scripts_status_cmd->parsed()) return loupe::scripts_status_command(config, json);
  if (unquarantine_cmd->parsed())
    return loupe::unquarantine_command(config, unquarantine_key, json);

  loupe::RunOptions options;
  options.config_path = config_path;
  options.overrides = overrides;
  if (!read_path.empty()) {
    try {
      options.inputs = loupe::PcapSource::expand(read_path);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "loupe: %s\n", e.what());
      return 1;
    }
    // Fail before starting DPDK when no input file can be read at all.
    std::vector<std::string> errors;
    bool any = false;
    for (const std::string& f : options.inputs) {
      std::string error;
      if (pcap_t* p = loupe::PcapSource::open_checked(f, error)) {
        pcap_close(p);
        any = true;
      } else {
        errors.push_back(error);
      }
    }
    if (!any) {
      for (const std::string& e : errors) std::fprintf(stderr, "loupe: %s\n", e.c_str());
      return 1;
    }
  }
  return loupe::run(config, options);
}
