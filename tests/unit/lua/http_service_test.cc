// ArkimeHttpService (contract §5.8, §3.7): URL rules and the allow list,
// the SPSC ring, and requests from a VM through the real client to a small
// HTTP/1.1 server on loopback that this test runs on its own threads.
#include "lua/http_service.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <lua.hpp>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "config/loader.h"
#include "lua/http_client.h"
#include "lua/http_url.h"
#include "lua/script_host.h"
#include "lua_test_util.h"

namespace loupe {
namespace {

using namespace std::chrono_literals;
using test::KeptLog;

// --- URLs and the allow list ------------------------------------------------------

bool allowed(const char* url, std::vector<std::string> allow) {
  const auto u = parse_http_url(url, nullptr);
  return u && http_url_allowed(*u, allow);
}

TEST(HttpUrl, ContractExamples) {
  const std::vector<std::string> allow = {"http://10.0.0.1/api"};
  EXPECT_TRUE(allowed("http://10.0.0.1/api", allow));
  EXPECT_TRUE(allowed("http://10.0.0.1:80/api/v1", allow));
  EXPECT_TRUE(allowed("http://10.0.0.1/api/", allow));
  EXPECT_FALSE(allowed("http://10.0.0.1/apiv2", allow));
  EXPECT_FALSE(allowed("http://10.0.0.1.evil.example/", allow));
  EXPECT_FALSE(allowed("http://10.0.0.1:9999/", allow));
  EXPECT_FALSE(allowed("http://10.0.0.1/", allow));
  EXPECT_FALSE(allowed("https://10.0.0.1/api", allow));
}

TEST(HttpUrl, HostsPortsAndSchemes) {
  EXPECT_TRUE(allowed("http://TI.Example.COM/x", {"http://ti.example.com"}));
  EXPECT_TRUE(allowed("HTTPS://ti.example.com:443/", {"https://ti.example.com"}));
  EXPECT_FALSE(allowed("https://ti.example.com:8443/", {"https://ti.example.com"}));
  EXPECT_FALSE(allowed("http://ti.example.com:443/", {"https://ti.example.com"}));
  // IP literals compare as addresses.
  EXPECT_TRUE(allowed("http://[2001:0db8:0:0::1]:8080/q", {"http://[2001:db8::1]:8080"}));
  EXPECT_FALSE(allowed("http://[2001:db8::2]:8080/q", {"http://[2001:db8::1]:8080"}));
  EXPECT_FALSE(allowed("http://127.0.0.1/", {}));  // empty denies all
  // An entry that does not parse admits nothing.
  EXPECT_FALSE(allowed("http://127.0.0.1/", {"127.0.0.1"}));
}

TEST(HttpUrl, Refused) {
  std::string why;
  EXPECT_FALSE(parse_http_url("http://user:pw@10.0.0.1/", &why));
  EXPECT_EQ(why, "user information is not allowed");
  EXPECT_FALSE(parse_http_url("http://10.0.0.1/api?x=1", &why));
  EXPECT_EQ(why, "a query is not allowed");
  EXPECT_FALSE(parse_http_url("http://10.0.0.1/api#f", &why));
  EXPECT_EQ(why, "a fragment is not allowed");
  EXPECT_FALSE(parse_http_url("ftp://10.0.0.1/", &why));
  EXPECT_FALSE(parse_http_url("http://10.0.0.1:0/", &why));
  EXPECT_FALSE(parse_http_url("http://10.0.0.1:65536/", &why));
  EXPECT_FALSE(parse_http_url("http://10.0.0.1/api/../admin", &why));
  EXPECT_FALSE(parse_http_url("http://10.0.0.1/api/%2E%2e/admin", &why));
  EXPECT_FALSE(parse_http_url("http:///x", &why));
  // A base path under the entry that climbs out is refused before the prefix test.
  EXPECT_FALSE(allowed("http://10.0.0.1/api/../secret", {"http://10.0.0.1/api"}));
  const auto u = parse_http_url("http://[::1]:8080/a/b/", &why);
  ASSERT_TRUE(u);
  EXPECT_EQ(canonical_url(*u), "http://[::1]:8080/a/b");
  EXPECT_EQ(canonical_url(*parse_http_url("https://Example.org", nullptr)),
            "https://example.org:443");
}

TEST(HttpUrl, RequestPathsAndMethods) {
  std::string why;
  EXPECT_TRUE(valid_http_path("/lookup?ip=10.0.0.1", &why));
  EXPECT_TRUE(valid_http_path("/", &why));
  EXPECT_TRUE(valid_http_path("/a/.../b", &why));
  EXPECT_TRUE(valid_http_path("/q?x=../y", &why));  // the query is not a path
  EXPECT_FALSE(valid_http_path("lookup", &why));
  EXPECT_EQ(why, "starts with '/'");
  for (const char* p :
       {"/..", "/a/../b", "/a/./b", "/%2e%2e/x", "/%2E/x", "/.%2e", "/a/..%2fb", "/a/..%5Cb"}) {
    EXPECT_FALSE(valid_http_path(p, &why)) << p;
    EXPECT_EQ(why, "has no '.' or '..' segment") << p;
  }
  for (const char* p : {"/a b", "/a#b", "/a\\b", "/\x7f", "/\xc3\xa9", "/a\nb"}) {
    EXPECT_FALSE(valid_http_path(p, &why)) << p;
  }
  EXPECT_TRUE(valid_http_method("GET"));
  EXPECT_TRUE(valid_http_method("PROPFIND"));
  EXPECT_FALSE(valid_http_method("get"));
  EXPECT_FALSE(valid_http_method(""));
  EXPECT_FALSE(valid_http_method("GET /x"));
  EXPECT_FALSE(valid_http_method("AAAAAAAAAAAAAAAAA"));
}

TEST(HttpUrl, ConfigRefusesBadAllowEntries) {
  const LoadResult ok = load_config_text(
      "lua:\n  http:\n    allow: [\"http://127.0.0.1:8080/api\", \"https://[::1]\"]\n", "t.yaml");
  ASSERT_TRUE(ok.config) << (ok.errors.empty() ? "" : ok.errors[0].message);
  EXPECT_EQ(ok.config->lua.http.allow.size(), 2u);
  EXPECT_EQ(ok.config->lua.http.timeout_ms, 5000u);
  const LoadResult bad = load_config_text(
      "lua:\n  http:\n    allow: [\"http://u@127.0.0.1/\", \"ftp://x\"]\n", "t.yaml");
  ASSERT_FALSE(bad.config);
  ASSERT_EQ(bad.errors.size(), 2u);
  EXPECT_NE(bad.errors[0].message.find("'http://u@127.0.0.1/' is not a base URL: user information "
                                       "is not allowed"),
            std::string::npos)
      << bad.errors[0].message;
  EXPECT_NE(bad.errors[1].message.find("'ftp://x' is not a base URL: the scheme must be http or "
                                       "https"),
            std::string::npos)
      << bad.errors[1].message;
}

// --- The ring -------------------------------------------------------------------------

TEST(HttpRing, FullThenRoomAgain) {
  HttpRing ring(1024);  // 16 slots of 64 bytes
  EXPECT_EQ(ring.capacity_bytes(), 1024u);
  EXPECT_EQ(ring.reserve(ring.max_record() + 1), nullptr);  // longer than half
  int pushed = 0;
  while (std::byte* p = ring.reserve(100)) {  // 2 slots each
    std::memset(p, pushed, 100);
    ring.commit();
    ++pushed;
  }
  EXPECT_EQ(pushed, 8);
  const std::byte* d = nullptr;
  size_t len = 0;
  ASSERT_TRUE(ring.peek(&d, &len));
  EXPECT_EQ(len, 100u);
  EXPECT_EQ(static_cast<int>(d[99]), 0);
  ring.pop();
  ASSERT_NE(ring.reserve(100), nullptr);  // the freed slots are usable again
  ring.commit();
}

// Two threads, records of random lengths that wrap around the ring many
// times: every record arrives once, in order, intact.
TEST(HttpRing, ProducerConsumerInOrder) {
  HttpRing ring(4096);
  constexpr int kRecords = 20000;
  std::thread producer([&] {
    std::mt19937 rng(7);
    for (int i = 0; i < kRecords; ++i) {
      const size_t len = 5 + rng() % 700;
      std::byte* p;
      while ((p = ring.reserve(len)) == nullptr) std::this_thread::yield();
      std::memcpy(p, &i, 4);
      std::memset(p + 4, i & 0xff, len - 4);
      ring.commit();
    }
  });
  std::mt19937 rng(7);
  int bad = 0;
  for (int i = 0; i < kRecords;) {
    const std::byte* d = nullptr;
    size_t len = 0;
    if (!ring.peek(&d, &len)) {
      std::this_thread::yield();
      continue;
    }
    int seq = -1;
    std::memcpy(&seq, d, 4);
    const size_t want = 5 + rng() % 700;
    if (seq != i || len != want || static_cast<int>(d[len - 1]) != (i & 0xff)) ++bad;
    ring.pop();
    ++i;
  }
  producer.join();
  EXPECT_EQ(bad, 0);
}

// --- A loopback HTTP server -----------------------------------------------------------

// HTTP/1.1 with keep-alive, one thread per connection. Paths:
//   /hello        200 "hello world"
//   /big          200, 10,000 bytes of 'x'
//   /slow         never answers (until the server stops)
//   /wait         200 "waited" after 150 ms
//   /echo...      200 "<method> <target> <body>"
//   /missing      404 "nope"
class TestServer {
 public:
  TestServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t n = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    port_ = ntohs(a.sin_port);
    listen(fd_, 64);
    accept_ = std::thread([this] { accept_loop(); });
  }
  ~TestServer() {
    stop_ = true;
    accept_.join();
    std::lock_guard<std::mutex> g(mu_);
    for (std::thread& t : conns_) t.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int max_active() const { return max_active_.load(); }
  int connections() const { return connections_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      connections_++;
      std::lock_guard<std::mutex> g(mu_);
      conns_.emplace_back([this, c] { serve(c); });
    }
  }

