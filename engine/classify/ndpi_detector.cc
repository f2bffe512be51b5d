#include "engine/classify/ndpi_detector.h"

extern "C" {
#include <ndpi_api.h>
}

#include <cstring>

#include "engine/classify/ndpi_metadata.h"
#include <stdexcept>

namespace loupe {
namespace {

void load(ndpi_detection_module_struct* mod, const std::string& path, const char* what,
          int (*fn)(ndpi_detection_module_struct*, const char*)) {
  if (path.empty()) return;
  if (fn(mod, path.c_str()) < 0)
    throw std::runtime_error("classify.ndpi: cannot load the " + std::string(what) + " file " +
                             path);
}

int load_protos(ndpi_detection_module_struct* m, const char* p) {
  return ndpi_load_protocols_file(m, p);
}
int load_categories(ndpi_detection_module_struct* m, const char* p) {
  return ndpi_load_categories_file(m, p);
}

}  // namespace

NdpiModule::NdpiModule(const NdpiConfig& config) {
  mod_ = ndpi_init_detection_module(ndpi_no_prefs);
  if (mod_ == nullptr) throw std::runtime_error("classify.ndpi: cannot initialise nDPI");
  NDPI_PROTOCOL_BITMASK all;
  NDPI_BITMASK_SET_ALL(all);
  for (const std::string& name : config.disabled_protocols) {
    const int id = ndpi_get_protocol_id(mod_, const_cast<char*>(name.c_str()));
    if (id < 0) {
      ndpi_exit_detection_module(mod_);
      throw std::runtime_error("classify.ndpi.disabled_protocols: unknown nDPI protocol '" +
                               name + "'");
    }
    NDPI_DEL_PROTOCOL_FROM_BITMASK(all, static_cast<uint32_t>(id));
  }
  ndpi_set_protocol_detection_bitmask2(mod_, &all);
  try {
    load(mod_, config.protos_file, "protocols", load_protos);
    load(mod_, config.categories_file, "categories", load_categories);
    load(mod_, config.risky_domains_file, "risky domains", ndpi_load_risk_domain_file);
    load(mod_, config.ja3_file, "JA3", ndpi_load_malicious_ja3_file);
    load(mod_, config.sha1_file, "SHA-1", ndpi_load_malicious_sha1_file);
  } catch (...) {
    ndpi_exit_detection_module(mod_);
    throw;
  }
  ndpi_finalize_initialization(mod_);
}

NdpiModule::~NdpiModule() { ndpi_exit_detection_module(mod_); }

std::string NdpiModule::name(uint16_t master, uint16_t app) const {
  char buf[64];
  ndpi_protocol p{master, app, NDPI_PROTOCOL_CATEGORY_UNSPECIFIED};
  return ndpi_protocol2name(mod_, p, buf, sizeof(buf));
}

std::string NdpiModule::category(uint16_t category) const {
  const char* c =
      ndpi_category_get_name(mod_, static_cast<ndpi_protocol_category_t>(category));
  return c ? c : "Unspecified";
}

const char* NdpiModule::confidence(uint8_t confidence) {
  const char* c = ndpi_confidence_get_name(static_cast<ndpi_confidence_t>(confidence));
  return c ? c : "Unknown";
}

std::vector<std::string> NdpiModule::risks(uint64_t risk) {
  std::vector<std::string> out;
  for (int i = 0; i < NDPI_MAX_RISK; i++)
    if (risk & (1ULL << i)) out.emplace_back(ndpi_risk2str(static_cast<ndpi_risk_enum>(i)));
  return out;
}

uint16_t NdpiModule::risk_score(uint64_t risk) {
  u_int16_t client = 0, server = 0;
  return ndpi_risk2score(risk, &client, &server);
}

NdpiDetector::NdpiDetector(const NdpiConfig& config)
    : module_(std::make_unique<NdpiModule>(config)), config_(config) {
  // One arena for every state, allocated here: the packet path only takes
  // states from the free list and gives them back.
  state_size_ = (ndpi_detection_get_sizeof_ndpi_flow_struct() + 63) & ~size_t{63};
  arena_.reset(new uint8_t[state_size_ * config.states + 64]());
  uint8_t* base = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(arena_.get()) + 63) & ~uintptr_t{63});
  states_.resize(config.states);
  free_.reserve(config.states);
  for (uint32_t i = 0; i < config.states; i++) {
    states_[i].flow = reinterpret_cast<ndpi_flow_struct*>(base + i * state_size_);
    free_.push_back(config.states - 1 - i);
  }
}

