// One problem found while loading a configuration, with where it is.
#pragma once

#include <string>

namespace loupe {

struct ConfigError {
  // The config file's path as given to the loader, or "--set" for an override.
  std::string file;
  // 1-based. For an override, line is the override's 1-based index on the
  // command line and col the column within its "key.path=value" text. 0 when
  // the problem has no position (an unreadable file, a broken default).
  int line = 0;
  int col = 0;
  std::string message;

  bool operator==(const ConfigError&) const = default;
};

// "file:line:col: message", or "file: message" when line is 0, the form
// compilers use so that editors jump to the spot.
std::string to_string(const ConfigError& error);

}  // namespace loupe
