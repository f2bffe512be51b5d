// Schema of the control: and paths: sections (config/control_config.h).
#include "config/control_config.h"

#include "config/schema.h"

namespace loupe {

void describe(config::Section<ControlConfig>& s) {
  s.field("enabled", &ControlConfig::enabled)
      .help(
          "Serve the control socket that `loupe status`, `loupe scripts status` and `loupe "
          "scripts unquarantine` talk to. A socket of a running instance at the same path is a "
          "start-up error; a stale one is replaced.");
  s.field("offline", &ControlConfig::offline)
      .help(
          "Serve it during offline runs (-r) too. Off by default: batch runs in one directory "
          "would compete for the same socket.");
  s.field("socket", &ControlConfig::socket)
      .help(
          "Path of the Unix socket; a relative path is taken from paths.workdir. Made with mode "
          "0660 and removed at exit.");
  s.field("group", &ControlConfig::group)
      .help(
          "Group that owns the socket (its members may use it); \"\" keeps the process's "
          "group. A name that does not exist is a start-up error.");
  s.check("socket is set when the control socket is enabled", {"enabled", "socket"},
          [](const ControlConfig& c, config::Issues& issues) {
            if (c.enabled && c.socket.empty())
              issues.error("socket", "must not be empty (set control.enabled: false instead)");
          });
}

void describe(config::Section<PathsConfig>& s) {
  s.field("workdir", &PathsConfig::workdir)
      .help(
          "Directory of loupe's runtime state: lua-quarantine (scripts that stalled a worker) "
          "and a relative control.socket; \"\" is the directory loupe starts in.");
}

std::string workdir_path(const PathsConfig& paths, const std::string& path) {
  if (path.empty() || path[0] == '/' || paths.workdir.empty()) return path;
  std::string out = paths.workdir;
  if (out.back() != '/') out += '/';
  return out + path;
}

}  // namespace loupe
