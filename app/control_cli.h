// The commands that talk to a running instance through its control socket
// (contract §7.5): `loupe status`, `loupe scripts status` and `loupe scripts
// unquarantine KEY`. Each prints tables, or the instance's raw JSON answer
// with `json`, and returns the process's exit status: 0, or 1 with one line
// on stderr saying why (no instance answers, an error answer).
#pragma once

#include <string>

#include "config/config.h"

namespace loupe {

int status_command(const Config& config, bool json);
int scripts_status_command(const Config& config, bool json);
// Through the socket when an instance answers; otherwise (nobody listens
// on control.socket) by removing the key from lua-quarantine under
// paths.workdir, which takes effect at the next start.
int unquarantine_command(const Config& config, const std::string& key, bool json);

}  // namespace loupe
