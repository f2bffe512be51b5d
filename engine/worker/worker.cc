#include "engine/worker/worker.h"

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <hs/hs.h>
#include <sched.h>

#include "engine/classify/dns_answers.h"
#include "lua/worker_scripts.h"

#include <chrono>
#include <cstring>
#include <string>

namespace loupe {
namespace {
constexpr uint32_t kMaxBurst = FlowTable::kMaxBurst;
constexpr uint64_t kNsPerSec = 1'000'000'000ULL;
// Matches kept per direction of a flow (the first ones in rule order).
constexpr uint32_t kMaxClassifierMatches = 64;

std::string table_name(uint32_t id) { return "flows_w" + std::to_string(id); }
// Flows one worker holds at most while their final saves wait (the flow
// table may allow fewer: FlowTable::can_hold()).
constexpr uint32_t kMaxHeldSaves = 4096;
}  // namespace

Worker::Worker(const Config& config, WorkerSetup setup)
    : config_(config),
      setup_(std::move(setup)),
      fragments_(config.flow.fragments, uint64_t{config.flow.fragment_timeout} * kNsPerSec),
      table_(config.flow, table_name(setup_.id).c_str(), setup_.id, setup_.socket, *this),
      held_saves_(kMaxHeldSaves),
      hold_ns_(uint64_t{config.lua.http.max_outstanding_ms} * 1'000'000),
      meta_pool_(uint64_t{config.classify.metadata_mb} << 20),
      block_on_full_(setup_.offline),
      tsc0_(rte_rdtsc()),
      epoch0_ns_(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count())),
      ns_per_tsc_(1e9 / static_cast<double>(rte_get_tsc_hz())) {
  if (config.classify.ndpi.enabled) {
    ndpi_ = std::make_unique<NdpiDetector>(config.classify.ndpi);
  }
  if (config.hosts.enabled) {
    local_nets_ = LocalNetworks(config.local_networks);
    hosts_ = std::make_unique<HostAccounting>(config.hosts, &table_.flow(0), table_.slots(),
                                              local_nets_);
  }
  if (setup_.sessions)
    sessions_ = std::make_unique<WorkerSessions>(*this, config.stream, table_.slots());
  cls_ = std::move(setup_.classifiers);
  inspect_ = ndpi_ != nullptr || cls_.db != nullptr;
  alert_sink_.ring = setup_.alerts;
  alert_sink_.wait = setup_.offline;
  log_sink_.ring = setup_.log;
}

void Worker::adopt_scripts(std::unique_ptr<WorkerScripts> scripts) {
  scripts_ = std::move(scripts);
  if (scripts_) scripts_->set_sinks(&alert_sink_, &log_sink_);
  script_periodic_ = has_periodic(scripts_.get());
}

bool Worker::has_periodic(const WorkerScripts* s) {
  return s != nullptr &&
         s->generation().gates.hooks[static_cast<int>(Hook::kPeriodicUpdate)] != 0;
}

bool Worker::RingAlertSink::push(const AlertRecord& r) {
  if (ring == nullptr) return false;
  // DPDK takes a non-const pointer but only reads the element.
  void* elem = const_cast<AlertRecord*>(&r);
  while (rte_ring_sp_enqueue_elem(ring, elem, sizeof(r)) != 0) {
    if (!wait) {
      dropped.add();
      return false;
    }
    rte_pause();  // offline: the control core drains the ring
  }
  return true;
}

void Worker::RingLogSink::write(std::string_view line) {
  if (ring == nullptr) return;
  LogLine l;
  l.len = static_cast<uint16_t>(std::min(line.size(), sizeof(l.text)));
  std::memcpy(l.text, line.data(), l.len);
  if (rte_ring_sp_enqueue_elem(ring, &l, sizeof(l)) != 0) dropped.add();
}

void Worker::arm_script_timer(uint32_t idx, uint64_t now_ns) {
  // The flow was filed on the wheel before its scripts knew it; a
  // periodicUpdate due before its timeout needs it filed again.
  if (script_periodic_ && scripts_->periodic_due_ns(idx, table_.flow(idx).first_ns) != UINT64_MAX)
    table_.reschedule(idx, now_ns);
}