NdpiDetector::~NdpiDetector() {
  for (State& s : states_)
    if (s.busy) ndpi_free_flow_data(s.flow);
}

ndpi_detection_module_struct* NdpiDetector::module() const { return module_->get(); }

uint32_t NdpiDetector::acquire() {
  if (free_.empty()) return kNoState;
  const uint32_t i = free_.back();
  free_.pop_back();
  State& s = states_[i];
  std::memset(static_cast<void*>(s.flow), 0, state_size_);
  s.busy = true;
  s.detected = false;
  s.result = L7Result{};
  in_use_++;
  return i;
}

void NdpiDetector::complete(State& s, L7Result& out, MetaBuilder& meta, uint32_t index) {
  if (s.detected && in_extra_ > 0 && s.extra) in_extra_--;
  s.extra = false;
  out = s.result;
  out.risk = s.flow->risk;
  out.confidence = static_cast<uint8_t>(s.flow->confidence);
  extract_ndpi_metadata(s.flow, out.guessed, meta);
  // nDPI's own allocations (URLs, certificate names...) go with the state.
  ndpi_free_flow_data(s.flow);
  std::memset(static_cast<void*>(s.flow), 0, state_size_);
  s.busy = false;
  free_.push_back(index);
  in_use_--;
}

bool NdpiDetector::process(uint32_t state, const uint8_t* ip, uint16_t ip_len, uint64_t ts_ms,
                           uint8_t l4_proto, uint64_t packets, L7Result& out, MetaBuilder& meta) {
  State& s = states_[state];
  ndpi_detection_module_struct* mod = module_->get();
  const uint64_t limit = l4_proto == 6 ? config_.max_packets_tcp : config_.max_packets_udp;
  if (s.detected) {
    // Detected already: nDPI reads a few more packets for metadata
    // (certificates, server banners), as ndpiReader lets it.
    ndpi_flow_struct* f = s.flow;
    // nDPI drops extra_packets_func once it has seen its quota of extra
    // packets but leaves check_extra_packets set: that is the end too, or
    // the flow would hold its state until the packet limit.
    if (f->max_extra_packets_to_check == 0) f->max_extra_packets_to_check = 7;
    if (f->extra_packets_func != nullptr &&
        f->num_extra_packets_checked < f->max_extra_packets_to_check && packets <= limit * 4) {
      ndpi_process_extra_packet(mod, f, ip, ip_len, ts_ms);
      // DNS waits for more after the response it reads (a flow may carry
      // several): the first response is what loupe keeps, so stop there.
      const bool dns_answered = (s.result.master == NDPI_PROTOCOL_DNS ||
                                 s.result.app == NDPI_PROTOCOL_DNS) &&
                                !f->protos.dns.is_query;
      if (f->check_extra_packets && f->extra_packets_func != nullptr && !dns_answered)
        return false;
    }
    complete(s, out, meta, state);
    return true;
  }
  ndpi_protocol p = ndpi_detection_process_packet(mod, s.flow, ip, ip_len, ts_ms);
  if (p.app_protocol == NDPI_PROTOCOL_UNKNOWN && packets < limit) return false;
  if (p.app_protocol == NDPI_PROTOCOL_UNKNOWN) {
    uint8_t guessed = 0;
    p = ndpi_detection_giveup(mod, s.flow, 1, &guessed);
    s.result.guessed = guessed;
  }
  s.result.master = p.master_protocol;
  s.result.app = p.app_protocol;
  s.result.category = static_cast<uint16_t>(p.category);
  s.detected = true;
  if (ndpi_extra_dissection_possible(mod, s.flow)) {
    s.extra = true;
    in_extra_++;
    return false;
  }
  complete(s, out, meta, state);
  return true;
}

void NdpiDetector::finish(uint32_t state, L7Result& out, MetaBuilder& meta) {
  State& s = states_[state];
  if (!s.detected) {
    uint8_t guessed = 0;
    const ndpi_protocol p = ndpi_detection_giveup(module_->get(), s.flow, 1, &guessed);
    s.result.master = p.master_protocol;
    s.result.app = p.app_protocol;
    s.result.category = static_cast<uint16_t>(p.category);
    s.result.guessed = guessed;
  }
  complete(s, out, meta, state);
}

}  // namespace loupe
