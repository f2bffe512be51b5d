// The offline input: reads pcap files with libpcap into mbufs of a DPDK
// mempool, carrying each packet's capture time and wire length in mbuf
// fields. DPDK's net_pcap PMD is not used for `-r` because it keeps only the
// captured length (the wire length, pcap `len`, is lost), has no end-of-file
// signal, and reads any link type as Ethernet; it remains usable as a port
// through devargs. Runs on the main lcore.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dpdk/mbuf_fields.h"

struct rte_mempool;
struct rte_mbuf;

namespace loupe {

struct PcapSourceStats {
  uint64_t packets = 0;
  uint64_t bytes = 0;           // wire bytes (pcap len)
  uint64_t cut_to_mbuf = 0;     // captured bytes beyond one mbuf's room (headers kept)
  uint32_t files_read = 0;
  std::vector<std::string> errors;  // one line each: skipped or truncated files
};

class PcapSource {
 public:
  // A file, or a directory's regular files in name order. Throws
  // std::runtime_error with a one-line message when the path is unusable.
  static std::vector<std::string> expand(const std::string& path);

  PcapSource(std::vector<std::string> files, rte_mempool* pool, MbufFields fields);
  ~PcapSource();
  PcapSource(const PcapSource&) = delete;
  PcapSource& operator=(const PcapSource&) = delete;

  // Reads up to n packets. Returns 0 only at the end of the last file (or
  // when the mempool is empty: check eof()).
  uint32_t read_burst(rte_mbuf** out, uint32_t n);
  bool eof() const { return eof_; }
  // The capture clock: the latest timestamp read so far.
  uint64_t clock_ns() const { return clock_ns_; }
  // True once when the burst just read starts with a packet more than a
  // second older than the clock (time went backwards, as when a directory's
  // files are not in time order): the clock restarted there, and the workers
  // must restart theirs before they see this burst. read_burst() ends a
  // burst early to make the jump fall at the start of the next one.
  // The time of the packet that went back, not the clock at the end of
  // the burst it opens: timers must not run ahead of that burst's packets.
  uint64_t clock_reset_ns() const { return clock_reset_ns_; }
  bool take_clock_reset() {
    const bool r = clock_reset_;
    clock_reset_ = false;
    return r;
  }
  const PcapSourceStats& stats() const { return stats_; }

  // Opens `file` and checks it is an Ethernet capture. On failure returns
  // null and sets `error` to a one-line message naming the file.
  static pcap_t* open_checked(const std::string& file, std::string& error);

 private:
  bool open_next();

  std::vector<std::string> files_;
  size_t next_file_ = 0;
  pcap_t* pcap_ = nullptr;
  rte_mempool* pool_;
  MbufFields fields_;
  bool eof_ = false;
  bool clock_reset_ = false;
  uint64_t clock_reset_ns_ = 0;
  uint64_t clock_ns_ = 0;
  // A packet read but held back for the next burst (after a clock reset).
  pcap_pkthdr held_hdr_{};
  std::vector<uint8_t> held_;
  bool holding_ = false;
  PcapSourceStats stats_;
};

}  // namespace loupe
