// lua/generation.h: building a set, on the control side.
#include "lua/generation.h"

#include <fmt/format.h>
#include <ndpi/ndpi_api.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include "engine/classify/ndpi_detector.h"
#include "lua/loader.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

// The configuration the set depends on, in the set's hash (§3.1 step 1).
std::string fingerprint(const GenerationInputs& in) {
  const LuaConfig& c = in.config;
  std::string s = fmt::format(
      "enabled={} jit={} mem={} budget={},{},{},{},{},{},{},{},{} log={} seed={}", c.enabled,
      static_cast<int>(c.jit), c.memory_limit, c.budget.worker_call_us, c.budget.load_ms,
      c.budget.hard_worker_ms, c.budget.strikes, c.budget.window_seconds, c.budget.suspend_seconds,
      c.budget.max_suspend_seconds, static_cast<int>(c.budget.enforce),
      static_cast<int>(c.budget.stall_action), c.log.lines_per_minute, in.community_id_seed);
  for (const LuaScriptConfig& sc : c.script_config) {
    s += fmt::format(";{}:{}:{}", sc.script, static_cast<int>(sc.enabled),
                     sc.periodic_update_seconds);
    for (const std::string& kv : sc.config) s += "," + kv;
  }
  s += ";extra:" + in.hash_extra;
  for (const Cidr& n : in.local_networks) {
    s += ";net:" + std::to_string(n.address.family) + ":" + std::to_string(n.prefix) + ":";
    s.append(reinterpret_cast<const char*>(n.address.bytes.data()), n.address.bytes.size());
  }
  return s;
}

// Lower-case nDPI names to ids, for l7_proto gates.
std::unordered_map<std::string, uint16_t> ndpi_names(const NdpiModule* ndpi) {
  std::unordered_map<std::string, uint16_t> ids;
  if (ndpi == nullptr) return ids;
  ndpi_detection_module_struct* mod = ndpi->get();
  const unsigned n = ndpi_get_num_supported_protocols(mod);
  for (unsigned id = 0; id < n && id < 65535; ++id) {
    const char* name = ndpi_get_proto_name(mod, static_cast<uint16_t>(id));
    if (name == nullptr) continue;
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ids.emplace(lower, static_cast<uint16_t>(id));
  }
  return ids;
}

void compile_gates(Generation& g) {
  GateTables& t = g.gates;
  size_t l7_size = 1;
  for (const auto& [name, id] : g.l7_ids) l7_size = std::max<size_t>(l7_size, id + 1u);
  t.l7.assign(l7_size, 0);
  g.slot_script.fill(-1);
  g.slots = 0;
  for (size_t i = 0; i < g.scripts.size(); ++i) {
    const FlowScriptSpec& s = g.scripts[i];
    if (s.slot < 0) continue;
    const uint64_t bit = uint64_t{1} << s.slot;
    g.slot_script[s.slot] = static_cast<int16_t>(i);
    g.slots = std::max(g.slots, s.slot + 1);
    t.all |= bit;
    for (int k = 0; k < kHookCount; ++k) {
      if (s.hooks & (1u << k)) t.hooks[k] |= bit;
    }
    if (s.l4.empty()) {
      for (uint64_t& m : t.l4) m |= bit;
    } else {
      for (uint8_t p : s.l4) t.l4[p] |= bit;
    }
    if (s.l7.empty()) {
      t.no_l7 |= bit;
      for (uint64_t& m : t.l7) m |= bit;
    } else {
      for (uint16_t id : s.l7) t.l7[id] |= bit;
    }
    if (s.local_only) t.local_only |= bit;
    if (s.handshake) t.handshake |= bit;
    t.periodic[s.slot] = s.periodic_seconds;
  }
}

// The engine's view of the Arkime registrations: only active files count.
void arkime_registry(Generation& g) {
  for (const ArkimeRegSpec& r : g.arkime_regs) {
    if (!r.active) continue;
    switch (r.kind) {
      case ArkimeRegKind::kTcpClassifier:
      case ArkimeRegKind::kUdpClassifier:
        g.arkime_classifiers.push_back(
            {r.name, static_cast<uint8_t>(r.kind == ArkimeRegKind::kTcpClassifier ? 6 : 17),
             r.offset, r.match, r.script});
        break;
      case ArkimeRegKind::kBodyFeed:
        (r.arg == 0 ? g.body_http : g.body_smtp) = true;
        break;
      case ArkimeRegKind::kHttpOn:
        g.http_events |= static_cast<uint8_t>(1u << (r.arg - 1));
        break;
      case ArkimeRegKind::kPreSave:
        g.pre_save = true;
        break;
      case ArkimeRegKind::kSave:
        g.save = true;
        break;
    }
  }
}

}  // namespace

