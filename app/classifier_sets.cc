#include "app/classifier_sets.h"

#include <hs/hs.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace loupe {
namespace {

void free_handle(ClassifierHandle* h) {
  if (h == nullptr) return;
  if (h->scratch != nullptr) hs_free_scratch(h->scratch);
  delete h;
}

}  // namespace

ClassifierBuild ClassifierSets::build(const Config& config, const std::string& config_file,
                                      const std::vector<ClassifierSpec>& script_specs) {
  if (!config.classify.classifiers.enabled || (config.classifiers.empty() && script_specs.empty()))
    return {};
  // The rules' file is part of the set's identity: its content is hashed too.
  std::vector<ClassifierSpec> specs = classifier_specs(config.classifiers, config_file);
  specs.insert(specs.end(), script_specs.begin(), script_specs.end());
  return ClassifierDb::build(std::move(specs), {config_file}, config.classify.classifiers.cache_dir);
}

void ClassifierSets::log_build(const ClassifierBuild& b, const char* what) const {
  for (const std::string& w : b.warnings) std::fprintf(stderr, "loupe: classifiers: %s\n", w.c_str());
  if (b.db == nullptr) return;
  std::fprintf(stderr, "loupe: classifiers: %s%u rules (set %.12s), %s in %.1f ms\n", what,
               b.db->size(), b.db->hash_hex().c_str(),
               b.cache_used ? "loaded from the cache" : "compiled",
               static_cast<double>(b.elapsed.count()) / 1000.0);
}

ClassifierSets::ClassifierSets(const Config& config, const std::string& config_file,
                               std::vector<ClassifierSpec> script_specs)
    : config_file_(config_file), config_(config), script_specs_(std::move(script_specs)) {
  ClassifierBuild b = build(config, config_file, script_specs_);
  if (!b.errors.empty()) {
    std::string all = "classifiers rejected:";
    for (const std::string& e : b.errors) all += "\n  " + e;
    throw std::runtime_error(all);
  }
  log_build(b, "");
  current_ = b.db;
  reloads_.loaded();
}

ClassifierSets::~ClassifierSets() {
  if (building_.valid()) building_.wait();
  for (ClassifierHandle* h : offers_) free_handle(h);
}

ClassifierHandle ClassifierSets::initial_handle() {
  ClassifierHandle h;
  h.db = current_;
  if (current_ != nullptr) h.scratch = current_->make_scratch();
  offers_.push_back(nullptr);
  return h;
}

void ClassifierSets::reload(const Config& config) {
  if (building_.valid()) {
    std::fprintf(stderr, "loupe: classifiers: reload: a build is already running; signal ignored\n");
    return;
  }
  config_ = config;
  // The config is copied: the build thread must not read the caller's.
  building_ = std::async(std::launch::async, [c = config, f = config_file_, s = script_specs_] {
    return build(c, f, s);
  });
}

void ClassifierSets::set_script_rules(std::vector<ClassifierSpec> specs) {
  auto same = [](const ClassifierSpec& a, const ClassifierSpec& b) {
    return a.name == b.name && a.l4 == b.l4 && a.offset == b.offset && a.bytes == b.bytes &&
           a.script_classifier == b.script_classifier;
  };
  if (specs.size() == script_specs_.size() &&
      std::equal(specs.begin(), specs.end(), script_specs_.begin(), same))
    return;
  script_specs_ = std::move(specs);
  if (building_.valid()) {
    rebuild_pending_ = true;  // started again once this one is collected
    return;
  }
  building_ = std::async(std::launch::async, [c = config_, f = config_file_, s = script_specs_] {
    return build(c, f, s);
  });
}

void ClassifierSets::poll(std::vector<std::unique_ptr<Worker>>& workers) {
  if (building_.valid() &&
      building_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    ClassifierBuild b = building_.get();
    if (rebuild_pending_) {
      rebuild_pending_ = false;
      building_ = std::async(std::launch::async, [c = config_, f = config_file_, s = script_specs_] {
        return build(c, f, s);
      });
    }
    const std::string old_hash = current_ ? current_->hash_hex() : "";
    const std::string new_hash = b.db ? b.db->hash_hex() : "";
    if (!b.errors.empty()) {
      std::fprintf(stderr, "loupe: classifiers: reload rejected, the running set stays:\n");
      reloads_.failed();
      for (const std::string& e : b.errors) std::fprintf(stderr, "  %s\n", e.c_str());
    } else if (old_hash == new_hash) {
      std::fprintf(stderr, "loupe: classifiers: reload: set unchanged (generation %u)\n",
                   generation_);
      reloads_.same();
    } else {
      generation_++;
      reloads_.succeeded();
      if (b.db != nullptr)
        log_build(b, "reload: ");
      else
        std::fprintf(stderr, "loupe: classifiers: reload: no rules any more\n");
      current_ = b.db;
      // Every worker gets the new set; one whose previous offer is still
      // pending gets it once that one is taken.
      for (size_t i = 0; i < workers.size(); i++) {
        auto* h = new ClassifierHandle{current_, current_ ? current_->make_scratch() : nullptr};
        free_handle(offers_[i]);  // an older set nobody took: replaced
        offers_[i] = h;
      }
    }
  }
  for (size_t i = 0; i < workers.size(); i++) {
    free_handle(workers[i]->classifier_handover().take_retired());
    if (offers_[i] != nullptr && workers[i]->classifier_handover().offer(offers_[i])) offers_[i] = nullptr;
  }
}

void ClassifierSets::shutdown(std::vector<std::unique_ptr<Worker>>& workers) {
  for (size_t i = 0; i < workers.size(); i++) {
    free_handle(workers[i]->classifier_handover().take_retired());
    free_handle(offers_[i]);
    offers_[i] = nullptr;
  }
}

}  // namespace loupe
