#include "engine/flow/flow_table.h"

#include <netinet/in.h>
#include <rte_branch_prediction.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace loupe {
namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000ULL;
constexpr uint32_t kClockExamine = 32;  // in-use entries CLOCK looks at per eviction

size_t heap_bytes(int socket) {
  rte_malloc_socket_stats stats{};
  if (rte_malloc_get_socket_stats(socket < 0 ? 0 : socket, &stats) != 0) return 0;
  return stats.heap_allocsz_bytes;
}

TimeoutClass initial_class(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP: return kTcpNew;
    case IPPROTO_UDP: return kUdp;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: return kIcmp;
    default: return kOther;
  }
}

}  // namespace

FlowTable::FlowTable(const FlowConfig& config, const char* name, uint32_t worker_id, int socket,
                     FlowSink& sink)
    : sink_(sink),
      capacity_(config.capacity),
      worker_id_(worker_id),
      active_ns_(uint64_t{config.timeouts.active} * kNsPerSec),
      wheel_(nullptr) {
  const size_t before = heap_bytes(socket);
  rte_hash_parameters params{};
  params.name = name;
  // Cuckoo insertion slows down sharply as buckets fill up (long
  // displacement searches): give the hash 1/8 more key slots than flows, which
  // for a power-of-two capacity doubles the buckets and keeps them at most
  // half full. The capacity itself is enforced by eviction.
  params.entries = capacity_ + capacity_ / 8 + 8;
  params.key_len = sizeof(FlowKey);
  params.hash_func = rte_hash_crc;
  params.hash_func_init_val = 0;
  params.socket_id = socket;
  // Extendable buckets: every one of `capacity` keys fits, whatever the hashes.
  // A deleted key's slot is freed by end_flow() or release(), not by the
  // delete: a held entry keeps its index while its key is gone. DPDK
  // supports that deferral with extendable buckets only in its lock-free
  // mode (an emptied extendable bucket is recycled when the slot of the key
  // that emptied it is freed; without that mode the delete writes to an
  // array that was never allocated). One thread uses the table all the same.
  params.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE | RTE_HASH_EXTRA_FLAGS_NO_FREE_ON_DEL |
                      RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
  hash_ = rte_hash_create(&params);
  if (hash_ == nullptr)
    throw std::runtime_error(std::string("flow table ") + name + ": cannot create the hash of " +
                             std::to_string(capacity_) + " flows: " + rte_strerror(rte_errno));
  slots_ = static_cast<uint32_t>(rte_hash_max_key_id(hash_)) + 1;
  max_held_ = params.entries - capacity_;
  flows_ = static_cast<Flow*>(rte_zmalloc_socket(name, size_t{slots_} * sizeof(Flow),
                                                 alignof(Flow), socket));
  if (flows_ == nullptr) {
    rte_hash_free(hash_);
    throw std::runtime_error(std::string("flow table ") + name + ": cannot allocate " +
                             std::to_string(size_t{slots_} * sizeof(Flow) >> 20) + " MiB");
  }
  wheel_ = TimerWheel(flows_);
  memory_bytes_ = heap_bytes(socket) - before;

  const auto& t = config.timeouts;
  idle_ns_[kTcpNew] = uint64_t{t.tcp_new} * kNsPerSec;
  idle_ns_[kTcp] = uint64_t{t.tcp} * kNsPerSec;
  idle_ns_[kTcpClosed] = uint64_t{t.tcp_closed} * kNsPerSec;
  idle_ns_[kUdp] = uint64_t{t.udp} * kNsPerSec;
  idle_ns_[kIcmp] = uint64_t{t.icmp} * kNsPerSec;
  idle_ns_[kOther] = uint64_t{t.other} * kNsPerSec;
}

FlowTable::~FlowTable() {
  rte_free(flows_);
  rte_hash_free(hash_);
}

uint32_t FlowTable::hash(const FlowKey& key) { return rte_hash_crc(&key, sizeof(key), 0); }

void FlowTable::lookup_burst(const FlowKey* const* keys, const uint32_t* sigs, uint32_t n,
                             uint32_t* idx) const {
  int32_t pos[kMaxBurst];
  rte_hash_lookup_with_hash_bulk(hash_, reinterpret_cast<const void**>(const_cast<const FlowKey**>(keys)),
                                 const_cast<uint32_t*>(sigs), n, pos);
  for (uint32_t i = 0; i < n; i++) {
    idx[i] = pos[i] >= 0 ? static_cast<uint32_t>(pos[i]) : kNoFlow;
    if (pos[i] >= 0) rte_prefetch0(&flows_[pos[i]]);
  }
}

