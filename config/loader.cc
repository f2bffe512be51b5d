#include "config/loader.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "config/schema_io.h"

namespace loupe {
namespace {

// fopen/fread rather than iostreams: they leave errno for the message.
bool read_file(const std::string& path, std::string* text, std::string* why) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) {
    *why = fmt::format("cannot open: {}", std::strerror(errno));
    return false;
  }
  char buffer[65536];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text->append(buffer, n);
  if (std::ferror(file.get())) {
    // A directory opens fine and fails here, with EISDIR.
    *why = fmt::format("cannot read: {}", std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

LoadResult load_config_text(std::string_view text, const std::string& name,
                            const std::vector<std::string>& overrides) {
  LoadResult result;
  Config config;
  result.errors = config::read_yaml(config, text, name, overrides);
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

LoadResult load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::string text;
  std::string why;
  if (!read_file(path, &text, &why)) {
    LoadResult result;
    result.errors.push_back({path, 0, 0, why});
    return result;
  }
  return load_config_text(text, path, overrides);
}

std::string dump_config(const Config& config) { return config::write_yaml(config); }

std::string config_reference_markdown() {
  return "<!-- Generated from the schemas by `loupe --config-reference > docs/configuration.md`;"
         " do not edit. -->\n"
         "# Configuration reference\n"
         "\n"
         "loupe reads one YAML file (`-c`, default `config/loupe.yaml`), then applies each\n"
         "`--set key.path=value` in order (the value is YAML: `--set ports.0.pci=0000:03:00.0`,\n"
         "`--set dpdk.eal_args=[--log-level=8]`). Every key is optional and takes the default\n"
         "below when absent; an empty file is a valid configuration. Unknown keys, duplicate\n"
         "keys, wrong types and out-of-range values are errors: loupe prints all of them as\n"
         "`file:line:col: message` (`--set:N:col:` for the Nth override) and does not start.\n"
         "`loupe -T` checks a configuration, `loupe --dump-config` prints the effective one.\n"
         "Each module declares its keys next to its config struct; see `config/README.md`.\n" +
         config::reference_markdown(*config::schema_of<Config>());
}

}  // namespace loupe
