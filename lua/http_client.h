// The HTTP client behind ArkimeHttpService (contract §5.8, §3.7): one
// thread of its own (`lua-http`, on the control side) that performs
// requests with libcurl's multi interface, and one HttpPort per requesting
// VM slot (each worker, and the control VM) through which requests arrive
// and replies go back. Engine-neutral: no Lua type here.
//
// A port is two bounded single-producer single-consumer byte rings:
// requests (the VM's thread writes, the client reads) and replies (the
// client writes, the VM's thread reads). Neither side ever waits for the
// other: a full request ring refuses the request, and a reply that does not
// fit waits on the client's side until the VM has made room. Each request
// carries the generation of the VM that made it, and its reply the same:
// the port outlives the VMs attached to it one after the other, and a reply
// for a VM that was replaced is dropped when it is read (and counted).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/common/counter.h"

namespace loupe {

struct LuaHttpConfig;

// A bounded SPSC ring of variable-length records in 64-byte slots. A
// record never wraps: when it would, the producer pads to the end of the
// ring first. Records longer than half the ring are refused.
class HttpRing {
 public:
  static constexpr size_t kSlotBytes = 64;

  explicit HttpRing(size_t bytes);  // rounded up to a power of two slots, at least 4
  HttpRing(const HttpRing&) = delete;
  HttpRing& operator=(const HttpRing&) = delete;

  // -- Producer. Room for `len` bytes, 8-aligned, or null when the ring is
  // full or the record too long; commit() publishes what was written there.
  std::byte* reserve(size_t len);
  void commit();

  // -- Consumer. The oldest record, if any; valid until pop().
  bool peek(const std::byte** data, size_t* len);
  void pop();

  // Consumer: whether nothing is waiting (two loads, no call).
  bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed);
  }

  size_t capacity_bytes() const { return (mask_ + 1) * kSlotBytes; }
  // Longest record reserve() can take.
  size_t max_record() const;

 private:
  struct Header {
    uint32_t slots;
    uint32_t len;  // kPadding: skip to the end of the ring
  };
  static constexpr uint32_t kPadding = UINT32_MAX;

  std::unique_ptr<std::byte[]> ring_;
  size_t mask_;
  // Producer's side.
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t tail_seen_ = 0;
  uint64_t pending_head_ = 0;  // where the reserved record starts
  uint64_t pending_slots_ = 0;
  // Consumer's side.
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t head_seen_ = 0;
};

// Why a request has no complete response (the callback's `err`).
enum class HttpError : uint8_t { kNone, kTimeout, kConnect, kTruncated, kShutdown };
inline constexpr const char* kHttpErrorNames[] = {nullptr, "timeout", "connect", "truncated",
                                                  "shutdown"};

// What the VM side puts in a request record.
struct HttpRequest {
  uint64_t id = 0;          // the VM's own number for the reply
  uint32_t generation = 0;  // HttpPort::attach() of the requesting VM
  uint16_t max_connections = 1;
  std::string_view pool;  // canonical base URLs, comma-separated
  std::string_view method;
  std::string_view path;  // appended to the base URL
  std::string_view data;  // request body; "" none
};

// A reply as the VM side reads it: views into the reply ring.
struct HttpReply {
  uint64_t id = 0;
  uint32_t generation = 0;
  uint16_t code = 0;  // HTTP status; 0 without a response
  HttpError error = HttpError::kNone;
  std::string_view body;
};

class HttpClient;

// Counters of §7.4 (loupe_lua_async_requests_total{result},
// loupe_lua_async_dropped_total{reason}). Each is written by one thread:
// results and client-side shutdown drops by the client, the rest by the
// VM's thread.
struct HttpPortCounters {
  Counter ok, timeout, connect, truncated;  // results, counted by the client
  Counter shutdown_client;                  // "shutdown" replies made by the client
  Counter shutdown_lost;                    // of those, lost for want of room
  Counter shutdown_vm;                      // unread requests the VM answered "shutdown"
  Counter refused;                          // maxRequests outstanding, or the client stopped
  Counter ring_full;                        // request ring full (or the request too long)
  Counter reload;                           // replies for a replaced VM, dropped
  Counter delivered;                        // callbacks run (any result)
};

class HttpPort {
 public:
  HttpPort(HttpClient* client, size_t request_bytes, size_t reply_bytes);
  HttpPort(const HttpPort&) = delete;
  HttpPort& operator=(const HttpPort&) = delete;

  // -- The VM's thread.
  // A new generation, for a VM starting to use this port; replies made for
  // earlier ones are dropped from then on.
  uint32_t attach() { return ++generation_; }
  uint32_t generation() const { return generation_; }
  // Queues a request. False when the ring is full, the request is longer
  // than half of it (both counted in ring_full) or the client stopped
  // (counted in refused). Never waits.
  bool submit(const HttpRequest& r);
  // The next reply, if any (decoded in place); pop_reply() releases it.
  bool next_reply(HttpReply* out);
  void pop_reply() { replies_.pop(); }
  // After the client stopped: requests it never read, one at a time, so
  // that the VM answers them "shutdown" itself. Only then is the VM's
  // thread the request ring's consumer.
  bool next_unread_request(HttpRequest* out);
  void pop_unread_request() { requests_.pop(); }
  // True once the client's thread has ended (acquire).
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  // Whether deliver_http_replies() has anything to do: what a worker tests
  // at each poll iteration before entering the VM's side at all.
  bool has_work() const { return !replies_.empty() || (stopped() && !requests_.empty()); }

  HttpPortCounters counters;

 private:
  friend class HttpClient;
  HttpClient* client_;
  HttpRing requests_;
  HttpRing replies_;
  uint32_t generation_ = 0;
  std::atomic<bool> stopped_{false};
};

struct HttpClientOptions {
  uint32_t timeout_ms = 5000;  // from acceptance by the client to the whole response
  uint64_t max_response_bytes = uint64_t{1} << 20;
  size_t request_ring_bytes = size_t{256} << 10;
  size_t reply_ring_bytes = size_t{4} << 20;
  uint32_t ports = 1;  // VM slots: workers 0..N-1, then the control VM
};
HttpClientOptions http_client_options(const LuaHttpConfig& c, uint32_t ports);

// The client thread. Ports are made with it and live as long as it.
class HttpClient {
 public:
  // Starts the `lua-http` thread. Throws std::runtime_error when libcurl
  // cannot be set up.
  explicit HttpClient(const HttpClientOptions& o);
  ~HttpClient();  // stop()
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpPort& port(size_t i) { return *ports_[i]; }
  const HttpPort& port(size_t i) const { return *ports_[i]; }
  size_t ports() const { return ports_.size(); }
  const HttpClientOptions& options() const { return opt_; }

  // Ends the thread: transfers in progress, queued requests and requests
  // still in the rings get "shutdown" replies (those that find no room are
  // dropped and counted). Requests submitted later are refused. Idempotent;
  // control side.
  void stop();

  // Any thread: makes the client look at its rings now (at most one
  // wake-up is in flight at a time, so a burst of requests costs one).
  void wake();

  // Sum of every port's counters, for metrics (any thread).
  struct Totals {
    uint64_t ok = 0, timeout = 0, connect = 0, truncated = 0, refused = 0;
    uint64_t ring_full = 0, reload = 0, shutdown = 0;
  };
  Totals totals() const;

 private:
  struct Impl;
  void run();

  HttpClientOptions opt_;
  std::vector<std::unique_ptr<HttpPort>> ports_;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> wake_pending_{false};
  std::thread thread_;
};

}  // namespace loupe