int ArkimeFields::find(std::string_view name) const {
  for (int i = 0; i < kMax; ++i) {
    const Name* n = slots_[i].load(std::memory_order_acquire);
    if (n == nullptr) return -1;
    if (n->view() == name) return i;
  }
  return -1;
}

int ArkimeFields::intern(std::string_view name, Name** spare) {
  if (name.size() > kNameMax) return -1;
  Name* mine = *spare;
  for (int i = 0; i < kMax; ++i) {
    const Name* n = slots_[i].load(std::memory_order_acquire);
    if (n == nullptr) {
      if (mine == nullptr) {
        const uint32_t at = pool_next_.fetch_add(1, std::memory_order_relaxed);
        if (at >= pool_.size()) return -1;
        mine = &pool_[at];
      }
      mine->len = static_cast<uint8_t>(name.size());
      std::memcpy(mine->text, name.data(), name.size());
      if (slots_[i].compare_exchange_strong(n, mine, std::memory_order_release,
                                            std::memory_order_acquire)) {
        *spare = nullptr;
        return i;
      }
      // Another VM took the slot first: `n` is its name, complete.
    }
    if (n->view() == name) {
      *spare = mine;
      return i;
    }
  }
  *spare = mine;
  return -1;
}

std::string_view ArkimeFields::name(int slot) const {
  const Name* n = slots_[slot].load(std::memory_order_acquire);
  return n != nullptr ? n->view() : std::string_view();
}

ArkimeFields::Type ArkimeFields::settle_type(int slot, Type want) {
  uint8_t cur = kUntyped;
  if (types_[slot].compare_exchange_strong(cur, want, std::memory_order_acq_rel)) return want;
  return static_cast<Type>(cur);
}

int ArkimeFields::size() const {
  int n = 0;
  while (n < kMax && slots_[n].load(std::memory_order_acquire) != nullptr) ++n;
  return n;
}

GenerationResult build_generation(const GenerationInputs& in) {
  GenerationResult r;
  const std::string dir = in.scripts_dir.empty() ? lua_scripts_dir(in.config) : in.scripts_dir;
  ScriptSet set = read_script_set(dir, fingerprint(in), r.errors, in.quarantine_file);
  if (!r.errors.empty()) return r;
  return build_generation(in, std::move(set));
}

std::string script_set_hash(const GenerationInputs& in, std::vector<std::string>& errors) {
  const std::string dir = in.scripts_dir.empty() ? lua_scripts_dir(in.config) : in.scripts_dir;
  const size_t before = errors.size();
  ScriptSet set = read_script_set(dir, fingerprint(in), errors, in.quarantine_file);
  return errors.size() == before ? set.hash : std::string();
}

std::string generation_summary(const GenerationResult& r) {
  if (r.generation == nullptr) {
    return fmt::format("lua: reload rejected ({} errors)", r.errors.size());
  }
  const Generation& g = *r.generation;
  size_t active = 0;
  for (const FlowScriptSpec& s : g.scripts) active += s.slot >= 0;
  return fmt::format("lua: generation {} active: flow {} files ({} active); {} warnings", g.number,
                     g.scripts.size(), active, r.warnings.size());
}

GenerationResult build_generation(const GenerationInputs& in, ScriptSet set) {
  GenerationResult r;
  auto g = std::make_shared<Generation>();
  g->number = in.number;
  g->hash = set.hash;
  g->set = std::move(set);
  g->config = in.config;
  g->local = LocalNetworks(in.local_networks);
  g->offline = in.offline;
  g->enforce = lua_budget_enforced(in.config, in.offline);
  g->community_id_seed = in.community_id_seed;
  g->ndpi = in.ndpi;
  g->log = in.log;
  if (!in.config.enabled) {
    g->set.flow.clear();  // lua.enabled: false loads nothing
  }
  if (in.config.jit == LuaJit::kOn && !kLuajitHasCheckHook) {
    r.errors.push_back(
        "lua.jit: 'on' needs a LuaJIT built with LUAJIT_ENABLE_CHECKHOOK; this one cannot "
        "interrupt compiled code");
    return r;
  }
  g->l7_ids = ndpi_names(in.ndpi);
  LoadReport report;
  try {
    ScriptHost check("check", *g, in.log);
    load_flow_scripts(check, report);
    g->arkime_regs = arkime_registrations(check);
    if (report.errors.empty()) run_teardowns(check);
  } catch (const std::runtime_error& e) {
    report.errors.push_back(e.what());
  }
  assign_slots(report.specs, report.errors);
  r.errors = std::move(report.errors);
  r.warnings = std::move(report.warnings);
  r.warnings.insert(r.warnings.begin(), g->set.warnings.begin(), g->set.warnings.end());
  r.info = std::move(report.info);
  if (!r.errors.empty()) return r;
  g->scripts = std::move(report.specs);
  compile_gates(*g);
  arkime_registry(*g);
  r.generation = std::move(g);
  return r;
}

}  // namespace loupe
