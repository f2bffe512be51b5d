// The configuration's public interface: load it (YAML file + --set
// overrides, validated against every module's schema), dump it, document it.
// Loaded once at start-up; the Config is then immutable and shared read-only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/config_error.h"

namespace loupe {

struct LoadResult {
  std::optional<Config> config;     // set exactly when errors is empty
  std::vector<ConfigError> errors;  // every problem found, in file order, then overrides
};

// Reads the YAML file at `path` onto the defaults, then applies each override
// ("key.path=value", the value read as YAML: a scalar, [a, b] or {k: v}; an
// empty value is the empty string), then runs the cross-field checks.
// Errors in the file read "path:line:col: message"; errors in the Nth
// override (1-based) read "--set:N:col: message", col counting within that
// override's text. An unreadable file is the single error "path: cannot
// open: <strerror>" (line 0). An empty file is all defaults.
LoadResult load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from text already in memory; `name` is what errors call the file.
LoadResult load_config_text(std::string_view text, const std::string& name,
                            const std::vector<std::string>& overrides = {});

// Every key, block style; loading it back gives an equal Config.
std::string dump_config(const Config& config);

// docs/configuration.md (loupe --config-reference > docs/configuration.md).
std::string config_reference_markdown();

}  // namespace loupe
