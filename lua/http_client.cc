// lua/http_client.h: the rings, the ports and the `lua-http` thread.
#include "lua/http_client.h"

#include <curl/curl.h>
#include <pthread.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "lua/lua_config.h"

namespace loupe {

// --- HttpRing -----------------------------------------------------------------

HttpRing::HttpRing(size_t bytes)
    : mask_(std::bit_ceil(std::max<size_t>((bytes + kSlotBytes - 1) / kSlotBytes, 4)) - 1) {
  ring_ = std::make_unique<std::byte[]>((mask_ + 1) * kSlotBytes);
}

size_t HttpRing::max_record() const { return (mask_ + 1) / 2 * kSlotBytes - sizeof(Header); }

std::byte* HttpRing::reserve(size_t len) {
  if (len > max_record()) return nullptr;
  const size_t cap = mask_ + 1;
  const size_t need = (len + sizeof(Header) + kSlotBytes - 1) / kSlotBytes;
  uint64_t head = head_.load(std::memory_order_relaxed);
  const size_t at = head & mask_;
  const size_t pad = at + need > cap ? cap - at : 0;
  if (head + pad + need - tail_seen_ > cap) {
    tail_seen_ = tail_.load(std::memory_order_acquire);
    if (head + pad + need - tail_seen_ > cap) return nullptr;
  }
  if (pad != 0) {
    const Header h{static_cast<uint32_t>(pad), kPadding};
    std::memcpy(&ring_[at * kSlotBytes], &h, sizeof(h));
    head += pad;
  }
  std::byte* p = &ring_[(head & mask_) * kSlotBytes];
  const Header h{static_cast<uint32_t>(need), static_cast<uint32_t>(len)};
  std::memcpy(p, &h, sizeof(h));
  pending_head_ = head;
  pending_slots_ = need;
  return p + sizeof(Header);
}

void HttpRing::commit() {
  head_.store(pending_head_ + pending_slots_, std::memory_order_release);
  pending_slots_ = 0;
}

bool HttpRing::peek(const std::byte** data, size_t* len) {
  uint64_t tail = tail_.load(std::memory_order_relaxed);
  for (;;) {
    if (tail == head_seen_) {
      head_seen_ = head_.load(std::memory_order_acquire);
      if (tail == head_seen_) return false;
    }
    Header h;
    const std::byte* p = &ring_[(tail & mask_) * kSlotBytes];
    std::memcpy(&h, p, sizeof(h));
    if (h.len != kPadding) {
      *data = p + sizeof(Header);
      *len = h.len;
      return true;
    }
    tail += h.slots;
    tail_.store(tail, std::memory_order_release);
  }
}

void HttpRing::pop() {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  Header h;
  std::memcpy(&h, &ring_[(tail & mask_) * kSlotBytes], sizeof(h));
  tail_.store(tail + h.slots, std::memory_order_release);
}

// --- Records --------------------------------------------------------------------

namespace {

struct RequestHead {
  uint64_t id;
  uint32_t generation;
  uint16_t max_connections;
  uint16_t pool_len;
  uint32_t method_len;
  uint32_t path_len;
  uint32_t data_len;
  uint32_t unused;
};

struct ReplyHead {
  uint64_t id;
  uint32_t generation;
  uint16_t code;
  uint8_t error;
  uint8_t unused;
  uint32_t body_len;
  uint32_t unused2;
};

bool decode_request(const std::byte* p, size_t len, HttpRequest* out) {
  RequestHead h;
  if (len < sizeof(h)) return false;
  std::memcpy(&h, p, sizeof(h));
  const char* s = reinterpret_cast<const char*>(p + sizeof(h));
  out->id = h.id;
  out->generation = h.generation;
  out->max_connections = h.max_connections;
  out->pool = {s, h.pool_len};
  out->method = {s + h.pool_len, h.method_len};
  out->path = {s + h.pool_len + h.method_len, h.path_len};
  out->data = {s + h.pool_len + h.method_len + h.path_len, h.data_len};
  return true;
}

bool push_reply(HttpRing& ring, uint64_t id, uint32_t generation, uint16_t code, HttpError error,
                std::string_view body) {
  std::byte* p = ring.reserve(sizeof(ReplyHead) + body.size());
  if (p == nullptr) return false;
  const ReplyHead h{
      id, generation, code, static_cast<uint8_t>(error), 0, static_cast<uint32_t>(body.size()), 0};
  std::memcpy(p, &h, sizeof(h));
  if (!body.empty()) std::memcpy(p + sizeof(h), body.data(), body.size());
  ring.commit();
  return true;
}

std::once_flag curl_init_once;

}  // namespace

// --- HttpPort ------------------------------------------------------------------

HttpPort::HttpPort(HttpClient* client, size_t request_bytes, size_t reply_bytes)
    : client_(client), requests_(request_bytes), replies_(reply_bytes) {}

bool HttpPort::submit(const HttpRequest& r) {
  if (stopped()) {
    counters.refused.add();
    return false;
  }
  const size_t len =
      sizeof(RequestHead) + r.pool.size() + r.method.size() + r.path.size() + r.data.size();
  std::byte* p = r.pool.size() > UINT16_MAX ? nullptr : requests_.reserve(len);
  if (p == nullptr) {
    counters.ring_full.add();
    return false;
  }
  const RequestHead h{r.id,
                      r.generation,
                      r.max_connections,
                      static_cast<uint16_t>(r.pool.size()),
                      static_cast<uint32_t>(r.method.size()),
                      static_cast<uint32_t>(r.path.size()),
                      static_cast<uint32_t>(r.data.size()),
                      0};
  std::memcpy(p, &h, sizeof(h));
  p += sizeof(h);
  for (std::string_view s : {r.pool, r.method, r.path, r.data}) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  requests_.commit();
  client_->wake();
  return true;
}

bool HttpPort::next_reply(HttpReply* out) {
  const std::byte* p = nullptr;
  size_t len = 0;
  if (!replies_.peek(&p, &len)) return false;
  ReplyHead h;
  std::memcpy(&h, p, sizeof(h));
  out->id = h.id;
  out->generation = h.generation;
  out->code = h.code;
  out->error = static_cast<HttpError>(h.error);
  out->body = {reinterpret_cast<const char*>(p + sizeof(h)), h.body_len};
  return true;
}

bool HttpPort::next_unread_request(HttpRequest* out) {
  if (!stopped()) return false;
  const std::byte* p = nullptr;
  size_t len = 0;
  return requests_.peek(&p, &len) && decode_request(p, len, out);
}

// --- HttpClient ----------------------------------------------------------------

HttpClientOptions http_client_options(const LuaHttpConfig& c, uint32_t ports) {
  HttpClientOptions o;
  o.timeout_ms = c.timeout_ms;
  o.max_response_bytes = c.max_response_bytes;
  o.request_ring_bytes = c.request_ring_bytes;
  o.reply_ring_bytes = c.reply_ring_bytes;
  o.ports = ports;
  return o;
}

namespace {

using Clock = std::chrono::steady_clock;

struct Pool;

// One request from acceptance to its reply; owned by its pool's queue, then
// by the running map. Lives on the client's thread only.
struct Transfer {
  size_t port = 0;
  uint64_t id = 0;
  uint32_t generation = 0;
  std::string method, path, data, url, body;
  uint64_t max_body = 0;
  bool truncated = false;
  Clock::time_point deadline;
  Pool* pool = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
};

// The services of every VM with the same base URLs share one pool: its
// transfers in progress never exceed the largest maxConnections any of
// them asked for; the others wait in order.
struct Pool {
  std::vector<std::string> bases;
  uint16_t max_connections = 1;
  uint16_t running = 0;
  size_t next_base = 0;
  std::deque<std::unique_ptr<Transfer>> queue;
};

struct Backlogged {
  uint64_t id;
  uint32_t generation;
  uint16_t code;
  HttpError error;
  std::string body;
};

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  const size_t len = size * n;
  const size_t room = t->max_body - t->body.size();
  if (len > room) {
    t->body.append(p, room);
    t->truncated = true;
    return 0;  // anything short of len ends the transfer
  }
  t->body.append(p, len);
  return len;
}

}  // namespace

