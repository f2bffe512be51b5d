#include "app/bench.h"

#include "lua/generation.h"
#include "lua/worker_scripts.h"

#include <fmt/format.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

#include <rte_errno.h>

#include "build_info.h"
#include "dpdk/eal.h"
#include "dpdk/mbuf_fields.h"
#include "dpdk/pcap_source.h"
#include "engine/classify/classifier_db.h"
#include "engine/decode/decoder.h"
#include "engine/worker/worker.h"

namespace loupe {
namespace {

constexpr uint32_t kBurst = 32;
constexpr uint64_t kNsPerSec = 1'000'000'000ULL;

struct Loaded {
  std::vector<rte_mbuf*> pkts;
  std::vector<uint16_t> l3;     // offset of the IP header, 0 when none
  std::vector<uint8_t> ipv;     // 4, 6 or 0
  uint64_t first_ns = UINT64_MAX, last_ns = 0, wire_bytes = 0;
};

// First pass: how many packets and how large, to size the mempool.
void measure(const std::string& file, uint64_t& count, uint32_t& max_caplen) {
  std::string error;
  pcap_t* p = PcapSource::open_checked(file, error);
  if (p == nullptr) throw std::runtime_error(error);
  pcap_pkthdr* hdr;
  const u_char* data;
  count = 0;
  max_caplen = 0;
  while (pcap_next_ex(p, &hdr, &data) == 1) {
    count++;
    max_caplen = std::max(max_caplen, hdr->caplen);
  }
  pcap_close(p);
  if (count == 0) throw std::runtime_error(file + ": no packets");
}

Loaded load(const std::string& file, rte_mempool* pool, const MbufFields& fields) {
  Loaded l;
  PcapSource src({file}, pool, fields);
  rte_mbuf* burst[kBurst];
  Decoder dec;
  while (uint32_t n = src.read_burst(burst, kBurst)) {
    for (uint32_t i = 0; i < n; i++) {
      rte_mbuf* m = burst[i];
      Decoded d;
      const bool ok = dec.decode(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, d) ==
                      Malformed::ok;
      l.pkts.push_back(m);
      l.l3.push_back(ok ? d.l3_offset : 0);
      l.ipv.push_back(ok ? d.ip_version : 0);
      l.first_ns = std::min(l.first_ns, fields.ts(m));
      l.last_ns = std::max(l.last_ns, fields.ts(m));
      l.wire_bytes += fields.wire_len(m);
    }
  }
  if (!src.stats().errors.empty()) throw std::runtime_error(src.stats().errors.front());
  return l;
}

// Rewrites both addresses of every IP packet the same way, so a flow's two
// directions stay one flow and each loop's flows differ from the last's.
void rewrite_addresses(Loaded& l) {
  for (size_t i = 0; i < l.pkts.size(); i++) {
    if (l.ipv[i] == 0) continue;
    uint8_t* ip = rte_pktmbuf_mtod(l.pkts[i], uint8_t*) + l.l3[i];
    // IPv4 addresses at 12 and 16, IPv6 at 8 and 24: change the byte before
    // the last of each (the checksum is not verified by loupe).
    const int a = l.ipv[i] == 4 ? 12 + 2 : 8 + 14;
    const int b = l.ipv[i] == 4 ? 16 + 2 : 24 + 14;
    ip[a] = static_cast<uint8_t>(ip[a] + 1);
    ip[b] = static_cast<uint8_t>(ip[b] + 1);
  }
}

// What L7 inspection holds at the end of the replay, before any flow is
// flushed: how many flows still keep an nDPI state, and what a flow costs.
struct L7Memory {
  uint32_t states_held = 0;
  uint64_t ended = 0;      // flows whose detection ended (detected or given up)
  double freed_pct = 0;    // of those, the share holding no nDPI state
  double slot_bytes = 0;   // flow table memory per flow slot
  uint64_t meta_bytes = 0; // metadata blocks held
  uint64_t meta_blobs = 0;
  double meta_avg = 0;
};

L7Memory l7_memory(const Worker& w, const Config& config) {
  L7Memory m;
  const NdpiDetector* d = w.ndpi();
  if (d == nullptr) return m;
  m.states_held = d->in_use();
  const uint64_t done = w.counters().l7_done.get();
  m.ended = done + d->in_extra();
  m.freed_pct = m.ended ? 100.0 * static_cast<double>(done) / static_cast<double>(m.ended) : 100;
  m.slot_bytes = static_cast<double>(w.flows().memory_bytes()) / config.flow.capacity;
  m.meta_bytes = w.meta_pool().bytes_in_use();
  m.meta_blobs = w.meta_pool().blobs();
  m.meta_avg = m.meta_blobs ? static_cast<double>(m.meta_bytes) / m.meta_blobs : 0;
  return m;
}

std::string l7_json(const Worker& w, const Config& config) {
  if (w.ndpi() == nullptr) return "null";
  const L7Memory m = l7_memory(w, config);
  return fmt::format(
      R"({{"ndpi_states_held":{},"detection_ended":{},"ended_without_state_pct":{:.3f},)"
      R"("flow_slot_bytes":{:.1f},"meta_bytes":{},"meta_blobs":{},"meta_bytes_per_blob":{:.1f}}})",
      m.states_held, m.ended, m.freed_pct, m.slot_bytes, m.meta_bytes, m.meta_blobs, m.meta_avg);
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

}  // namespace

int bench(const Config& config_in, const BenchOptions& opt) {
  const auto t_start = std::chrono::steady_clock::now();
  Config config = config_in;
  config.workers.count = 1;
  try {
    uint64_t count = 0;
    uint32_t max_caplen = 0;
    measure(opt.input, count, max_caplen);
    const uint32_t room = std::min<uint32_t>(std::max<uint32_t>(max_caplen, 64), 2048);
    const uint64_t pool_mb = (count + 1024) * (room + RTE_PKTMBUF_HEADROOM + 192) >> 20;
    const uint32_t table_mb =
        static_cast<uint32_t>(uint64_t{config.flow.capacity} * (sizeof(Flow) + 128) >> 20);
    Config eal_config = config;
    eal_config.workers.count = 0;  // the replay runs on the main lcore
    DpdkLogCapture log;
    init_eal(plan_eal(eal_config, true, static_cast<uint32_t>(pool_mb + table_mb + 256)));
    log.release();
    const MbufFields fields = MbufFields::register_all();
    rte_mempool* pool = rte_pktmbuf_pool_create("bench", static_cast<uint32_t>(count + 1024), 256,
                                                0, static_cast<uint16_t>(room + RTE_PKTMBUF_HEADROOM),
                                                static_cast<int>(rte_socket_id()));
    if (pool == nullptr)
      throw std::runtime_error(fmt::format("cannot create a mempool of {} mbufs: {}", count,
                                           rte_strerror(rte_errno)));
    Loaded l = load(opt.input, pool, fields);
    const double load_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start)
            .count();

    // Scripts, when asked: the same generation and worker VM a run builds.
    // Their alerts go nowhere (no ring): triggerAlert returns false, counted.
    std::unique_ptr<NdpiModule> names;
    std::shared_ptr<const Generation> generation;
    if (opt.scripts) {
      names = std::make_unique<NdpiModule>(config.classify.ndpi);
      GenerationInputs in;
      in.config = config.lua;
      in.local_networks = config.local_networks;
      in.ndpi = names.get();
      in.offline = true;
      GenerationResult g = build_generation(in);
      if (!g.errors.empty()) throw std::runtime_error("the script set was rejected: " + g.errors[0]);
      generation = g.generation;
    }
    WorkerSetup setup;
    setup.offline = true;
    setup.fields = fields;
    setup.profile = true;
    // Arkime scripts: reassembly and HTTP/SMTP sessions, and their Lua
    // classifiers compiled as a run compiles them (configured rules too).
    if (generation != nullptr) {
      setup.sessions = !generation->arkime_classifiers.empty() || generation->http_events != 0 ||
                       generation->body_http || generation->body_smtp;
      std::vector<ClassifierSpec> specs = classifier_specs(config.classifiers, "");
      for (size_t i = 0; i < generation->arkime_classifiers.size(); i++) {
        const ArkimeClassifierReg& r = generation->arkime_classifiers[i];
        ClassifierSpec c;
        c.name = r.name;
        c.l4 = r.proto;
        c.offset = r.offset;
        c.bytes = r.match;
        c.script_classifier = static_cast<int32_t>(i);
        specs.push_back(std::move(c));
      }
      if (!specs.empty() && config.classify.classifiers.enabled) {
        ClassifierBuild b = ClassifierDb::build(std::move(specs), {}, "");
        if (!b.errors.empty()) throw std::runtime_error("classifiers rejected: " + b.errors[0]);
        setup.classifiers.db = b.db;
        setup.classifiers.scratch = b.db->make_scratch();
      }
    }
    auto worker = std::make_unique<Worker>(config, std::move(setup));
    if (generation != nullptr) {
      std::vector<std::string> errors;
      auto ws = build_worker(generation, 0, worker->flows().slots(), &errors);
      if (!ws) throw std::runtime_error("cannot build the worker's scripts");
      ws->bind_thread();
      worker->adopt_scripts(std::move(ws));
    }

    // Each loop starts where the previous one ended, plus one second.
    const uint64_t span = l.last_ns - l.first_ns + kNsPerSec;
    const size_t n = l.pkts.size();
    uint64_t busy = 0;
    for (uint32_t loop = 0; loop < opt.loops; loop++) {
      if (loop > 0) {
        for (rte_mbuf* m : l.pkts) fields.set_ts(m, fields.ts(m) + span);
        if (opt.rewrite) rewrite_addresses(l);
      }
      const uint64_t c0 = rte_rdtsc_precise();
      for (size_t i = 0; i < n; i += kBurst)
        worker->process_burst<true>(l.pkts.data() + i,
                                    static_cast<uint32_t>(std::min<size_t>(kBurst, n - i)), 0);
      busy += rte_rdtsc_precise() - c0;
    }
    const uint64_t total = uint64_t{n} * opt.loops;
    const double hz = static_cast<double>(rte_get_tsc_hz());
    const double seconds = static_cast<double>(busy) / hz;
    const StageCycles& st = worker->stage_cycles();
    const auto per = [&](uint64_t c) { return static_cast<double>(c) / static_cast<double>(total); };
    const WorkerCounters& wc = worker->counters();
    const FlowTableCounters& fc = worker->flows().counters();

    std::string json = fmt::format(
        "{{\"tool\":\"loupe bench\",\"version\":\"{}\",\"input\":\"{}\",\"packets\":{},"
        "\"loops\":{},\"rewrite\":{},\"packets_total\":{},\"wire_bytes_total\":{},"
        "\"seconds\":{:.6f},\"pps\":{:.0f},\"gbps\":{:.3f},\"ns_per_packet\":{:.2f},"
        "\"cycles_per_packet\":{:.2f},\"tsc_hz\":{:.0f},"
        "\"stages\":{{\"decode\":{:.2f},\"flow\":{:.2f},\"classify\":{:.2f},\"timers\":{:.2f},"
        "\"scripts\":null}},"
        "\"processed\":{},\"malformed\":{},\"flows_created\":{},\"flows_active\":{},"
        "\"flow_capacity\":{},\"flow_table_mb\":{:.1f},\"peak_rss_mb\":{:.1f},"
        "\"load_ms\":{:.1f},\"l7\":{},\"script_vm_entries\":{}}}",
        LOUPE_VERSION, opt.input, n, opt.loops, opt.rewrite ? "true" : "false", total,
        l.wire_bytes * opt.loops, seconds, static_cast<double>(total) / seconds,
        static_cast<double>(l.wire_bytes * opt.loops) * 8 / seconds / 1e9,
        seconds * 1e9 / static_cast<double>(total), per(busy), hz, per(st.decode), per(st.flow),
        per(st.classify), per(st.timers), wc.processed.get(), wc.malformed.get(), fc.created.get(),
        fc.active.get(), config.flow.capacity,
        static_cast<double>(worker->flows().memory_bytes()) / (1 << 20), peak_rss_mb(), load_ms,
        l7_json(*worker, config),
        worker->scripts() ? std::to_string(worker->scripts()->vm_entries()) : "null");
    if (!opt.json.empty()) {
      if (opt.json == "-") {
        std::printf("%s\n", json.c_str());
      } else {
        std::ofstream out(opt.json);
        out << json << "\n";
        if (!out) throw std::runtime_error(opt.json + ": cannot write");
      }
    }
    if (opt.table) {
      std::fprintf(stderr,
                   "loupe bench: %s, %zu packets x %u loops%s, 1 worker\n"
                   "  %-22s %12.0f\n  %-22s %12.3f\n  %-22s %12.2f\n  %-22s %12.2f\n"
                   "  per stage, cycles/packet: decode %.2f, flow %.2f, classify %.2f, timers %.2f "
                   "(the rest: burst loop and harness)\n"
                   "  flows created %lu, active at end %lu of %u; malformed %lu\n"
                   "  peak RSS %.1f MiB (flow table %.1f MiB); load %.0f ms\n",
                   opt.input.c_str(), n, opt.loops, opt.rewrite ? " (addresses rewritten)" : "",
                   "packets/s", static_cast<double>(total) / seconds, "Gbit/s",
                   static_cast<double>(l.wire_bytes * opt.loops) * 8 / seconds / 1e9,
                   "ns/packet", seconds * 1e9 / static_cast<double>(total), "cycles/packet",
                   per(busy), per(st.decode), per(st.flow), per(st.classify), per(st.timers), fc.created.get(),
                   fc.active.get(), config.flow.capacity, wc.malformed.get(), peak_rss_mb(),
                   static_cast<double>(worker->flows().memory_bytes()) / (1 << 20), load_ms);
    }
    if (opt.table && worker->ndpi() != nullptr) {
      const L7Memory m = l7_memory(*worker, config);
      std::fprintf(stderr,
                   "  nDPI states: %u held by %lu live flows; detection ended for %lu flows, "
                   "%.2f%% of them hold no state\n"
                   "  per flow slot %.0f B (entry %zu B + hash); metadata %lu B in %lu blobs "
                   "(%.0f B per flow that has any)\n",
                   m.states_held, fc.active.get(), m.ended, m.freed_pct, m.slot_bytes,
                   sizeof(Flow), m.meta_bytes, m.meta_blobs, m.meta_avg);
    }
    if (opt.table && worker->sessions() != nullptr) {
      const StreamCounters& sc = worker->sessions()->streams().counters();
      std::fprintf(stderr,
                   "  Arkime sessions: %lu flows reassembled, %lu bytes delivered in %lu chunks; "
                   "%u HTTP sessions open at end\n",
                   sc.flows.get(), sc.delivered_bytes.get(), sc.chunks.get(),
                   worker->sessions()->http().sessions_in_use());
    }
    worker.reset();
    rte_pktmbuf_free_bulk(l.pkts.data(), static_cast<unsigned>(n));
    rte_mempool_free(pool);
    cleanup_eal();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loupe bench: %s\n", e.what());
    return 1;
  }
}

}  // namespace loupe
