// StreamTable against tshark: a capture of TCP connections whose segments are
// reordered, retransmitted and overlapped by copies with other bytes is read
// back through the decoder into a StreamTable, and each direction's bytes are
// compared with `tshark -q -z follow,tcp,raw,N`. Skipped without tshark.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/decode/decoder.h"
#include "engine/stream/stream_table.h"
#include "perf/gen/frame.h"
#include "perf/gen/pcap_writer.h"
#include "tests/unit/engine/stream/stream_test_util.h"

namespace loupe {
namespace {

using test::Recorder;

constexpr uint16_t kServerPort = 8080;
constexpr uint16_t kFirstClientPort = 40000;

// One segment to write: where its bytes start in its direction's stream (0
// is the byte after the SYN), its bytes, its flags.
struct Seg {
  uint8_t dir;  // 0: client to server
  uint32_t off;
  std::string bytes;
  uint8_t flags;
};

struct Connection {
  uint16_t client_port;
  uint32_t isn[2];
  std::string payload[2];
  bool handshake = true;
  // A segment of the client's left out: a hole nothing fills.
  bool hole = false;
  uint32_t hole_off = 0, hole_len = 0;
  std::vector<Seg> segs;  // in capture order
};

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Cuts a direction into segments, then spoils the order: neighbours swapped,
// segments held back, exact retransmissions, and overlapping copies whose
// bytes differ from the original (which copy wins is what the test checks).
std::vector<Seg> spoil(std::mt19937_64& rng, uint8_t dir, const std::string& payload,
                       Connection& c) {
  std::vector<Seg> segs;
  for (uint32_t off = 0; off < payload.size();) {
    const uint32_t len = std::min<uint32_t>(1 + rng() % 1400, payload.size() - off);
    segs.push_back({dir, off, payload.substr(off, len), 0x18});
    off += len;
  }
  if (segs.empty()) return segs;
  segs.back().flags |= 0x01;  // FIN on the last one
  if (c.hole && dir == 0 && segs.size() > 4) {
    const size_t k = segs.size() / 2;
    c.hole_off = segs[k].off;
    c.hole_len = static_cast<uint32_t>(segs[k].bytes.size());
    segs.erase(segs.begin() + static_cast<long>(k));
  }
  std::vector<Seg> extra;
  for (const Seg& s : segs) {
    const uint32_t roll = rng() % 100;
    if (roll < 10) {
      extra.push_back(s);  // exact retransmission
    } else if (roll < 25 && payload.size() > 32) {
      // A copy of another range overlapping this one, with other bytes.
      const uint32_t a = s.off > 16 ? s.off - static_cast<uint32_t>(rng() % 16) : s.off;
      const uint32_t b = std::min<uint32_t>(
          payload.size(), s.off + s.bytes.size() + static_cast<uint32_t>(rng() % 64));
      if (c.hole && dir == 0 && a < c.hole_off + c.hole_len && b > c.hole_off) continue;
      std::string bytes = payload.substr(a, b - a);
      for (char& ch : bytes) ch = static_cast<char>(ch ^ 0x5a);
      extra.push_back({dir, a, bytes, static_cast<uint8_t>(b == payload.size() ? 0x19 : 0x18)});
    }
  }
  for (Seg& e : extra) {
    // Held back by a few places.
    const size_t at = std::min(segs.size(), static_cast<size_t>(rng() % (segs.size() + 1)));
    segs.insert(segs.begin() + static_cast<long>(at), std::move(e));
  }
  for (size_t i = 0; i + 1 < segs.size(); i++) {
    if (rng() % 100 < 20)
      std::swap(segs[i], segs[i + 1 + rng() % std::min<size_t>(3, segs.size() - i - 1)]);
  }
  return segs;
}

std::vector<Connection> make_connections() {
  std::mt19937_64 rng(20260307);
  std::vector<Connection> conns;
  for (uint16_t i = 0; i < 14; i++) {
    Connection c;
    c.client_port = kFirstClientPort + i;
    c.isn[0] = static_cast<uint32_t>(rng());
    c.isn[1] = static_cast<uint32_t>(rng());
    if (i == 1) c.isn[0] = 0xffffffffu - 3000;  // wraps inside the stream
    if (i == 2) c.isn[1] = 0xfffffff0u;
    c.handshake = i != 3;  // picked up mid-stream
    c.hole = i == 4;
    c.payload[0] = random_bytes(rng, 200 + rng() % 20000);
    c.payload[1] = random_bytes(rng, 200 + rng() % 60000);
    std::vector<Seg> d0 = spoil(rng, 0, c.payload[0], c);
    std::vector<Seg> d1 = spoil(rng, 1, c.payload[1], c);
    if (!c.handshake) {
      // Mid-stream, the first segment seen starts each direction: make it
      // one that is in order, as after a handshake, so both agree on it.
      for (auto* d : {&d0, &d1}) {
        const auto first =
            std::find_if(d->begin(), d->end(), [](const Seg& s) { return s.off == 0; });
        std::rotate(d->begin(), first, first + 1);
      }
    }
    // The directions interleaved at random, each in its own spoiled order.
    size_t a = 0, b = 0;
    while (a < d0.size() || b < d1.size()) {
      const bool take0 = b == d1.size() || (a < d0.size() && rng() % 2 == 0);
      c.segs.push_back(take0 ? d0[a++] : d1[b++]);
    }
    conns.push_back(std::move(c));
  }
  return conns;
}

void write_capture(const std::vector<Connection>& conns, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  gen::PcapWriter pcap(out);
  const uint8_t cli_mac[6] = {2, 0, 0, 0, 0, 1};
  const uint8_t srv_mac[6] = {2, 0, 0, 0, 0, 2};
  uint64_t ts = 1700000000ULL * 1000000;
  std::vector<uint8_t> frame(2048);
  for (const Connection& c : conns) {
    const uint8_t cli_ip[4] = {10, 0, static_cast<uint8_t>(c.client_port >> 8),
                               static_cast<uint8_t>(c.client_port)};
    const uint8_t srv_ip[4] = {192, 168, 0, 1};
    auto emit = [&](uint8_t dir, uint32_t seq, uint8_t flags, const std::string& bytes) {
      gen::FrameHeaders h;
      h.src_mac = dir == 0 ? cli_mac : srv_mac;
      h.dst_mac = dir == 0 ? srv_mac : cli_mac;
      h.src_ip = dir == 0 ? cli_ip : srv_ip;
      h.dst_ip = dir == 0 ? srv_ip : cli_ip;
      h.tcp = true;
      h.src_port = dir == 0 ? c.client_port : kServerPort;
      h.dst_port = dir == 0 ? kServerPort : c.client_port;
      h.seq = seq;
      h.ack = flags & 0x10 ? c.isn[dir ^ 1] + 1 : 0;
      h.tcp_flags = flags;
      h.window = 65535;
      const size_t hl = gen::header_length(h);
      std::copy(bytes.begin(), bytes.end(), frame.begin() + static_cast<long>(hl));
      gen::write_headers(h, frame.data(), bytes.size());
      pcap.write(ts += 100, frame.data(), hl + bytes.size());
    };
    if (c.handshake) {
      emit(0, c.isn[0], 0x02, "");
      emit(1, c.isn[1], 0x12, "");
      emit(0, c.isn[0] + 1, 0x10, "");
    }
    for (const Seg& s : c.segs) emit(s.dir, c.isn[s.dir] + 1 + s.off, s.flags, s.bytes);
  }
  ASSERT_TRUE(pcap.flush());
}

// Classic pcap, as PcapWriter writes it: little-endian, microseconds.
std::vector<std::string> read_capture(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> frames;
  auto u32 = [&](size_t at) {
    return static_cast<uint32_t>(static_cast<uint8_t>(all[at])) |
           static_cast<uint32_t>(static_cast<uint8_t>(all[at + 1])) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(all[at + 2])) << 16 |
           static_cast<uint32_t>(static_cast<uint8_t>(all[at + 3])) << 24;
  };
  for (size_t at = 24; at + 16 <= all.size();) {
    const uint32_t caplen = u32(at + 8);
    frames.push_back(all.substr(at + 16, caplen));
    at += 16 + caplen;
  }
  return frames;
}

struct Followed {
  uint16_t client_port = 0;
  std::string bytes[2];
};

// Parses tshark's follow,tcp,raw blocks: "Node 0: addr:port" and "Node 1"
// name the sides; data lines are hex, node 1's indented by a tab.
std::vector<Followed> parse_follow(const std::string& text) {
  std::vector<Followed> out;
  std::istringstream in(text);
  std::string line;
  Followed cur;
  uint16_t node_port[2] = {0, 0};
  bool in_block = false;
  auto hex = [](const std::string& h) {
    std::string b;
    for (size_t i = 0; i + 1 < h.size(); i += 2) {
      b += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
    }
    return b;
  };
  while (std::getline(in, line)) {
    if (line.rfind("Follow:", 0) == 0) {
      cur = Followed{};
      in_block = true;
      continue;
    }
    if (!in_block || line.empty() || line.rfind("Filter:", 0) == 0) continue;
    if (line.rfind("=====", 0) == 0) {
      out.push_back(cur);
      in_block = false;
      continue;
    }
    if (line.rfind("Node ", 0) == 0) {
      const int node = line[5] - '0';
      node_port[node] = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
      if (node_port[node] != kServerPort) cur.client_port = node_port[node];
      continue;
    }
    const bool second = line[0] == '\t';
    const uint16_t port = node_port[second ? 1 : 0];
    cur.bytes[port == kServerPort ? 1 : 0] += hex(line.substr(second ? 1 : 0));
  }
  return out;
}

TEST(StreamOracle, SameBytesAsTsharkFollow) {
  if (std::system("command -v tshark > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "tshark is not installed: the comparison with its follow,tcp,raw needs it";
  }
  const std::vector<Connection> conns = make_connections();
  std::string path_text =
      (std::filesystem::temp_directory_path() / "loupe-stream-oracle-XXXXXX").string();
  const int fd = mkstemp(path_text.data());
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string path = path_text;
  write_capture(conns, path);

  // Ours: the frames back through the decoder, one slot per connection.
  Recorder rec;
  StreamConfig config;
  config.max_bytes_per_direction = 0;
  StreamTable table(config, static_cast<uint32_t>(conns.size()), rec);
  for (uint32_t i = 0; i < conns.size(); i++) table.enable(i, i + 1);
  Decoder decoder;
  for (const std::string& f : read_capture(path)) {
    Decoded d;
    const auto* frame = reinterpret_cast<const uint8_t*>(f.data());
    ASSERT_EQ(decoder.decode(frame, static_cast<uint32_t>(f.size()), d), Malformed::ok);
    const uint8_t dir = d.dport == kServerPort ? 0 : 1;
    const uint32_t slot = (dir == 0 ? d.sport : d.dport) - kFirstClientPort;
    table.feed(slot, slot + 1, dir, d, frame);
  }
  for (uint32_t i = 0; i < conns.size(); i++) table.finish(i);

  // tshark's, every stream in one run.
  std::string cmd = "tshark -r '" + path + "' -q";
  for (size_t i = 0; i < conns.size(); i++) cmd += " -z follow,tcp,raw," + std::to_string(i);
  cmd += " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string text;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
  const int rc = pclose(p);
  std::remove(path.c_str());
  ASSERT_EQ(rc, 0) << cmd;
  const std::vector<Followed> followed = parse_follow(text);
  ASSERT_EQ(followed.size(), conns.size());

  uint64_t overlaps_written = 0;
  for (const Connection& c : conns) {
    for (const Seg& s : c.segs)
      overlaps_written += s.bytes != c.payload[s.dir].substr(s.off, s.bytes.size());
  }
  ASSERT_GT(overlaps_written, 20u) << "the capture must hold overlaps with other bytes";
  EXPECT_GT(table.counters().ooo_segments.get(), 100u);
  EXPECT_GT(table.counters().retransmissions.get(), 20u);

  for (const Followed& f : followed) {
    const uint32_t slot = f.client_port - kFirstClientPort;
    ASSERT_LT(slot, conns.size());
    const Connection& c = conns[slot];
    for (uint8_t dir = 0; dir < 2; dir++) {
      SCOPED_TRACE("connection " + std::to_string(slot) + " direction " + std::to_string(dir));
      ASSERT_FALSE(f.bytes[dir].empty());
      if (c.hole && dir == 0) {
        // tshark shows nothing past a hole that is never filled; loupe
        // reports the hole's size and goes on.
        EXPECT_EQ(f.bytes[0].size(), c.hole_off);
        EXPECT_EQ(rec.stream(slot, 0).substr(0, c.hole_off), f.bytes[0]);
        const auto gap = std::find_if(rec.chunks.begin(), rec.chunks.end(), [&](const auto& ch) {
          return ch.slot == slot && ch.dir == 0 && ch.gap != 0;
        });
        ASSERT_NE(gap, rec.chunks.end());
        EXPECT_EQ(gap->gap, c.hole_len);
        EXPECT_EQ(rec.stream(slot, 0).size(), c.payload[0].size() - c.hole_len);
        continue;
      }
      // Compared whole: a mismatch names its first differing byte.
      const std::string ours = rec.stream(slot, dir);
      EXPECT_EQ(ours.size(), f.bytes[dir].size());
      const auto diff =
          std::mismatch(ours.begin(), ours.end(), f.bytes[dir].begin(), f.bytes[dir].end());
      EXPECT_TRUE(diff.first == ours.end() && diff.second == f.bytes[dir].end())
          << "first difference at byte " << (diff.first - ours.begin());
      for (const auto& ch : rec.chunks) {
        if (ch.slot == slot && ch.dir == dir) {
          EXPECT_EQ(ch.gap, 0u);
        }
      }
    }
  }
}

}  // namespace
}  // namespace loupe