uint64_t Worker::next_timer_ns(const Flow& f) const {
  if (!script_periodic_) return UINT64_MAX;
  return scripts_->periodic_due_ns(table_.index_of(f), f.first_ns);
}

void Worker::on_flow_timer(Flow& f, uint64_t now_ns) {
  const uint32_t idx = table_.index_of(f);
  if (scripts_ && scripts_->wants_packet(idx)) scripts_->on_packet(idx, view(f), now_ns);
}

FlowView Worker::view(const Flow& f) const {
  FlowView v;
  v.flow = &f;
  v.meta = meta_pool_.view(f.l7_meta);
  v.ndpi = ndpi_ ? &ndpi_->names() : nullptr;
  v.worker = static_cast<uint16_t>(setup_.id);
  return v;
}

void Worker::swap_scripts() {
  std::unique_ptr<WorkerScripts>* next = scripts_handover_.take();
  // Replies to the old scripts' requests are dropped with their VM: their
  // held saves wait for nothing now.
  release_all_held();
  // Flows keep their per-flow script state stamped with the old generation;
  // the new one drops it at each flow's next event (contract 3.1).
  std::swap(scripts_, *next);
  script_periodic_ = has_periodic(scripts_.get());
  if (scripts_) {
    scripts_->set_sinks(&alert_sink_, &log_sink_);
    scripts_->bind_thread();
  }
  scripts_handover_.retire(next);
}

Worker::~Worker() {
  // What is still in the handovers when the worker is destroyed is freed here.
  delete scripts_handover_.leftover_pending();
  delete scripts_handover_.leftover_retired();
  for (ClassifierHandle* h :
       {&cls_, cls_handover_.leftover_pending(), cls_handover_.leftover_retired()}) {
    if (h == nullptr) continue;
    if (h->scratch != nullptr) hs_free_scratch(h->scratch);
    h->scratch = nullptr;
    if (h != &cls_) delete h;
  }
}

void Worker::swap_classifiers() {
  ClassifierHandle* next = cls_handover_.take();
  std::swap(cls_, *next);
  inspect_ = ndpi_ != nullptr || cls_.db != nullptr;
  cls_handover_.retire(next);
}

void Worker::run_classifiers(uint32_t idx, Flow& f, const Decoded& d, const uint8_t* payload,
                             uint8_t side, uint64_t ts_ns) {
  // Once per direction, on its first payload.
  const uint8_t bit = static_cast<uint8_t>(kL7Scanned << side);
  if (f.l7_flags & bit) return;
  f.l7_flags |= bit;
  const uint8_t dir = side == f.client ? 1 : 2;
  ClassifierMatch found[kMaxClassifierMatches];
  const uint32_t n = scan(*cls_.db, cls_.scratch, d.l4_proto, dir, payload, d.payload_len, found,
                          kMaxClassifierMatches);
  if (n == 0) return;
  if (n == kMaxClassifierMatches) counters_.classifier_match_limit.add();
  char entry[1 + kClassifierMaxName];
  for (uint32_t i = 0; i < n; i++) {
    const std::string& name = cls_.db->rule(found[i].rule).name;
    const size_t len = std::min(name.size(), kClassifierMaxName);
    entry[0] = static_cast<char>(dir);
    std::memcpy(entry + 1, name.data(), len);
    meta_.add(MetaField::classifier, entry, static_cast<uint32_t>(1 + len));
  }
  counters_.classifier_matches.add(n);
  store_meta(f);
  if (scripts_ == nullptr) return;
  // Lua classifiers: their callbacks get the whole first payload. A set
  // built for another script generation than the running one (the two
  // swap independently) is recognised by the rule's content and skipped.
  const Generation& gen = scripts_->generation();
  for (uint32_t i = 0; i < n; i++) {
    const ClassifierSpec& rule = cls_.db->rule(found[i].rule);
    if (rule.script_classifier < 0) continue;
    const size_t c = static_cast<size_t>(rule.script_classifier);
    if (c >= gen.arkime_classifiers.size() || gen.arkime_classifiers[c].name != rule.name ||
        gen.arkime_classifiers[c].offset != rule.offset ||
        gen.arkime_classifiers[c].match != rule.bytes) {
      counters_.classifier_stale.add();
      continue;
    }
    scripts_->on_arkime_classify(idx, view(f), static_cast<uint32_t>(c), payload, d.payload_len,
                                 dir == 1 ? 0 : 1, ts_ns);
  }
}

