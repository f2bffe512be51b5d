// The control core's side of the classifier engine: builds the rule set at
// start, rebuilds it on reload on a thread of its own (a compile of
// thousands of rules takes seconds; the control loop keeps dispatching
// packets and draining records meanwhile), and hands each worker the new
// set with a scratch of its own. Workers take it at a burst boundary; the
// sets they give back are freed here. Control core only.
#pragma once

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "app/reload_stats.h"
#include "config/config.h"
#include "engine/worker/worker.h"

namespace loupe {

class ClassifierSets {
 public:
  // Builds the configured rule set (from the cache when it holds it).
  // Throws std::runtime_error listing every rule that failed.
  // `script_specs`: the Lua classifiers of the script set at start.
  ClassifierSets(const Config& config, const std::string& config_file,
                 std::vector<ClassifierSpec> script_specs = {});
  ~ClassifierSets();

  // The handle worker `i` starts with (its own scratch); empty without rules.
  ClassifierHandle initial_handle();

  // SIGHUP: starts building the rule set of `config` unless one is being
  // built. Logs the outcome when poll() sees it.
  void reload(const Config& config);
  // The Lua classifiers of a new script generation (contract §5.2: compiled
  // with the configured rules into one set): rebuilds the set when they
  // changed. A build already running is followed by another one.
  void set_script_rules(std::vector<ClassifierSpec> specs);
  // Every control loop turn: collects a finished build, offers the new set
  // to workers that have not taken it yet, frees what workers gave back.
  void poll(std::vector<std::unique_ptr<Worker>>& workers);
  // After the workers stopped: frees whatever is still in transit.
  void shutdown(std::vector<std::unique_ptr<Worker>>& workers);

  uint32_t generation() const { return generation_; }
  // Rules of the running set (0: none), and how the reloads went.
  uint32_t rules() const { return current_ ? current_->size() : 0; }
  const ReloadStats& reloads() const { return reloads_; }

 private:
  static ClassifierBuild build(const Config& config, const std::string& config_file,
                               const std::vector<ClassifierSpec>& script_specs);
  void log_build(const ClassifierBuild& b, const char* what) const;

  std::string config_file_;
  Config config_;                            // the configuration of the last build
  std::vector<ClassifierSpec> script_specs_;  // the running script generation's
  bool rebuild_pending_ = false;              // script rules changed during a build
  std::shared_ptr<const ClassifierDb> current_;
  std::future<ClassifierBuild> building_;
  // Per worker: the handle offered and not yet taken (nullptr: none).
  std::vector<ClassifierHandle*> offers_;
  std::shared_ptr<const ClassifierDb> next_;  // built, being handed out
  uint32_t generation_ = 1;
  ReloadStats reloads_;
};

}  // namespace loupe