  // Reads until `n` bytes are in `buf` or the connection ends; false then.
  bool fill(int c, std::string& buf, size_t n) {
    char tmp[4096];
    while (buf.size() < n) {
      pollfd p{c, POLLIN, 0};
      if (stop_) return false;
      if (poll(&p, 1, 20) <= 0) continue;
      const ssize_t got = read(c, tmp, sizeof(tmp));
      if (got <= 0) return false;
      buf.append(tmp, static_cast<size_t>(got));
    }
    return true;
  }

  void serve(int c) {
    const int now = ++active_;
    int seen = max_active_.load();
    while (now > seen && !max_active_.compare_exchange_weak(seen, now)) {
    }
    std::string buf;
    for (;;) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!fill(c, buf, buf.size() + 1)) goto done;
        // Not HTTP (a TLS hello): answered as a plain server would, and closed.
        if (buf[0] < 'A' || buf[0] > 'Z') {
          const std::string bad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
          if (write(c, bad.data(), bad.size()) < 0) goto done;
          goto done;
        }
      }
      {
        const std::string head = buf.substr(0, end);
        size_t body_len = 0;
        const size_t cl = head.find("Content-Length: ");
        if (cl != std::string::npos) body_len = std::stoul(head.substr(cl + 16));
        if (!fill(c, buf, end + 4 + body_len)) goto done;
        const std::string body = buf.substr(end + 4, body_len);
        buf.erase(0, end + 4 + body_len);
        const std::string method = head.substr(0, head.find(' '));
        const size_t t0 = head.find(' ') + 1;
        const std::string target = head.substr(t0, head.find(' ', t0) - t0);
        int code = 200;
        std::string out;
        if (target == "/hello") {
          out = "hello world";
        } else if (target == "/big") {
          out.assign(10000, 'x');
        } else if (target == "/slow") {
          while (!stop_) std::this_thread::sleep_for(5ms);
          goto done;
        } else if (target == "/wait") {
          std::this_thread::sleep_for(150ms);
          out = "waited";
        } else if (target.rfind("/echo", 0) == 0) {
          out = method + " " + target + " " + body;
        } else {
          code = 404;
          out = "nope";
        }
        const std::string reply =
            "HTTP/1.1 " + std::to_string(code) + (code == 200 ? " OK" : " Not Found") +
            "\r\nContent-Length: " + std::to_string(out.size()) + "\r\n\r\n" + out;
        if (write(c, reply.data(), reply.size()) != static_cast<ssize_t>(reply.size())) goto done;
      }
    }
  done:
    --active_;
    close(c);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> active_{0}, max_active_{0}, connections_{0};
  std::mutex mu_;
  std::vector<std::thread> conns_;
  std::thread accept_;
};