void Worker::export_script_values(Flow& f, uint32_t idx) {
  // Tags and fields scripts added go into the flow's record with its
  // metadata (a full blob drops and counts them like any entry).
  std::string_view tags[64];
  const size_t n_tags = scripts_->tags(idx, tags, 64);
  for (size_t i = 0; i < n_tags; i++) meta_.add(MetaField::script_tag, tags[i]);
  WorkerScripts::Field fields[64];
  const size_t n_fields = scripts_->fields(idx, fields, 64);
  char entry[2 + 255 + kMetaMaxValue];
  for (size_t i = 0; i < n_fields; i++) {
    const WorkerScripts::Field& fl = fields[i];
    const size_t name = std::min<size_t>(fl.name.size(), 255);
    entry[0] = fl.is_string ? 's' : 'i';
    entry[1] = static_cast<char>(name);
    std::memcpy(entry + 2, fl.name.data(), name);
    size_t len = 2 + name;
    if (fl.is_string) {
      const size_t v = std::min<size_t>(fl.text.size(), kMetaMaxValue);
      std::memcpy(entry + len, fl.text.data(), v);
      len += v;
    } else {
      std::memcpy(entry + len, &fl.number, 8);
      len += 8;
    }
    meta_.add(MetaField::script_field, entry, static_cast<uint32_t>(len));
  }
  // "protocols" (contract §5.5): the engine's names, then those scripts
  // added, exported when a script added one.
  std::string_view added[32];
  const size_t n_protocols = scripts_->protocols(idx, added, 32);
  if (n_protocols != 0) {
    ProtocolName engine[3];
    const size_t n_engine = engine_protocols(view(f), engine);
    for (size_t i = 0; i < n_engine; i++) meta_.add(MetaField::script_protocol, engine[i].view());
    for (size_t i = 0; i < n_protocols; i++) meta_.add(MetaField::script_protocol, added[i]);
  }
  if (n_tags != 0 || n_fields != 0 || n_protocols != 0) store_meta(f);
}

void Worker::store_meta(Flow& f) {
  counters_.l7_meta_dropped.add(meta_.dropped());
  if (meta_.size() != 0 && !meta_pool_.append(f.l7_meta, meta_.view()))
    counters_.l7_meta_dropped.add();
  meta_.clear();
}

void Worker::run_ndpi(uint32_t idx, Flow& f, const uint8_t* ip, uint16_t ip_len, uint64_t ts_ns,
                      uint8_t proto) {
  if (f.l7_status == kL7Pending) {
    const uint32_t st = ndpi_->acquire();
    if (st == NdpiDetector::kNoState) {
      f.l7_status = kL7Done;
      counters_.l7_no_state.add();
      return;
    }
    f.l7_state = st;
    f.l7_status = kL7Running;
    counters_.l7_started.add();
  }
  if (ndpi_->process(f.l7_state, ip, ip_len, ts_ns / 1'000'000, proto, f.pkts[0] + f.pkts[1],
                     f.l7, meta_)) {
    f.l7_status = kL7Done;
    f.l7_state = NdpiDetector::kNoState;
    counters_.l7_done.add();
    store_meta(f);
    if (scripts_) {
      scripts_->on_protocol_detected(idx, view(f), ts_ns);
      arm_script_timer(idx, ts_ns);
    }
  }
}