uint64_t FlowTable::deadline(const Flow& f) const {
  const uint64_t idle = idle_deadline(f);
  const uint64_t active = f.active_since_ns + active_ns_;
  const uint64_t timeout = idle < active ? idle : active;
  const uint64_t own = sink_.next_timer_ns(f);
  return own < timeout ? own : timeout;
}

EndReason FlowTable::close_reason(const Flow& f) {
  if (f.state != FlowState::kClosed) return EndReason::timeout;
  return (f.tcp_seen & (kSeenRst | kSeenRst << 1)) ? EndReason::tcp_rst : EndReason::tcp_fin;
}

uint32_t FlowTable::find_or_create(const FlowKey& key, uint32_t sig, uint32_t known_idx,
                                   uint8_t side, const Decoded& d, uint64_t now_ns,
                                   bool known_absent) {
  int32_t pos = known_idx != kNoFlow ? static_cast<int32_t>(known_idx)
                : known_absent       ? -ENOENT
                                     : rte_hash_lookup_with_hash(hash_, &key, sig);
  if (likely(pos >= 0)) {
    const Flow& f = flows_[pos];
    // A flow whose idle time ran out before this packet ended then, even if
    // the wheel has not come round to it yet: the result does not depend on
    // when timers run.
    if (likely(now_ns <= idle_deadline(f))) return static_cast<uint32_t>(pos);
    end_flow(static_cast<uint32_t>(pos), close_reason(f));
  }
  return create(key, sig, side, d, now_ns);
}

uint32_t FlowTable::create(const FlowKey& key, uint32_t sig, uint8_t side, const Decoded& d,
                           uint64_t now_ns) {
  if (counters_.active.get() >= capacity_) evict_one();
  const int32_t pos = rte_hash_add_key_with_hash(hash_, &key, sig);
  // Extendable buckets and the capacity check above make a failure a bug.
  assert(pos >= 0);
  Flow& f = flows_[pos];
  std::memset(static_cast<void*>(&f), 0, sizeof(Flow));
  f.key = key;
  f.sig = sig;
  f.in_use = kFlowLive;
  f.first_ns = f.last_ns = f.active_since_ns = now_ns;
  f.flow_id = (next_seq_++ << 7) | worker_id_;
  f.state = FlowState::kNew;
  f.tclass = initial_class(key.proto);
  // The client is the side that started the flow; a SYN-ACK seen first was
  // sent by the server.
  f.client = side;
  if (key.proto == IPPROTO_TCP && (d.tcp_flags & 0x12) == 0x12) f.client = side ^ 1;
  f.icmp_type = d.icmp_type;
  f.icmp_code = d.icmp_code;
  f.l7_state = UINT32_MAX;
  f.l7_meta = kNoMeta;
  // The wheel starts at the first flow's time, not at the first advance():
  // a burst spanning seconds must not skip the slots it filed flows in.
  if (wheel_slot_ == 0) wheel_slot_ = now_ns / TimerWheel::kSlotNs;
  file(static_cast<uint32_t>(pos), now_ns);
  counters_.created.add();
  counters_.active.add();
  creations_++;
  return static_cast<uint32_t>(pos);
}

void FlowTable::update(uint32_t idx, uint8_t side, const Decoded& d, uint32_t wire_len,
                       uint64_t ts_ns) {
  Flow& f = flows_[idx];
  f.pkts[side]++;
  f.bytes[side] += wire_len;
  if (ts_ns > f.last_ns) f.last_ns = ts_ns;
  // A flow earns its second chance with its second packet: one-packet flows
  // (scans, lone datagrams) are the first to go when the table is full.
  if (f.pkts[0] + f.pkts[1] > 1) f.referenced = 1;
  f.tcp_seen |= static_cast<uint8_t>(kSeenData << side);
  if (unlikely(f.state == FlowState::kNew) &&
      (f.tcp_seen & (kSeenData | kSeenData << 1)) == (kSeenData | kSeenData << 1)) {
    f.state = FlowState::kEstablished;
    if (f.tclass == kTcpNew) f.tclass = kTcp;  // a later deadline: the wheel catches up lazily
  }
  if (d.l4_proto != IPPROTO_TCP) return;
  const uint8_t flags = d.tcp_flags;
  if (likely((flags & 0x07) == 0)) return;  // no FIN, SYN or RST
  if (flags & 0x02) f.tcp_seen |= static_cast<uint8_t>(kSeenSyn << side);
  if (flags & 0x01) f.tcp_seen |= static_cast<uint8_t>(kSeenFin << side);
  if (flags & 0x04) f.tcp_seen |= static_cast<uint8_t>(kSeenRst << side);
  const bool rst = f.tcp_seen & (kSeenRst | kSeenRst << 1);
  const bool fins = (f.tcp_seen & (kSeenFin | kSeenFin << 1)) == (kSeenFin | kSeenFin << 1);
  if (f.state != FlowState::kClosed && (rst || fins)) {
    // The deadline moves earlier, which the lazy wheel cannot see: re-file.
    f.state = FlowState::kClosed;
    f.tclass = kTcpClosed;
    wheel_.cancel(idx);
    file(idx, ts_ns);
  }
}

