// Configuration of the control socket (`control:`) and of where loupe keeps
// its runtime state (`paths:`). Schema: config/control_config.cc. Both are
// read by app/ (the control socket, the CLI commands that talk to it) and by
// the script set build (lua-quarantine under paths.workdir).
#pragma once

#include <string>

#include "config/schema_fwd.h"

namespace loupe {

struct ControlConfig {
  bool enabled = true;
  // Offline runs (-r) are batch jobs, often several at once in one
  // directory: a socket each would collide. Off unless asked for.
  bool offline = false;
  std::string socket = "control.sock";  // relative: under paths.workdir
  std::string group;                    // "": the process's group

  bool operator==(const ControlConfig&) const = default;
};

struct PathsConfig {
  std::string workdir;  // "": the directory loupe starts in

  bool operator==(const PathsConfig&) const = default;
};

void describe(config::Section<ControlConfig>& s);
void describe(config::Section<PathsConfig>& s);

// `path` as loupe opens it: an absolute path as it is, a relative one under
// paths.workdir (as it is when workdir is "", i.e. from the current directory).
std::string workdir_path(const PathsConfig& paths, const std::string& path);

}  // namespace loupe