void Worker::inspect(uint32_t idx, const Decoded& d, const uint8_t* ip, uint16_t ip_len,
                     uint64_t ts_ns, uint8_t side) {
  Flow& f = table_.flow(idx);
  if (ndpi_ != nullptr && f.l7_status != kL7Done) run_ndpi(idx, f, ip, ip_len, ts_ns, d.l4_proto);
  if (cls_.db != nullptr && d.payload_len != 0 &&
      (d.l4_proto == IPPROTO_TCP || d.l4_proto == IPPROTO_UDP))
    run_classifiers(idx, f, d, ip - d.l3_offset + d.payload_offset, side, ts_ns);
  // nDPI 4.2 keeps one answer address: loupe reads the first response's
  // answers itself, whether or not nDPI still holds the flow.
  if (unlikely(d.sport == 53) && d.payload_len != 0 && !(f.l7_flags & kL7DnsAnswered) &&
      (d.l4_proto == IPPROTO_UDP || d.l4_proto == IPPROTO_TCP)) {
    const uint8_t* payload = ip - d.l3_offset + d.payload_offset;
    const DnsResponse r =
        parse_dns_answers(payload, d.payload_len, d.l4_proto == IPPROTO_TCP, meta_);
    if (r.is_response) {
      f.l7_flags |= kL7DnsAnswered;
      counters_.l7_dns_answers.add();
      store_meta(f);
    } else {
      meta_.clear();
    }
  }
}

uint64_t Worker::tsc_now_ns() const {
  return epoch0_ns_ + static_cast<uint64_t>(static_cast<double>(rte_rdtsc() - tsc0_) * ns_per_tsc_);
}

bool Worker::on_flow_record(Flow& f, EndReason reason) {
  const uint32_t idx = table_.index_of(f);
  if (reason == EndReason::active_timeout) {
    // An interim record: pre-save and save(final=false), then the record.
    if (scripts_) {
      scripts_->on_pre_save(idx, view(f), false, f.last_ns);
      scripts_->on_save(idx, view(f), false, f.last_ns);
    }
    write_record(f, reason);
    return false;
  }
  if (ndpi_ != nullptr && f.l7_status == kL7Running) {
    // The flow ends before its detection did: nDPI gives up with a guess,
    // as ndpiReader does for the flows still open at the end. The verdict
    // goes into the flow too: flowEnd's scripts read it there.
    ndpi_->finish(f.l7_state, f.l7, meta_);
    f.l7_state = NdpiDetector::kNoState;
    f.l7_status = kL7Done;
    counters_.l7_done.add();
    store_meta(f);
  }
  if (hosts_) hosts_->on_flow_end(idx, f);
  if (sessions_) sessions_->on_flow_end(idx, f);
  if (scripts_) {
    // protocolDetected if still owed, flowEnd, pre-save(final) (contract
    // 3.2); then the save waits while sessions have operations outstanding.
    scripts_->on_flow_end(idx, view(f), f.last_ns);
    scripts_->on_pre_save(idx, view(f), true, f.last_ns);
    if (scripts_->outstanding(idx) != 0) {
      if (table_.can_hold() &&
          held_saves_.push({tsc_now_ns() + hold_ns_, idx, reason})) {
        scripts_->hold(idx);
        counters_.saves_held.add();
        return true;
      }
      counters_.saves_hold_full.add();
    }
  }
  finish_flow(f, reason);
  return false;
}

void Worker::finish_flow(Flow& f, EndReason reason) {
  if (scripts_) {
    const uint32_t idx = table_.index_of(f);
    scripts_->on_save(idx, view(f), true, f.last_ns);
    export_script_values(f, idx);
    scripts_->forget_flow(idx);
  }
  write_record(f, reason);
}

void Worker::check_held_saves() {
  const bool released = scripts_ != nullptr && scripts_->take_released();
  if (released) {
    held_saves_.remove_if([&](const HeldSaves::Entry& e) {
      if (scripts_->outstanding(e.idx) != 0) return false;
      release_held(e);
      return true;
    });
  }
  if (held_saves_.empty()) return;
  const uint64_t now = tsc_now_ns();
  while (!held_saves_.empty() && held_saves_.front().deadline_ns <= now) {
    const HeldSaves::Entry e = held_saves_.front();
    held_saves_.pop();
    counters_.saves_hold_expired.add();
    release_held(e);
  }
}

void Worker::release_held(const HeldSaves::Entry& e) {
  finish_flow(table_.flow(e.idx), e.reason);
  table_.release(e.idx);
}