// A port nobody listens on: bound once, then closed.
uint16_t closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t n = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  close(fd);
  return ntohs(a.sin_port);
}

// --- A VM with services ----------------------------------------------------------------

// One VM (its sandbox and one environment), as a worker or the control VM
// has it, and the replies it got: `results` in the script, one
// "code|body|err" string per callback.
struct HttpVm {
  KeptLog log;
  Generation gen;
  std::unique_ptr<ScriptHost> host;
  int env = LUA_NOREF;

  explicit HttpVm(std::vector<std::string> allow) {
    gen.config.http.allow = std::move(allow);
    host = std::make_unique<ScriptHost>("worker0", gen, &log);
    push_env(*host, -1, true);
    env = luaL_ref(host->L(), LUA_REGISTRYINDEX);
    EXPECT_EQ(run("results = {} "
                  "function keep(code, body, err) "
                  "  results[#results + 1] = code .. '|' .. body .. '|' .. tostring(err) end"),
              "");
  }
  lua_State* L() const { return host->L(); }

  // Runs `src`; its first result as a string, or "error: ...".
  std::string run(const std::string& src) {
    lua_State* l = L();
    const int base = lua_gettop(l);
    lua_rawgeti(l, LUA_REGISTRYINDEX, env);
    std::string err;
    if (!compile_script(*host, -1, src, "t.lua", &err)) {
      lua_settop(l, base);
      return "syntax: " + err;
    }
    lua_remove(l, -2);
    host->vm.begin_call();
    const int rc = lua_pcall(l, 0, 1, 0);
    host->vm.end_call();
    std::string out;
    if (rc != 0) {
      out = std::string("error: ") + lua_tostring(l, -1);
    } else if (!lua_isnil(l, -1)) {
      out = luaL_tolstring_compat(l);
    }
    lua_settop(l, base);
    return out;
  }
  static std::string luaL_tolstring_compat(lua_State* l) {
    if (lua_type(l, -1) == LUA_TBOOLEAN) return lua_toboolean(l, -1) ? "true" : "false";
    const char* s = lua_tostring(l, -1);
    return s != nullptr ? s : luaL_typename(l, -1);
  }