struct HttpClient::Impl {
  CURLM* multi = nullptr;
  std::unordered_map<std::string, Pool> pools;  // by canonical base URLs
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> running;
  std::vector<std::deque<Backlogged>> backlog;  // per port: replies waiting for room

  ~Impl() {
    if (multi != nullptr) curl_multi_cleanup(multi);
  }
};

HttpClient::HttpClient(const HttpClientOptions& o) : opt_(o), impl_(std::make_unique<Impl>()) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->multi = curl_multi_init();
  if (impl_->multi == nullptr) throw std::runtime_error("lua.http: cannot set up libcurl");
  // The reply ring must hold the longest reply, with room for a second.
  const size_t reply_bytes =
      std::max<size_t>(opt_.reply_ring_bytes, 2 * (opt_.max_response_bytes + 2 * 64 + 64));
  for (uint32_t i = 0; i < std::max<uint32_t>(opt_.ports, 1); ++i) {
    ports_.push_back(std::make_unique<HttpPort>(this, opt_.request_ring_bytes, reply_bytes));
  }
  impl_->backlog.resize(ports_.size());
  thread_ = std::thread([this] { run(); });
}

HttpClient::~HttpClient() { stop(); }

void HttpClient::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  curl_multi_wakeup(impl_->multi);
  thread_.join();
}