void Worker::release_all_held() {
  while (!held_saves_.empty()) {
    const HeldSaves::Entry e = held_saves_.front();
    held_saves_.pop();
    release_held(e);
  }
}

void Worker::write_record(Flow& f, EndReason reason) {
  FlowRecord r;
  r.key = f.key;
  r.flow_id = f.flow_id;
  r.first_ns = f.first_ns;
  r.last_ns = f.last_ns;
  for (int s = 0; s < 2; s++) {
    r.pkts[s] = f.pkts[s] - f.reported_pkts[s];
    r.bytes[s] = f.bytes[s] - f.reported_bytes[s];
  }
  r.client = f.client;
  r.state = f.state;
  r.reason = reason;
  r.icmp_type = f.icmp_type;
  r.icmp_code = f.icmp_code;
  r.worker = static_cast<uint8_t>(setup_.id);
  r.meta_cells = 0;
  r.l7_status = f.l7_status;
  r.l7 = f.l7;
  const MetaView meta = meta_pool_.view(f.l7_meta);
  if (!meta.empty()) {
    uint8_t* cell = record_cells_ + sizeof(FlowRecord);
    const uint16_t len = static_cast<uint16_t>(meta.size());
    std::memcpy(cell, &len, 2);
    std::memcpy(cell + 2, meta.data(), len);
    r.meta_cells = static_cast<uint8_t>((2 + len + kRecordCell - 1) / kRecordCell);
  }
  // The record is final for this flow unless it is an interim one.
  if (reason != EndReason::active_timeout) meta_pool_.release(f.l7_meta);
  if (setup_.output == nullptr) return;
  std::memcpy(record_cells_, &r, sizeof(r));
  const uint32_t cells = kRecordCells + r.meta_cells;
  while (rte_ring_sp_enqueue_bulk_elem(setup_.output, record_cells_, kRecordCell, cells,
                                       nullptr) == 0) {
    if (!block_on_full_) {
      counters_.record_drops.add();
      return;
    }
    // Offline (or flushing at shutdown) nothing is lost by waiting: the
    // control core drains the ring.
    rte_pause();
  }
  counters_.records.add();
}

