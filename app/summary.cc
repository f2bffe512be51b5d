#include "app/summary.h"

#include "lua/worker_scripts.h"

#include <fmt/format.h>
#include <signal.h>

#include <cstring>
#include <iterator>
#include <string>

#include "dpdk/pcap_source.h"
#include "dpdk/port.h"
#include "engine/worker/session_counters.h"
#include "engine/worker/sessions.h"
#include "engine/worker/worker.h"

namespace loupe {
namespace {

// "name N, name N" for every counter of a list, zeros included (a reader
// looks for the name).
template <typename C, size_t N>
std::string list_of(const CounterDesc<C> (&descs)[N], const C& c) {
  std::string s;
  for (const CounterDesc<C>& d : descs)
    s += fmt::format("{}{} {}", s.empty() ? "" : ", ", d.name, (c.*d.field).get());
  return s;
}

// "name N, name N" for the non-zero entries of a per-reason counter array.
template <size_t N, typename Get>
std::string by_reason(const char* const (&names)[N], Get get) {
  std::string s;
  for (size_t i = 0; i < N; i++) {
    const uint64_t v = get(i);
    if (v == 0) continue;
    if (!s.empty()) s += ", ";
    s += fmt::format("{} {}", names[i], v);
  }
  return s.empty() ? "none" : s;
}

}  // namespace

void print_summary(FILE* out, const SummaryInput& in) {
  std::string s;
  auto line = [&s](const std::string& l) { s += "loupe: " + l + "\n"; };
  if (in.stopped_by) line(fmt::format("stopped by {}", strsignal(in.stopped_by)));
  uint64_t received = 0;
  if (in.source != nullptr) {
    const PcapSourceStats& st = in.source->stats();
    received = st.packets;
    line(fmt::format("input: {} packets, {} bytes from {} file(s){}", st.packets, st.bytes,
                     st.files_read,
                     st.cut_to_mbuf ? fmt::format(" ({} longer than one mbuf: headers kept)",
                                                  st.cut_to_mbuf)
                                    : ""));
  }
  uint64_t port_drops = 0;
  for (const OpenPort& p : *in.ports) {
    const PortStats ps = port_stats(p.port_id);
    received += ps.ipackets;
    port_drops += ps.imissed + ps.ierrors + ps.rx_nombuf;
    line(fmt::format("port {}: received {} packets {} bytes; missed {}, errors {}, no mbuf {} "
                     "({} RX queue(s){}{})",
                     p.name, ps.ipackets, ps.ibytes, ps.imissed, ps.ierrors, ps.rx_nombuf,
                     p.rx_queues, p.rss ? ", symmetric RSS" : "",
                     p.dispatched ? ", software dispatch" : ""));
  }
  uint64_t rx = 0, processed = 0, malformed = 0, created = 0, ended = 0, records = 0,
           record_drops = 0;
  size_t table_bytes = 0;
  for (const auto& wp : *in.workers) {
    const Worker& w = *wp;
    const WorkerCounters& c = w.counters();
    const FlowTableCounters& fc = w.flows().counters();
    uint64_t w_ended = 0;
    for (const Counter& e : fc.ended) w_ended += e.get();
    w_ended -= fc.ended[static_cast<int>(EndReason::active_timeout)].get();
    line(fmt::format("worker {}: received {}, processed {}, malformed {} ({})", w.id(),
                     c.rx_packets.get(), c.processed.get(), c.malformed.get(),
                     by_reason(kMalformedNames, [&](size_t i) { return c.malformed_by[i].get(); })));
    line(fmt::format("worker {}: flows created {}, ended {} ({}); records {}, lost {}", w.id(),
                     fc.created.get(), w_ended,
                     by_reason(kEndReasonText, [&](size_t i) { return fc.ended[i].get(); }),
                     c.records.get(), c.record_drops.get()));
    if (c.l7_started.get() || c.l7_no_state.get())
      line(fmt::format("worker {}: nDPI detection started {}, ended {}, not inspected {} (no free "
                       "state)",
                       w.id(), c.l7_started.get(), c.l7_done.get(), c.l7_no_state.get()));
    if (const WorkerSessions* ws = w.sessions()) {
      const StreamTable& st = ws->streams();
      const StreamCounters& sc = st.counters();
      line(fmt::format("worker {}: streams: {}; out-of-order memory cap {}", w.id(),
                       list_of(kStreamCounterDescs, sc), st.arena().capacity()));
      std::string lost;
      for (size_t i = 0; i < std::size(kStreamLossNames); i++)
        lost += fmt::format("{}{} {} ({} bytes)", i ? ", " : "", kStreamLossNames[i],
                            sc.lost[i].get(), sc.lost_bytes[i].get());
      line(fmt::format("worker {}: streams lost: {}", w.id(), lost));
      line(fmt::format("worker {}: http: {}", w.id(), list_of(kHttpCounterDescs, ws->http().counters())));
      line(fmt::format("worker {}: smtp: {}", w.id(), list_of(kSmtpCounterDescs, ws->smtp().counters())));
    }
    if (c.saves_held.get() || c.saves_hold_full.get())
      line(fmt::format("worker {}: final saves held {}, expired {}, not held (full) {}", w.id(),
                       c.saves_held.get(), c.saves_hold_expired.get(), c.saves_hold_full.get()));
    rx += c.rx_packets.get();
    processed += c.processed.get();
    malformed += c.malformed.get();
    created += fc.created.get();
    ended += w_ended;
    records += c.records.get();
    record_drops += c.record_drops.get();
    table_bytes += w.flows().memory_bytes();
  }
  line(fmt::format("total: received {}, processed {}, malformed {}, dispatcher drops {}, port "
                   "drops {}; {}",
                   received, processed, malformed, in.dispatcher_drops, port_drops,
                   received == processed + malformed + in.dispatcher_drops
                       ? "every packet accounted for"
                       : fmt::format("UNACCOUNTED {}", static_cast<int64_t>(received - processed -
                                                                           malformed -
                                                                           in.dispatcher_drops))));
  line(fmt::format("total: flows created {}, ended {}, records written {}, lost {}", created,
                   ended, in.records_written, record_drops));
  if (in.scripts) {
    uint64_t entries = 0, dropped = 0;
    for (const auto& w : *in.workers) {
      if (w->scripts() != nullptr) entries += w->scripts()->vm_entries();
      dropped += w->alerts_dropped();
    }
    line(fmt::format("lua: {} calls into the VMs; alerts written {}, lost {} (ring full)", entries,
                     in.alerts_written, dropped));
  }
  line(fmt::format("memory: flow tables {:.1f} MiB for {} worker(s), allocated at start; EAL "
                   "memory {} MiB",
                   static_cast<double>(table_bytes) / (1 << 20), in.workers->size(),
                   in.eal_memory_mb));
  line(in.first_packet_ms >= 0
           ? fmt::format("start-up {:.0f} ms, first packet at {:.0f} ms", in.startup_ms,
                         in.first_packet_ms)
           : fmt::format("start-up {:.0f} ms", in.startup_ms));
  std::fputs(s.c_str(), out);
}

}  // namespace loupe