  int result_count() { return std::stoi(run("return #results")); }
  std::string result(int i) { return run("return results[" + std::to_string(i) + "]"); }

  // Delivers replies until `n` callbacks ran in total, or 5 s passed.
  bool wait_results(int n, size_t per_poll = 64) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (result_count() < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      if (deliver_http_replies(*host, per_poll) == 0) std::this_thread::sleep_for(2ms);
    }
    return true;
  }
};

HttpClientOptions options(uint32_t timeout_ms = 2000, uint64_t max_body = 1 << 20) {
  HttpClientOptions o;
  o.timeout_ms = timeout_ms;
  o.max_response_bytes = max_body;
  o.request_ring_bytes = 64 << 10;
  o.reply_ring_bytes = 64 << 10;
  o.ports = 2;
  return o;
}

TEST(HttpServiceLua, NewChecksItsArguments) {
  HttpVm vm({"http://127.0.0.1:8080/api", "https://ti.example.com"});
  EXPECT_EQ(vm.run("return type(ArkimeHttpService.new('http://127.0.0.1:8080/api/v1', 4, 256))"),
            "userdata");
  EXPECT_EQ(vm.run("return getmetatable(MolochHttpService.new('https://TI.example.com', 1, 1))"),
            "locked");
  EXPECT_EQ(vm.run("return type(ArkimeHttpService.new("
                   "'http://127.0.0.1:8080/api, https://ti.example.com:443/x', 64, 10000))"),
            "userdata");
  EXPECT_EQ(vm.run("ArkimeHttpService.new('http://10.9.9.9:80', 4, 256)"),
            "error: t.lua:1: ArkimeHttpService.new: 'http://10.9.9.9:80' is not allowed by "
            "lua.http.allow");
  EXPECT_EQ(vm.run("ArkimeHttpService.new('http://127.0.0.1:8080/apiv2', 4, 256)"),
            "error: t.lua:1: ArkimeHttpService.new: 'http://127.0.0.1:8080/apiv2' is not allowed "
            "by lua.http.allow");
  // One URL of the list not allowed refuses the service.
  EXPECT_EQ(vm.run("ArkimeHttpService.new('http://127.0.0.1:8080/api,http://127.0.0.1:9/', 4, 9)"),
            "error: t.lua:1: ArkimeHttpService.new: 'http://127.0.0.1:9/' is not allowed by "
            "lua.http.allow");
  EXPECT_EQ(vm.run("ArkimeHttpService.new('http://u@127.0.0.1:8080/api', 4, 256)"),
            "error: t.lua:1: ArkimeHttpService.new: 'http://u@127.0.0.1:8080/api' is not a base "
            "URL: user information is not allowed");
  EXPECT_EQ(vm.run("ArkimeHttpService.new('http://127.0.0.1:8080/api', 0, 256)"),
            "error: t.lua:1: ArkimeHttpService.new: bad argument #2 'maxConnections' (integer "
            "from 1 to 64 expected, got 0)");
  EXPECT_EQ(vm.run("ArkimeHttpService.new('http://127.0.0.1:8080/api', 65, 256)"),
            "error: t.lua:1: ArkimeHttpService.new: bad argument #2 'maxConnections' (integer "
            "from 1 to 64 expected, got 65)");
  EXPECT_EQ(vm.run("ArkimeHttpService.new('http://127.0.0.1:8080/api', 1.5, 256)"),
            "error: t.lua:1: ArkimeHttpService.new: bad argument #2 'maxConnections' (integer "
            "from 1 to 64 expected, got 1.5)");
  EXPECT_EQ(vm.run("ArkimeHttpService.new('http://127.0.0.1:8080/api', 4, 10001)"),
            "error: t.lua:1: ArkimeHttpService.new: bad argument #3 'maxRequests' (integer from "
            "1 to 10000 expected, got 10001)");
  EXPECT_EQ(vm.run("ArkimeHttpService.new(nil, 4, 1)"),
            "error: t.lua:1: ArkimeHttpService.new: bad argument #1 'hostports' (string "
            "expected, got nil)");
  EXPECT_EQ(vm.run("ArkimeHttpService.new(' , ', 4, 1)"),
            "error: t.lua:1: ArkimeHttpService.new: bad argument #1 'hostports' (comma-separated "
            "base URLs expected, got '')");
}