template <bool kOffline>
void Worker::process_burst(rte_mbuf* const* pkts, uint32_t n, uint64_t live_now_ns) {
  Decoded dec[kMaxBurst];
  FlowKey keys[kMaxBurst];
  const FlowKey* key_ptrs[kMaxBurst];
  uint32_t sigs[kMaxBurst];
  uint32_t idx[kMaxBurst];
  uint8_t side[kMaxBurst];
  uint64_t ts[kMaxBurst];
  uint32_t wire[kMaxBurst];
  const uint8_t* l3[kMaxBurst];
  uint16_t l3_len[kMaxBurst];
  bool l7_ok[kMaxBurst];  // nDPI reads L4 headers: not for fragments after the first
  uint64_t classify_cycles = 0;
  uint32_t m = 0;
  uint64_t rx_bytes = 0;
  // Profiling reads the TSC three times per burst, never per packet.
  const bool profile = setup_.profile;
  const uint64_t t0 = profile ? rte_rdtsc() : 0;

  // Two prefetch passes over the burst before any packet is read: the mbuf
  // headers (both lines: the second holds the dynamic fields), then the
  // frames they point to, so the misses overlap instead of queueing.
  for (uint32_t i = 0; i < n; i++) {
    rte_prefetch0(pkts[i]);
    rte_prefetch0(reinterpret_cast<const char*>(pkts[i]) + RTE_CACHE_LINE_SIZE);
  }
  for (uint32_t i = 0; i < n; i++) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
  for (uint32_t i = 0; i < n; i++) {
    const rte_mbuf* mb = pkts[i];
    const uint64_t t = kOffline ? setup_.fields.ts(mb) : live_now_ns;
    const uint32_t len = kOffline ? setup_.fields.wire_len(mb) : mb->pkt_len;
    rx_bytes += len;
    Decoded& d = dec[m];
    Malformed why = decoder_.decode(rte_pktmbuf_mtod(mb, const uint8_t*), mb->data_len, d);
    if (likely(why == Malformed::ok) && unlikely(d.is_fragment) && !fragments_.resolve(d, t))
      why = Malformed::fragment_orphan;
    if (unlikely(why != Malformed::ok)) {
      counters_.malformed.add();
      counters_.malformed_by[static_cast<int>(why)].add();
      if (t > clock_ns_) clock_ns_ = t;
      continue;
    }
    l3[m] = rte_pktmbuf_mtod(mb, const uint8_t*) + d.l3_offset;
    l3_len[m] = static_cast<uint16_t>(mb->data_len - d.l3_offset);
    // nDPI reads L4 headers: a fragment after the first has none.
    l7_ok[m] = !d.is_fragment || d.frag_first;
    side[m] = make_flow_key(d, keys[m]);
    key_ptrs[m] = &keys[m];
    sigs[m] = FlowTable::hash(keys[m]);
    ts[m] = t;
    wire[m] = len;
    m++;
  }
  counters_.rx_packets.add(n);
  counters_.rx_bytes.add(rx_bytes);
  const uint64_t t1 = profile ? rte_rdtsc() : 0;
  if (profile) stages_.decode += t1 - t0;
  if (m == 0) return;

  table_.lookup_burst(key_ptrs, sigs, m, idx);
  const uint64_t epoch = table_.epoch();
  uint32_t created_sigs[kMaxBurst];
  uint32_t n_created = 0;
  for (uint32_t j = 0; j < m; j++) {
    // A flow removed earlier in this burst (timed out, evicted) may have
    // freed an index looked up above: look the rest up again. A miss stays a
    // miss unless a flow with the same hash was created earlier in this burst
    // (two packets of a new flow in one burst).
    const bool unchanged = table_.epoch() == epoch;
    const uint32_t known = unchanged ? idx[j] : kNoFlow;
    bool absent = known == kNoFlow && unchanged;
    for (uint32_t c = 0; absent && c < n_created; c++) absent = created_sigs[c] != sigs[j];
    if (ts[j] > clock_ns_) clock_ns_ = ts[j];
    const uint64_t before = table_.creations();
    const uint32_t f =
        table_.find_or_create(keys[j], sigs[j], known, side[j], dec[j], ts[j], absent);
    const bool created = table_.creations() != before;
    if (created) created_sigs[n_created++] = sigs[j];
    if (hosts_) hosts_->on_packet(f, table_.flow(f), created);
    table_.update(f, side[j], dec[j], wire[j], ts[j]);
    if (scripts_ && created) {
      scripts_->on_flow_begin(f, view(table_.flow(f)), ts[j]);
      arm_script_timer(f, ts[j]);
    }
    if (sessions_ && created) sessions_->on_flow_created(f, table_.flow(f));
    // Classified at once, in packet order: a later packet of this burst may
    // end this flow and hand its index to another.
    if (inspect_ && l7_ok[j]) {
      const uint64_t c0 = profile ? rte_rdtsc() : 0;
      inspect(f, dec[j], l3[j], l3_len[j], ts[j], side[j]);
      if (profile) classify_cycles += rte_rdtsc() - c0;
    }
    if (sessions_ && l7_ok[j])
      sessions_->on_packet(f, table_.flow(f), dec[j], l3[j] - dec[j].l3_offset, side[j], ts[j]);
    if (scripts_ && scripts_->wants_packet(f)) scripts_->on_packet(f, view(table_.flow(f)), ts[j]);
  }
  counters_.processed.add(m);
  const uint64_t t2 = profile ? rte_rdtsc() : 0;
  table_.advance(clock_ns_);
  if (hosts_) hosts_->advance(clock_ns_);
  if (scripts_) scripts_->on_burst_end();
  if (profile) {
    const uint64_t t3 = rte_rdtsc();
    stages_.flow += t2 - t1 - classify_cycles;
    stages_.classify += classify_cycles;
    stages_.timers += t3 - t2;
  }
}

template void Worker::process_burst<true>(rte_mbuf* const*, uint32_t, uint64_t);
template void Worker::process_burst<false>(rte_mbuf* const*, uint32_t, uint64_t);

