// app/control_socket.h
#include "app/control_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace loupe {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string errno_text(int e) { return std::strerror(e); }

// The address of `path`; throws when it does not fit sun_path.
sockaddr_un address_of(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sa.sun_path))
    throw std::runtime_error("control.socket: '" + path + "' is " +
                             (path.empty() ? std::string("empty")
                                           : "longer than " +
                                                 std::to_string(sizeof(sa.sun_path) - 1) +
                                                 " bytes, the most a Unix socket path may have"));
  std::memcpy(sa.sun_path, path.data(), path.size());
  return sa;
}

gid_t group_id(const std::string& name) {
  group g;
  group* found = nullptr;
  std::vector<char> buf(16384);
  const int rc = getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr)
    throw std::runtime_error("control.group: no group named '" + name + "'" +
                             (rc != 0 ? ": " + errno_text(rc) : std::string()));
  return found->gr_gid;
}

// Whether an instance accepts on the socket at `sa`: a dead one's file
// refuses connections.
bool accepts(const sockaddr_un& sa) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  const int rc = connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  // EAGAIN: its backlog is full, so somebody listens.
  const bool live = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
  close(fd);
  return live;
}

}  // namespace

ControlServer::ControlServer(std::string path, const std::string& group, ControlHandler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {
  const sockaddr_un sa = address_of(path_);
  const gid_t gid = group.empty() ? getegid() : group_id(group);
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error("control.socket: " + path_ +
                               " exists and is not a socket; remove it or choose another path");
    if (accepts(sa))
      throw std::runtime_error("control.socket: " + path_ +
                               " is in use by a running instance (stop it, or give this one "
                               "another control.socket or paths.workdir)");
    unlink(path_.c_str());  // a stale socket of an instance that died
  }
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw std::runtime_error("control.socket: socket(): " + errno_text(errno));
  // The file is made with the process umask's mode; the chmod below opens
  // it to the group only once it has the right group.
  if (bind(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0 ||
      listen(fd_, static_cast<int>(kMaxClients)) != 0) {
    const int e = errno;
    close(fd_);
    throw std::runtime_error("control.socket: cannot listen on " + path_ + ": " + errno_text(e));
  }
  if (stat(path_.c_str(), &st) != 0) {
    const int e = errno;
    close(fd_);
    throw std::runtime_error("control.socket: " + path_ + " vanished once made: " + errno_text(e));
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  if ((st.st_gid != gid && chown(path_.c_str(), static_cast<uid_t>(-1), gid) != 0) ||
      chmod(path_.c_str(), 0660) != 0) {
    const int e = errno;
    close(fd_);
    unlink(path_.c_str());
    throw std::runtime_error("control.socket: cannot give " + path_ + " mode 0660 and group " +
                             (group.empty() ? std::to_string(gid) : group) + ": " + errno_text(e));
  }
}

ControlServer::~ControlServer() {
  for (Client& c : clients_) close(c.fd);
  if (fd_ >= 0) close(fd_);
  // Only the file this server made: a newer instance may have replaced it.
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
    unlink(path_.c_str());
}

void ControlServer::poll() {
  const auto now = SteadyClock::now();
  while (clients_.size() < kMaxClients) {
    const int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;  // EAGAIN: nobody waits (other errors: try again next turn)
    Client c;
    c.fd = fd;
    c.deadline = now + kClientTimeout;
    clients_.push_back(std::move(c));
  }
  for (size_t i = 0; i < clients_.size();) {
    if (serve(clients_[i], now)) {
      ++i;
    } else {
      close(clients_[i].fd);
      clients_[i] = std::move(clients_.back());
      clients_.pop_back();
    }
  }
}

bool ControlServer::serve(Client& c, SteadyClock::time_point now) {
  if (!c.answered) {
    char buf[1024];
    for (;;) {
      const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        const size_t nl = c.in.find('\n');
        if ((nl == std::string::npos ? c.in.size() : nl) > kMaxRequest) {
          Json e = Json::object();
          e.set("ok", false);
          e.set("error", "request longer than " + std::to_string(kMaxRequest) + " bytes");
          c.out = e.dump() + "\n";
          c.answered = true;
          break;
        }
        if (nl != std::string::npos) {
          answer(c, std::string_view(c.in).substr(0, nl));
          break;
        }
        continue;
      }
      if (n == 0) {  // the client closed its side: what it sent is the request
        if (c.in.empty()) return false;
        answer(c, c.in);
        break;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      break;
    }
  }
  if (c.answered) {
    while (c.sent < c.out.size()) {
      const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return false;  // the client went away
    }
    if (c.sent == c.out.size()) return false;  // done: closing tells the client so
  }
  return now < c.deadline;
}

void ControlServer::answer(Client& c, std::string_view request) {
  if (!request.empty() && request.back() == '\r') request.remove_suffix(1);
  std::string why;
  std::optional<Json> req = Json::parse(request, &why);
  Json reply;
  if (!req || !req->is_object() || !(*req)["cmd"].is_string()) {
    reply = Json::object();
    reply.set("ok", false);
    reply.set("error", req ? std::string("a request is an object with a \"cmd\" string")
                           : "the request is not JSON (" + why + ")");
  } else {
    reply = handler_(*req);
  }
  c.out = reply.dump() + "\n";
  c.answered = true;
  c.in.clear();
  ++served_;
}

ControlReply control_request(const std::string& path, const std::string& request,
                             std::chrono::milliseconds timeout) {
  ControlReply r;
  sockaddr_un sa;
  try {
    sa = address_of(path);
  } catch (const std::exception& e) {
    r.error = e.what();
    return r;
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = "socket(): " + errno_text(errno);
    return r;
  }
  // A connect to an instance whose backlog is full would wait: bounded too.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    r.error_number = errno;
    r.error = "cannot connect to " + path + ": " + errno_text(errno);
    close(fd);
    return r;
  }
  const auto deadline = SteadyClock::now() + timeout;
  auto wait = [&](short events) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
  };
  const std::string line = request + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r.error = "cannot send the request to " + path + ": " + errno_text(errno);
      close(fd);
      return r;
    }
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[65536];
  for (;;) {
    if (!wait(POLLIN)) {
      r.error = "no answer from " + path + " within " + std::to_string(timeout.count()) + " ms";
      close(fd);
      return r;
    }
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = "cannot read the answer from " + path + ": " + errno_text(errno);
      close(fd);
      return r;
    }
    if (n == 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  while (!answer.empty() && (answer.back() == '\n' || answer.back() == '\r')) answer.pop_back();
  if (answer.empty()) {
    r.error = path + " closed the connection without an answer";
    return r;
  }
  r.ok = true;
  r.text = std::move(answer);
  return r;
}

}  // namespace loupe
