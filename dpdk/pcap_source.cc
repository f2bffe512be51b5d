#include "dpdk/pcap_source.h"

#include <dirent.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_mempool.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace loupe {

std::vector<std::string> PcapSource::expand(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0)
    throw std::runtime_error(path + ": cannot read: " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return {path};
  std::vector<std::string> files;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) throw std::runtime_error(path + ": cannot list: " + std::strerror(errno));
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string full = path + "/" + e->d_name;
    struct stat fst{};
    if (stat(full.c_str(), &fst) == 0 && S_ISREG(fst.st_mode)) files.push_back(full);
  }
  closedir(dir);
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error(path + ": no capture files in this directory");
  return files;
}

pcap_t* PcapSource::open_checked(const std::string& file, std::string& error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(file.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                      errbuf);
  if (p == nullptr) {
    error = file + ": cannot read capture: " + errbuf;
    return nullptr;
  }
  const int link = pcap_datalink(p);
  if (link != DLT_EN10MB) {
    const char* name = pcap_datalink_val_to_name(link);
    error = file + ": link type " + (name ? name : "unknown") + " (" + std::to_string(link) +
            ") is not supported: loupe reads Ethernet captures (EN10MB, 1)";
    pcap_close(p);
    return nullptr;
  }
  return p;
}

PcapSource::PcapSource(std::vector<std::string> files, rte_mempool* pool, MbufFields fields)
    : files_(std::move(files)), pool_(pool), fields_(fields) {
  eof_ = !open_next();
}

PcapSource::~PcapSource() {
  if (pcap_ != nullptr) pcap_close(pcap_);
}

bool PcapSource::open_next() {
  while (next_file_ < files_.size()) {
    std::string error;
    pcap_ = open_checked(files_[next_file_++], error);
    if (pcap_ != nullptr) {
      stats_.files_read++;
      return true;
    }
    stats_.errors.push_back(error);
  }
  return false;
}

uint32_t PcapSource::read_burst(rte_mbuf** out, uint32_t n) {
  if (eof_ && !holding_) return 0;
  if (rte_pktmbuf_alloc_bulk(pool_, out, n) != 0) return 0;  // pool empty: workers hold them
  uint32_t got = 0;
  while (got < n) {
    pcap_pkthdr* hdr;
    const u_char* data;
    int rc;
    if (holding_) {
      hdr = &held_hdr_;
      data = held_.data();
      rc = 1;
      holding_ = false;
    } else {
      rc = pcap_next_ex(pcap_, &hdr, &data);
    }
    if (rc == 1) {
      const uint64_t t = uint64_t(hdr->ts.tv_sec) * 1'000'000'000ULL + uint64_t(hdr->ts.tv_usec);
      if (t + 1'000'000'000ULL < clock_ns_) {
        if (got > 0) {
          // Time went backwards: finish this burst first; the packet opens
          // the next one, after the workers have restarted their clocks.
          held_hdr_ = *hdr;
          held_.assign(data, data + hdr->caplen);
          holding_ = true;
          break;
        }
        clock_reset_ = true;
        clock_reset_ns_ = t;
        clock_ns_ = t;
      }
    }
    if (rc != 1) {
      if (rc == PCAP_ERROR)
        stats_.errors.push_back(files_[next_file_ - 1] + ": " + pcap_geterr(pcap_) +
                                " (packets before this point were processed)");
      pcap_close(pcap_);
      pcap_ = nullptr;
      if (!open_next()) {
        eof_ = true;
        break;
      }
      continue;
    }
    rte_mbuf* m = out[got++];
    const uint32_t room = rte_pktmbuf_tailroom(m);
    uint32_t copy = hdr->caplen;
    if (copy > room) {
      copy = room;
      stats_.cut_to_mbuf++;
    }
    rte_memcpy(rte_pktmbuf_mtod(m, void*), data, copy);
    m->data_len = static_cast<uint16_t>(copy);
    m->pkt_len = copy;
    const uint64_t ts = uint64_t(hdr->ts.tv_sec) * 1'000'000'000ULL + uint64_t(hdr->ts.tv_usec);
    fields_.set_ts(m, ts);
    fields_.set_wire_len(m, hdr->len);
    if (ts > clock_ns_) clock_ns_ = ts;
    stats_.packets++;
    stats_.bytes += hdr->len;
  }
  if (got < n) rte_pktmbuf_free_bulk(out + got, n - got);
  return got;
}

}  // namespace loupe