void Worker::advance_clock(uint64_t ns) {
  if (ns > clock_ns_) clock_ns_ = ns;
  table_.advance(clock_ns_);
  if (hosts_) hosts_->advance(clock_ns_);
  if (scripts_) scripts_->refresh_cache();
}

void Worker::reset_clock(uint64_t ns) {
  // Records are never lost for this: offline the output ring is waited on.
  table_.flush_all(EndReason::shutdown);
  table_.restart_clock();
  clock_ns_ = ns;
}

template <bool kOffline>
void Worker::loop() {
  const uint32_t burst = config_.workers.burst < kMaxBurst ? config_.workers.burst : kMaxBurst;
  void* entries[kMaxBurst];
  rte_mbuf* pkts[kMaxBurst];
  uint32_t idle = 0;
  bool stopping = false;
  for (;;) {
    uint32_t got = 0;
    if (unlikely(cls_handover_.pending())) swap_classifiers();
    if (unlikely(scripts_handover_.pending())) swap_scripts();
    if (scripts_) scripts_->deliver_async(64);
    if (unlikely(!held_saves_.empty())) check_held_saves();
    if (setup_.input != nullptr) {
      const uint32_t n = rte_ring_sc_dequeue_burst(setup_.input, entries, burst, nullptr);
      got += n;
      // Packets and clock ticks, in the order the reader sent them.
      uint32_t k = 0;
      for (uint32_t i = 0; i < n; i++) {
        if (is_tick(entries[i])) {
          if (k) {
            process_burst<kOffline>(pkts, k, kOffline ? 0 : tsc_now_ns());
            rte_pktmbuf_free_bulk(pkts, k);
            k = 0;
          }
          if (is_reset(entries[i]))
            reset_clock(tick_ns(entries[i]));
          else
            advance_clock(tick_ns(entries[i]));
        } else {
          pkts[k++] = static_cast<rte_mbuf*>(entries[i]);
        }
      }
      if (k) {
        process_burst<kOffline>(pkts, k, kOffline ? 0 : tsc_now_ns());
        rte_pktmbuf_free_bulk(pkts, k);
      }
    }
    if constexpr (!kOffline) {
      for (const RxQueue& q : setup_.queues) {
        const uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, static_cast<uint16_t>(burst));
        if (n == 0) continue;
        got += n;
        process_burst<false>(pkts, n, tsc_now_ns());
        rte_pktmbuf_free_bulk(pkts, n);
      }
    }
    if (got) {
      counters_.busy_polls.add();
      idle = 0;
      continue;
    }
    counters_.idle_polls.add();
    if (stop_.load(std::memory_order_acquire)) {
      // Offline the control core asks only once the reader has queued its
      // last packet; one more empty poll after seeing the request proves the
      // ring is drained.
      if (stopping) break;
      stopping = true;
      continue;
    }
    if constexpr (!kOffline) {
      // Timers run on wall time even when no packet arrives.
      if ((++idle & 1023) == 0) advance_clock(tsc_now_ns());
    } else {
      ++idle;
    }
    if constexpr (kOffline) {
      // Offline nothing is lost by waiting: an idle worker sleeps instead of
      // spinning, so CPU time measures work (and a shared CPU is left free).
      if (idle > 64)
        rte_delay_us_sleep(20);
      else
        rte_pause();
    } else if (setup_.yield_when_idle && idle > 16) {
      sched_yield();
    } else {
      rte_pause();
    }
  }
}

int Worker::run() {
  if (scripts_) scripts_->bind_thread();
  if (setup_.offline)
    loop<true>();
  else
    loop<false>();
  block_on_full_ = true;  // no packet is being read any more: nothing lost by waiting
  table_.flush_all(EndReason::shutdown);
  // Held saves get their replies, or their deadline (contract 3.6).
  while (!held_saves_.empty()) {
    if (scripts_) scripts_->deliver_async(64);
    check_held_saves();
    if (!held_saves_.empty()) rte_delay_us_sleep(100);
  }
  // The last partial: the control core takes it (it polls until done()).
  if (hosts_)
    while (!hosts_->flush(clock_ns_)) rte_delay_us_sleep(100);
  done_.store(true, std::memory_order_release);
  return 0;
}

}  // namespace loupe