TEST(HttpServiceLua, RequestChecksItsArguments) {
  TestServer server;
  HttpClient client(options());
  HttpVm vm({server.url()});
  ASSERT_EQ(vm.run("svc = ArkimeHttpService.new('" + server.url() + "', 2, 8)"), "");
  // Not published yet: the VM loads.
  EXPECT_EQ(vm.run("local r = svc:request('GET', '/hello', '', keep) return r"),
            "error: t.lua:1: service:request: no requests while the file loads or unloads");
  attach_http_port(*vm.host, &client.port(0));
  vm.host->loading = true;
  EXPECT_EQ(vm.run("local r = svc:request('GET', '/hello', '', keep) return r"),
            "error: t.lua:1: service:request: no requests while the file loads or unloads");
  vm.host->loading = false;
  // Handed to another thread (a teardown on the control side): refused too.
  std::string other;
  std::thread([&] {
    other = vm.run("local r = svc:request('GET', '/hello', '', keep) return r");
  }).join();
  EXPECT_EQ(other, "error: t.lua:1: service:request: no requests while the file loads or unloads");
  EXPECT_EQ(vm.run("local r = svc:request('get', '/hello', '', keep) return r"),
            "error: t.lua:1: service:request: bad argument #1 'method' (upper-case token "
            "expected, got 'get')");
  EXPECT_EQ(vm.run("local r = svc:request('GET', 'hello', '', keep) return r"),
            "error: t.lua:1: service:request: bad argument #2 'path' (a path that starts with "
            "'/' expected, got 'hello')");
  EXPECT_EQ(vm.run("local r = svc:request('GET', '/a/%2e%2E/b', '', keep) return r"),
            "error: t.lua:1: service:request: bad argument #2 'path' (a path that has no '.' or "
            "'..' segment expected, got '/a/%2e%2E/b')");
  EXPECT_EQ(vm.run("local r = svc:request('GET', '/hello', nil, keep) return r"),
            "error: t.lua:1: service:request: bad argument #3 'data' (string expected, got nil)");
  EXPECT_EQ(vm.run("local r = svc:request('GET', '/hello', '') return r"),
            "error: t.lua:1: service:request: bad argument #4 'fn' (function expected, got nil)");
  EXPECT_EQ(vm.run("local r = svc:request('GET', '/hello', '', 'no_such_fn') return r"),
            "error: t.lua:1: service:request: bad argument #4 'fn' (no global function named "
            "'no_such_fn')");
  EXPECT_EQ(vm.run("local r = svc.request({}, 'GET', '/hello', '', keep) return r"),
            "error: t.lua:1: service:request: bad self (ArkimeHttpService expected, got table)");
  EXPECT_EQ(http_outstanding(*vm.host), 0u);
  EXPECT_EQ(vm.result_count(), 0);
}

