// Protocol detection with nDPI: one detection module per worker, and a
// per-worker pool of nDPI flow states that a flow holds only while its
// detection runs. When detection completes or gives up (ndpiReader's rules:
// a known application, or the packet limit, then a guess), the result and
// the metadata loupe keeps are copied into the flow and the state goes back
// to the pool. Owned by one worker; process() is on the packet path and
// never allocates (nDPI itself may, for the strings it extracts).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/classify/classify_config.h"
#include "engine/classify/l7_meta.h"

struct ndpi_detection_module_struct;
struct ndpi_flow_struct;

namespace loupe {

// What a flow keeps of its detection. Plain data; lives in the flow entry.
struct L7Result {
  uint16_t master = 0;    // nDPI protocol ids (0: unknown)
  uint16_t app = 0;
  uint16_t category = 0;  // ndpi_protocol_category_t
  uint8_t confidence = 0; // ndpi_confidence_t
  uint8_t guessed = 0;    // the ids are nDPI's guess, detection gave up
  uint64_t risk = 0;      // ndpi_risk bitmap
};

class NdpiModule;

class NdpiDetector {
 public:
  static constexpr uint32_t kNoState = UINT32_MAX;

  // Builds the module and the state pool. Throws std::runtime_error with a
  // one-line message when nDPI or a list file cannot be loaded.
  explicit NdpiDetector(const NdpiConfig& config);
  ~NdpiDetector();
  NdpiDetector(const NdpiDetector&) = delete;
  NdpiDetector& operator=(const NdpiDetector&) = delete;

  // A state from the pool, or kNoState when none is free.
  uint32_t acquire();

  // Feeds one packet (from its IP header) to the detection held in
  // `state`. `packets` counts the flow's packets including this one. Returns
  // true when detection has ended: `out` is filled, the metadata nDPI found
  // is appended to `meta`, and the state is back in the pool.
  bool process(uint32_t state, const uint8_t* ip, uint16_t ip_len, uint64_t ts_ms,
               uint8_t l4_proto, uint64_t packets, L7Result& out, MetaBuilder& meta);

  // Ends a detection still running (the flow ended first): gives up with a
  // guess, fills `out` and `meta`, and returns the state to the pool.
  void finish(uint32_t state, L7Result& out, MetaBuilder& meta);

  uint32_t in_use() const { return in_use_; }
  // States still held by flows whose detection has ended (nDPI reading a
  // few more packets for metadata).
  uint32_t in_extra() const { return in_extra_; }
  uint32_t states() const { return static_cast<uint32_t>(states_.size()); }
  size_t state_bytes() const { return state_size_; }

  ndpi_detection_module_struct* module() const;
  const NdpiModule& names() const { return *module_; }

 private:
  struct State {
    ndpi_flow_struct* flow = nullptr;
    bool busy = false;      // taken from the pool
    bool detected = false;  // detection done
    bool extra = false;     // detection done, extra dissection (metadata) running
    L7Result result;
  };
  void complete(State& s, L7Result& out, MetaBuilder& meta, uint32_t index);

  std::unique_ptr<NdpiModule> module_;
  NdpiConfig config_;
  std::vector<State> states_;
  std::vector<uint32_t> free_;
  std::unique_ptr<uint8_t[]> arena_;
  size_t state_size_ = 0;
  uint32_t in_use_ = 0;
  uint32_t in_extra_ = 0;
};

// An nDPI module loaded with the configured list files. The control core
// keeps one to turn protocol ids into names; each worker's detector has its
// own. Ids of custom protocols agree because every module loads the same
// files in the same order.
class NdpiModule {
 public:
  explicit NdpiModule(const NdpiConfig& config);
  ~NdpiModule();
  NdpiModule(const NdpiModule&) = delete;
  NdpiModule& operator=(const NdpiModule&) = delete;

  ndpi_detection_module_struct* get() const { return mod_; }
  // "TLS.Google", "DNS", "Unknown".
  std::string name(uint16_t master, uint16_t app) const;
  std::string category(uint16_t category) const;
  static const char* confidence(uint8_t confidence);
  // The risks' names, and their score.
  static std::vector<std::string> risks(uint64_t risk);
  static uint16_t risk_score(uint64_t risk);

 private:
  ndpi_detection_module_struct* mod_ = nullptr;
};

}  // namespace loupe
