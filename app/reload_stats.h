// How the reloads of one kind of set (classifiers, Lua scripts) went, for
// the metrics. Written and read on the control thread only.
#pragma once

#include <chrono>
#include <cstdint>

namespace loupe {

struct ReloadStats {
  uint64_t success = 0;    // a new set is in effect
  uint64_t rejected = 0;   // the build failed: the running set stays
  uint64_t unchanged = 0;  // the new build is the running set
  bool last_successful = true;
  double last_success_unix = 0;  // when the running set was loaded (start counts); 0: never

  void loaded() {
    last_successful = true;
    last_success_unix =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  void succeeded() {
    ++success;
    loaded();
  }
  void failed() {
    ++rejected;
    last_successful = false;
  }
  void same() {
    ++unchanged;
    last_successful = true;
  }
};

}  // namespace loupe
