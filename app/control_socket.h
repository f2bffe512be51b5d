// The control socket (contract §7.5): a Unix stream socket that the control
// loop polls without ever blocking. A client connects, writes one JSON
// request line, reads one JSON answer (one line, possibly long) and sees the
// connection close. The server runs on the control thread only: poll() is
// called every control loop turn and calls the handler there, so answers
// are built from the control thread's own data.
//
// Bounds: a request longer than kMaxRequest bytes is answered with an error;
// at most kMaxClients connections are open at once (more wait in the
// listen backlog); a client that has not sent its request or read its
// answer within kClientTimeout is dropped. Nothing a client does makes
// poll() wait.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "app/control_json.h"

namespace loupe {

// Answers one request (an object; its "cmd" says what is asked).
using ControlHandler = std::function<Json(const Json& request)>;

class ControlServer {
 public:
  static constexpr size_t kMaxRequest = 4096;
  static constexpr size_t kMaxClients = 16;
  static constexpr std::chrono::milliseconds kClientTimeout{5000};

  // Listens at `path` with mode 0660, owned by `group` (a group name; ""
  // keeps the process's group). A stale socket file (nobody accepts on it:
  // a dead instance's) is replaced; a live one, a path that is not a
  // socket, or a group that does not exist throw std::runtime_error with a
  // one-line message naming the path.
  ControlServer(std::string path, const std::string& group, ControlHandler handler);
  // Closes every connection and removes the socket file (if it is still
  // the one this server made).
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Accepts, reads, answers and writes what can be done without waiting.
  void poll();

  const std::string& path() const { return path_; }
  size_t clients() const { return clients_.size(); }
  uint64_t served() const { return served_; }

 private:
  struct Client {
    int fd = -1;
    std::string in;
    std::string out;  // the answer, once the request is complete
    size_t sent = 0;
    bool answered = false;
    std::chrono::steady_clock::time_point deadline;
  };
  // false: the client is done (answered and flushed, gone, or timed out).
  bool serve(Client& c, std::chrono::steady_clock::time_point now);
  void answer(Client& c, std::string_view request);

  std::string path_;
  ControlHandler handler_;
  int fd_ = -1;
  dev_t dev_ = 0;  // the socket file's identity, so that exit removes only ours
  ino_t ino_ = 0;
  std::vector<Client> clients_;
  uint64_t served_ = 0;
};

// The client side: connects to `path`, sends `request` and a newline, and
// returns the server's whole answer (without its trailing newline).
struct ControlReply {
  bool ok = false;
  std::string text;   // the answer, when ok
  std::string error;  // why not, when !ok: "cannot connect to ...: ..."
  int error_number = 0;  // errno of a failed connect (ENOENT, ECONNREFUSED: no instance)
};
ControlReply control_request(const std::string& path, const std::string& request,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace loupe