TEST(HttpServiceLua, RepliesComeBackToTheVm) {
  TestServer server;
  HttpClient client(options());
  HttpVm vm({server.url()});
  attach_http_port(*vm.host, &client.port(0));
  ASSERT_EQ(vm.run("svc = MolochHttpService.new('" + server.url() +
                   "', 2, 8) "
                   "return svc:request('GET', '/hello', '', keep) and "
                   "svc:request('POST', '/echo?x=1', 'a=b', 'keep') and "
                   "svc:request('PUT', '/echo', '', keep) and "
                   "svc:request('GET', '/missing', '', keep)"),
            "true");
  // Never synchronously inside request (§3.7).
  EXPECT_EQ(vm.result_count(), 0);
  EXPECT_EQ(http_outstanding(*vm.host), 4u);
  ASSERT_TRUE(vm.wait_results(4));
  std::vector<std::string> got;
  for (int i = 1; i <= 4; ++i) got.push_back(vm.result(i));
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"200|POST /echo?x=1 a=b|nil", "200|PUT /echo |nil",
                                           "200|hello world|nil", "404|nope|nil"}));
  EXPECT_EQ(http_outstanding(*vm.host), 0u);
  EXPECT_EQ(client.port(0).counters.ok.get(), 4u);
  EXPECT_EQ(client.port(0).counters.delivered.get(), 4u);
}