void FlowTable::advance(uint64_t now_ns) {
  const uint64_t now_slot = now_ns / TimerWheel::kSlotNs;
  if (wheel_slot_ == 0) wheel_slot_ = now_slot;
  if (now_slot <= wheel_slot_) return;
  uint64_t from = wheel_slot_ + 1;
  if (now_slot - wheel_slot_ > TimerWheel::kSlots) from = now_slot - TimerWheel::kSlots + 1;
  for (uint64_t s = from; s <= now_slot; s++) {
    uint32_t i = wheel_.take_slot(s);
    while (i != kNoFlow) {
      Flow& f = flows_[i];
      const uint32_t next = f.timer_next;
      f.timer_next = f.timer_prev = kNoFlow;  // off the wheel now
      if (now_ns > idle_deadline(f)) {
        end_flow(i, close_reason(f), /*on_wheel=*/false);
      } else {
        if (now_ns > f.active_since_ns + active_ns_) {
          sink_.on_flow_record(f, EndReason::active_timeout);
          counters_.ended[static_cast<int>(EndReason::active_timeout)].add();
          for (int side = 0; side < 2; side++) {
            f.reported_pkts[side] = f.pkts[side];
            f.reported_bytes[side] = f.bytes[side];
          }
          f.active_since_ns = now_ns;
        }
        sink_.on_flow_timer(f, now_ns);
        file(i, now_ns);
      }
      i = next;
    }
  }
  wheel_slot_ = now_slot;
}

void FlowTable::end_flow(uint32_t idx, EndReason reason, bool on_wheel) {
  Flow& f = flows_[idx];
  const bool held = sink_.on_flow_record(f, reason) && can_hold();
  counters_.ended[static_cast<int>(reason)].add();
  counters_.active.set(counters_.active.get() - 1);
  if (on_wheel) wheel_.cancel(idx);
  const int32_t pos = rte_hash_del_key_with_hash(hash_, &f.key, f.sig);
  assert(pos == static_cast<int32_t>(idx));
  epoch_++;
  if (held) {
    f.in_use = kFlowHeld;
    held_++;
    return;
  }
  rte_hash_free_key_with_position(hash_, pos);
  f.in_use = kFlowFree;
}

void FlowTable::release(uint32_t idx) {
  Flow& f = flows_[idx];
  assert(f.in_use == kFlowHeld);
  rte_hash_free_key_with_position(hash_, static_cast<int32_t>(idx));
  f.in_use = kFlowFree;
  held_--;
}

void FlowTable::evict_one() {
  // CLOCK: sweep from the hand, giving referenced flows a second chance; a
  // flow untouched since the hand last passed (or that never had a second
  // packet) is evicted. The sweep is bounded: after kClockExamine referenced
  // flows, the least recently seen of them goes.
  uint32_t best = kNoFlow;
  uint64_t best_last = UINT64_MAX;
  uint32_t examined = 0;
  for (uint32_t step = 0; step < slots_ && examined < kClockExamine; step++) {
    const uint32_t i = clock_hand_;
    clock_hand_ = clock_hand_ + 1 == slots_ ? 0 : clock_hand_ + 1;
    Flow& f = flows_[i];
    if (f.in_use != kFlowLive) continue;
    if (!f.referenced) {
      best = i;
      break;
    }
    f.referenced = 0;
    examined++;
    if (f.last_ns < best_last) {
      best_last = f.last_ns;
      best = i;
    }
  }
  assert(best != kNoFlow);
  end_flow(best, EndReason::evicted);
}

void FlowTable::flush_all(EndReason reason) {
  for (uint32_t i = 0; i < slots_; i++)
    if (flows_[i].in_use == kFlowLive) end_flow(i, reason);
}

}  // namespace loupe