void HttpClient::wake() {
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) curl_multi_wakeup(impl_->multi);
}

HttpClient::Totals HttpClient::totals() const {
  Totals t;
  for (const auto& p : ports_) {
    const HttpPortCounters& c = p->counters;
    t.ok += c.ok.get();
    t.timeout += c.timeout.get();
    t.connect += c.connect.get();
    t.truncated += c.truncated.get();
    t.refused += c.refused.get();
    t.ring_full += c.ring_full.get();
    t.reload += c.reload.get();
    t.shutdown += c.shutdown_client.get() + c.shutdown_vm.get();
  }
  return t;
}

void HttpClient::run() {
  pthread_setname_np(pthread_self(), "lua-http");
  Impl& im = *impl_;
  auto reply = [&](size_t port, uint64_t id, uint32_t generation, uint16_t code, HttpError err,
                   std::string body) {
    HttpPortCounters& c = ports_[port]->counters;
    switch (err) {
      case HttpError::kNone:
        c.ok.add();
        break;
      case HttpError::kTimeout:
        c.timeout.add();
        break;
      case HttpError::kConnect:
        c.connect.add();
        break;
      case HttpError::kTruncated:
        c.truncated.add();
        break;
      case HttpError::kShutdown:
        c.shutdown_client.add();
        break;
    }
    auto& waiting = im.backlog[port];
    if (waiting.empty() && push_reply(ports_[port]->replies_, id, generation, code, err, body)) {
      return;
    }
    waiting.push_back({id, generation, code, err, std::move(body)});
  };

  auto flush_backlog = [&] {
    bool left = false;
    for (size_t i = 0; i < ports_.size(); ++i) {
      auto& waiting = im.backlog[i];
      while (!waiting.empty()) {
        const Backlogged& b = waiting.front();
        if (!push_reply(ports_[i]->replies_, b.id, b.generation, b.code, b.error, b.body)) break;
        waiting.pop_front();
      }
      left = left || !waiting.empty();
    }
    return left;
  };

  // Requests from every port's ring into their pools' queues.
  auto accept = [&] {
    for (size_t i = 0; i < ports_.size(); ++i) {
      HttpRing& ring = ports_[i]->requests_;
      const std::byte* p = nullptr;
      size_t len = 0;
      while (ring.peek(&p, &len)) {
        HttpRequest r;
        if (decode_request(p, len, &r)) {
          auto [it, made] = im.pools.try_emplace(std::string(r.pool));
          Pool& pool = it->second;
          if (made) {
            std::string_view rest = r.pool;
            while (!rest.empty()) {
              const size_t comma = rest.find(',');
              pool.bases.emplace_back(rest.substr(0, comma));
              rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            }
          }
          pool.max_connections = std::max(pool.max_connections, r.max_connections);
          auto t = std::make_unique<Transfer>();
          t->port = i;
          t->id = r.id;
          t->generation = r.generation;
          t->method = r.method;
          t->path = r.path;
          t->data = r.data;
          t->max_body = opt_.max_response_bytes;
          t->deadline = Clock::now() + std::chrono::milliseconds(opt_.timeout_ms);
          t->pool = &pool;
          if (pool.bases.empty()) {
            reply(i, t->id, t->generation, 0, HttpError::kConnect, {});
          } else {
            pool.queue.push_back(std::move(t));
          }
        }
        ring.pop();
      }
    }
  };

  auto start = [&](std::unique_ptr<Transfer> t) {
    Pool& pool = *t->pool;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(t->deadline - Clock::now());
    if (left.count() <= 0) {
      reply(t->port, t->id, t->generation, 0, HttpError::kTimeout, {});
      return;
    }
    t->url = pool.bases[pool.next_base++ % pool.bases.size()] + t->path;
    CURL* e = curl_easy_init();
    if (e == nullptr) {
      reply(t->port, t->id, t->generation, 0, HttpError::kConnect, {});
      return;
    }
    t->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, t->url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    // Straight to the allowed server: a proxy from the environment would
    // send the request somewhere lua.http.allow never named.
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    // No "Expect: 100-continue" round trip before a body.
    t->headers = curl_slist_append(nullptr, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    if (!t->data.empty() || t->method == "POST") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->data.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->data.data());
    }
    if (t->method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (t->method != "GET" && t->method != "POST") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method.c_str());
    } else if (t->method == "GET" && !t->data.empty()) {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
    }
    if (curl_multi_add_handle(im.multi, e) != CURLM_OK) {
      curl_easy_cleanup(e);
      curl_slist_free_all(t->headers);
      reply(t->port, t->id, t->generation, 0, HttpError::kConnect, {});
      return;
    }
    ++pool.running;
    im.running.emplace(e, std::move(t));
  };

  auto start_queued = [&] {
    for (auto& [key, pool] : im.pools) {
      while (!pool.queue.empty() && pool.running < pool.max_connections) {
        std::unique_ptr<Transfer> t = std::move(pool.queue.front());
        pool.queue.pop_front();
        start(std::move(t));
      }
      // Requests still waiting for a connection time out where they are.
      const auto now = Clock::now();
      while (!pool.queue.empty() && pool.queue.front()->deadline <= now) {
        const Transfer& t = *pool.queue.front();
        reply(t.port, t.id, t.generation, 0, HttpError::kTimeout, {});
        pool.queue.pop_front();
      }
    }
  };

  auto end_transfer = [&](CURL* e) {
    auto it = im.running.find(e);
    std::unique_ptr<Transfer> t = std::move(it->second);
    im.running.erase(it);
    curl_multi_remove_handle(im.multi, e);
    curl_easy_cleanup(e);
    curl_slist_free_all(t->headers);
    --t->pool->running;
    return t;
  };

  auto finish = [&] {
    bool any = false;
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(im.multi, &queued)) {
      if (m->msg != CURLMSG_DONE) continue;
      long code = 0;
      curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
      const CURLcode result = m->data.result;
      std::unique_ptr<Transfer> t = end_transfer(m->easy_handle);
      HttpError err = HttpError::kNone;
      if (t->truncated) {
        err = HttpError::kTruncated;
      } else if (result == CURLE_OPERATION_TIMEDOUT) {
        err = HttpError::kTimeout;
      } else if (result != CURLE_OK) {
        err = HttpError::kConnect;
      }
      reply(t->port, t->id, t->generation, static_cast<uint16_t>(std::clamp(code, 0L, 999L)), err,
            std::move(t->body));
      any = true;
    }
    return any;
  };

  bool busy = false;
  while (!stop_.load(std::memory_order_acquire)) {
    if (!busy) curl_multi_poll(im.multi, nullptr, 0, 100, nullptr);
    wake_pending_.store(false, std::memory_order_release);
    accept();
    start_queued();
    int still = 0;
    curl_multi_perform(im.multi, &still);
    busy = finish();
    if (busy) start_queued();
    if (flush_backlog()) {
      // The VM has not made room yet: look again soon, not at once.
      curl_multi_poll(im.multi, nullptr, 0, 1, nullptr);
    }
  }

  // Shutdown: everything not answered yet is answered "shutdown".
  while (!im.running.empty()) {
    std::unique_ptr<Transfer> t = end_transfer(im.running.begin()->first);
    reply(t->port, t->id, t->generation, 0, HttpError::kShutdown, {});
  }
  for (auto& [key, pool] : im.pools) {
    for (const auto& t : pool.queue) {
      reply(t->port, t->id, t->generation, 0, HttpError::kShutdown, {});
    }
    pool.queue.clear();
  }
  accept();
  for (auto& [key, pool] : im.pools) {
    for (const auto& t : pool.queue) {
      reply(t->port, t->id, t->generation, 0, HttpError::kShutdown, {});
    }
    pool.queue.clear();
  }
  flush_backlog();
  for (size_t i = 0; i < ports_.size(); ++i) {
    ports_[i]->counters.shutdown_lost.add(im.backlog[i].size());
    im.backlog[i].clear();
    ports_[i]->stopped_.store(true, std::memory_order_release);
  }
}

}  // namespace loupe