TEST(HttpServiceLua, TruncatedTimeoutConnectAndTls) {
  TestServer server;
  HttpClient client(options(/*timeout_ms=*/300, /*max_body=*/1000));
  const std::string closed = "http://127.0.0.1:" + std::to_string(closed_port());
  const std::string tls = "https://127.0.0.1:" + std::to_string(server.port());
  HttpVm vm({server.url(), closed, tls});
  attach_http_port(*vm.host, &client.port(0));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(vm.run("local s = ArkimeHttpService.new('" + server.url() +
                   "', 4, 8) "
                   "local c = ArkimeHttpService.new('" +
                   closed +
                   "', 1, 8) "
                   "local t = ArkimeHttpService.new('" +
                   tls +
                   "', 1, 8) "
                   "return s:request('GET', '/big', '', function(code, body, err) "
                   "    big = code .. '|' .. #body .. '|' .. err end) "
                   "  and s:request('GET', '/slow', '', function(code, body, err) "
                   "    slow = code .. '|' .. body .. '|' .. err end) "
                   "  and c:request('GET', '/', '', function(code, body, err) "
                   "    refused = code .. '|' .. body .. '|' .. err end) "
                   "  and t:request('GET', '/hello', '', function(code, body, err) "
                   "    tls = code .. '|' .. body .. '|' .. err end)"),
            "true");
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (vm.run("return big and slow and refused and tls and 'all'") != "all" &&
         std::chrono::steady_clock::now() < until) {
    if (deliver_http_replies(*vm.host, 64) == 0) std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(vm.run("return big"), "200|1000|truncated");
  EXPECT_EQ(vm.run("return slow"), "0||timeout");
  EXPECT_EQ(vm.run("return refused"), "0||connect");
  EXPECT_EQ(vm.run("return tls"), "0||connect");
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 3s);
  const HttpPortCounters& c = client.port(0).counters;
  EXPECT_EQ(c.truncated.get(), 1u);
  EXPECT_EQ(c.timeout.get(), 1u);
  EXPECT_EQ(c.connect.get(), 2u);
  EXPECT_EQ(c.ok.get(), 0u);
}

TEST(HttpServiceLua, MaxRequestsAndFullRing) {
  TestServer server;
  HttpClientOptions o = options();
  o.request_ring_bytes = 4096;  // records up to ~2 KiB
  HttpClient client(o);
  HttpVm vm({server.url()});
  attach_http_port(*vm.host, &client.port(0));
  ASSERT_EQ(vm.run("svc = ArkimeHttpService.new('" + server.url() +
                   "', 2, 2) "
                   "return tostring(svc:request('GET', '/wait', '', keep)) .. "
                   "tostring(svc:request('GET', '/wait', '', keep)) .. "
                   "tostring(svc:request('GET', '/wait', '', keep))"),
            "truetruefalse");
  EXPECT_EQ(client.port(0).counters.refused.get(), 1u);
  // Another service has its own maxRequests; a request longer than half
  // the ring never fits.
  EXPECT_EQ(vm.run("other = ArkimeHttpService.new('" + server.url() +
                   "', 2, 2) "
                   "return other:request('POST', '/echo', string.rep('d', 3000), keep)"),
            "false");
  EXPECT_EQ(client.port(0).counters.ring_full.get(), 1u);
  EXPECT_EQ(http_outstanding(*vm.host), 2u);
  ASSERT_TRUE(vm.wait_results(2));
  EXPECT_EQ(vm.result(1), "200|waited|nil");
  // Slots come back with the replies.
  EXPECT_EQ(vm.run("return svc:request('GET', '/hello', '', keep)"), "true");
  ASSERT_TRUE(vm.wait_results(3));
  EXPECT_EQ(vm.result(3), "200|hello world|nil");
}

// Services with the same base URLs in two VMs share one pool of
// maxConnections connections; requests beyond wait their turn.
TEST(HttpServiceLua, PoolSharedAcrossVms) {
  TestServer server;
  HttpClient client(options());
  HttpVm a({server.url()}), b({server.url()});
  attach_http_port(*a.host, &client.port(0));
  attach_http_port(*b.host, &client.port(1));
  const std::string make = "svc = ArkimeHttpService.new('" + server.url() + "', 2, 100) ";
  const std::string three =
      "return svc:request('GET', '/wait', '', keep) and "
      "svc:request('GET', '/wait', '', keep) and "
      "svc:request('GET', '/wait', '', keep)";
  ASSERT_EQ(a.run(make + three), "true");
  ASSERT_EQ(b.run(make + three), "true");
  ASSERT_TRUE(a.wait_results(3));
  ASSERT_TRUE(b.wait_results(3));
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(a.result(i), "200|waited|nil");
    EXPECT_EQ(b.result(i), "200|waited|nil");
  }
  EXPECT_EQ(server.max_active(), 2);
  EXPECT_LE(server.connections(), 2);  // kept alive and reused
}

TEST(HttpServiceLua, RepliesForAReplacedVmAreDropped) {
  TestServer server;
  HttpClient client(options());
  HttpVm old_vm({server.url()}), new_vm({server.url()});
  HttpPort& port = client.port(0);
  attach_http_port(*old_vm.host, &port);
  ASSERT_EQ(old_vm.run("svc = ArkimeHttpService.new('" + server.url() +
                       "', 1, 8) "
                       "return svc:request('GET', '/hello', '', keep)"),
            "true");
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (port.counters.ok.get() == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(2ms);
  }
  // The worker adopts a new VM before it delivered the reply.
  attach_http_port(*new_vm.host, &port);
  ASSERT_EQ(new_vm.run("svc = ArkimeHttpService.new('" + server.url() +
                       "', 1, 8) "
                       "return svc:request('GET', '/echo', 'new', keep)"),
            "true");
  ASSERT_TRUE(new_vm.wait_results(1));
  EXPECT_EQ(new_vm.result(1), "200|GET /echo new|nil");
  EXPECT_EQ(port.counters.reload.get(), 1u);
  EXPECT_EQ(deliver_http_replies(*old_vm.host, 64), 0u);
  EXPECT_EQ(old_vm.result_count(), 0);
}

TEST(HttpServiceLua, ShutdownAnswersWhatIsInFlight) {
  TestServer server;
  HttpClient client(options(/*timeout_ms=*/10000));
  HttpVm vm({server.url()});
  attach_http_port(*vm.host, &client.port(0));
  ASSERT_EQ(vm.run("svc = ArkimeHttpService.new('" + server.url() +
                   "', 1, 8) "
                   "return svc:request('GET', '/slow', '', keep) and "
                   "svc:request('GET', '/slow', '', keep)"),  // waits for the one connection
            "true");
  std::this_thread::sleep_for(100ms);
  const auto t0 = std::chrono::steady_clock::now();
  client.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  ASSERT_TRUE(vm.wait_results(2));
  EXPECT_EQ(vm.result(1), "0||shutdown");
  EXPECT_EQ(vm.result(2), "0||shutdown");
  EXPECT_EQ(client.port(0).counters.shutdown_client.get(), 2u);
  EXPECT_EQ(http_outstanding(*vm.host), 0u);
  // Afterwards requests are refused at once.
  EXPECT_EQ(vm.run("return svc:request('GET', '/hello', '', keep)"), "false");
  EXPECT_EQ(client.port(0).counters.refused.get(), 1u);
  EXPECT_EQ(client.totals().shutdown, 2u);
}

TEST(HttpServiceLua, CallbackErrorsAndDeliveryLimit) {
  TestServer server;
  HttpClient client(options());
  HttpVm vm({server.url()});
  attach_http_port(*vm.host, &client.port(0));
  ASSERT_EQ(vm.run("svc = ArkimeHttpService.new('" + server.url() +
                   "', 4, 8) "
                   "return svc:request('GET', '/hello', '', function() error('boom') end) and "
                   "svc:request('GET', '/hello', '', keep) and "
                   "svc:request('GET', '/hello', '', keep)"),
            "true");
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (client.port(0).counters.ok.get() < 3 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(2ms);
  }
  // At most `max` callbacks per call: the rest wait for the next one.
  EXPECT_TRUE(client.port(0).has_work());
  EXPECT_EQ(deliver_http_replies(*vm.host, 1), 1u);
  EXPECT_EQ(deliver_http_replies(*vm.host, 64), 2u);
  EXPECT_FALSE(client.port(0).has_work());
  EXPECT_EQ(deliver_http_replies(*vm.host, 64), 0u);
  EXPECT_EQ(vm.result_count(), 2);
  EXPECT_EQ(async_errors(*vm.host, static_cast<int>(ErrorKind::kRuntime)), 1u);
  EXPECT_TRUE(vm.log.contains("boom")) << test::joined(vm.log.lines);
  EXPECT_TRUE(vm.log.contains("async")) << test::joined(vm.log.lines);
}

}  // namespace
}  // namespace loupe
