// The control socket's server and client (app/control_socket.h) and its JSON
// (app/control_json.h): one request line in, one answer out, the socket
// file's mode, group and lifetime, and clients that misbehave.
#include "app/control_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "app/control_json.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe-ctl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/control.sock";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The answer to `request`, polling `server` while a client thread waits.
  ControlReply ask(ControlServer& server, const std::string& request) {
    auto reply = std::async(std::launch::async, [&] { return control_request(path_, request, 5s); });
    while (reply.wait_for(1ms) != std::future_status::ready) server.poll();
    return reply.get();
  }

  // A connected client socket (raw, for clients that misbehave).
  int connect_raw() {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path_.c_str());
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0) << strerror(errno);
    return fd;
  }

  static Json echo(const Json& r) {
    Json out = Json::object();
    out.set("ok", true);
    out.set("cmd", r["cmd"].as_string());
    out.set("key", r["key"]);
    return out;
  }

  std::string dir_, path_;
};

TEST_F(ControlSocketTest, AnswersOneRequestThenCloses) {
  ControlServer server(path_, "", echo);
  const ControlReply r = ask(server, R"({"cmd":"unquarantine","key":"flow/x"})");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, R"({"ok":true,"cmd":"unquarantine","key":"flow/x"})");
  EXPECT_EQ(server.served(), 1u);
  server.poll();
  EXPECT_EQ(server.clients(), 0u);  // closed once the answer was written
}

TEST_F(ControlSocketTest, SocketFileHasMode0660AndTheProcessGroupAndGoesAtExit) {
  {
    ControlServer server(path_, "", echo);
    struct stat st;
    ASSERT_EQ(stat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    EXPECT_EQ(st.st_gid, getegid());
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(path_)));
}

TEST_F(ControlSocketTest, ANamedGroupOwnsTheSocket) {
  // "root" exists everywhere; changing to it needs root, as a service would.
  if (geteuid() != 0) GTEST_SKIP() << "chown to another group needs root";
  ControlServer server(path_, "root", echo);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 0u);
}

TEST_F(ControlSocketTest, AnUnknownGroupIsAStartUpError) {
  try {
    ControlServer server(path_, "no-such-group-loupe", echo);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no group named 'no-such-group-loupe'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(path_)));
}

TEST_F(ControlSocketTest, AStaleSocketIsReplaced) {
  // What a killed instance leaves: a socket file nobody listens on.
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strcpy(sa.sun_path, path_.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  close(fd);
  ASSERT_TRUE(fs::is_socket(path_));
  ControlServer server(path_, "", echo);
  EXPECT_TRUE(ask(server, R"({"cmd":"status"})").ok);
}

TEST_F(ControlSocketTest, ALiveSocketIsAStartUpError) {
  ControlServer first(path_, "", echo);
  try {
    ControlServer second(path_, "", echo);
    FAIL() << "a second server took a live socket";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by a running instance"), std::string::npos)
        << e.what();
  }
  // The first one still serves, at the same file.
  EXPECT_TRUE(ask(first, R"({"cmd":"status"})").ok);
}

TEST_F(ControlSocketTest, APathThatIsNotASocketIsLeftAlone) {
  std::ofstream(path_) << "mine";
  EXPECT_THROW(ControlServer(path_, "", echo), std::runtime_error);
  std::ifstream in(path_);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "mine");
}

TEST_F(ControlSocketTest, APathTooLongForASocketIsAStartUpError) {
  try {
    ControlServer server(dir_ + "/" + std::string(120, 'x'), "", echo);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("longer than 107 bytes"), std::string::npos) << e.what();
  }
}

TEST_F(ControlSocketTest, ExitRemovesOnlyItsOwnFile) {
  auto server = std::make_unique<ControlServer>(path_, "", echo);
  // Another instance replaced the file meanwhile: it is not ours to remove.
  fs::remove(path_);
  std::ofstream(path_) << "newer";
  server.reset();
  EXPECT_TRUE(fs::exists(path_));
}

TEST_F(ControlSocketTest, BadRequestsGetAnErrorAnswer) {
  ControlServer server(path_, "", echo);
  for (const char* bad : {"not json", "[1,2]", R"({"key":"flow/x"})", R"({"cmd":7})"}) {
    const ControlReply r = ask(server, bad);
    ASSERT_TRUE(r.ok) << bad << ": " << r.error;
    const std::optional<Json> j = Json::parse(r.text);
    ASSERT_TRUE(j) << r.text;
    EXPECT_FALSE((*j)["ok"].as_bool()) << bad;
    EXPECT_FALSE((*j)["error"].as_string().empty()) << bad;
  }
}

TEST_F(ControlSocketTest, AnOversizedRequestIsRefusedWithoutWaitingForItsEnd) {
  ControlServer server(path_, "", echo);
  const ControlReply r =
      ask(server, R"({"cmd":")" + std::string(ControlServer::kMaxRequest + 10, 'a') + R"("})");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NE(r.text.find("request longer than 4096 bytes"), std::string::npos) << r.text;
}

TEST_F(ControlSocketTest, ASilentClientDoesNotHoldOthers) {
  ControlServer server(path_, "", echo);
  const int silent = connect_raw();  // connects, never writes
  server.poll();
  EXPECT_EQ(server.clients(), 1u);
  EXPECT_TRUE(ask(server, R"({"cmd":"status"})").ok);
  EXPECT_EQ(server.clients(), 1u);  // the silent one waits for its timeout
  close(silent);
  server.poll();
  EXPECT_EQ(server.clients(), 0u);  // gone: dropped at once
}

TEST_F(ControlSocketTest, AClientThatNeverReadsItsLongAnswerDoesNotBlockPoll) {
  // An answer far larger than the socket buffers.
  ControlServer server(path_, "", [](const Json&) {
    Json out = Json::object();
    out.set("ok", true);
    out.set("blob", std::string(16 << 20, 'x'));
    return out;
  });
  const int fd = connect_raw();
  const char req[] = "{\"cmd\":\"status\"}\n";
  ASSERT_EQ(write(fd, req, sizeof(req) - 1), static_cast<ssize_t>(sizeof(req) - 1));
  // The first poll builds the answer; none of them may wait for the client.
  for (int i = 0; i < 20; i++) {
    const auto t0 = std::chrono::steady_clock::now();
    server.poll();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(server.clients(), 1u);  // still sending
  close(fd);                        // the client vanished
  server.poll();
  EXPECT_EQ(server.clients(), 0u);
}

TEST_F(ControlSocketTest, ARequestWithoutNewlineIsAnsweredWhenTheClientShutsItsSide) {
  ControlServer server(path_, "", echo);
  const int fd = connect_raw();
  const char req[] = "{\"cmd\":\"status\"}";
  ASSERT_EQ(write(fd, req, sizeof(req) - 1), static_cast<ssize_t>(sizeof(req) - 1));
  shutdown(fd, SHUT_WR);
  std::string got;
  char buf[256];
  for (int i = 0; i < 1000; i++) {
    server.poll();
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (n == 0) break;
    std::this_thread::sleep_for(1ms);
  }
  close(fd);
  EXPECT_EQ(got, "{\"ok\":true,\"cmd\":\"status\",\"key\":null}\n");
}

TEST_F(ControlSocketTest, NoInstanceIsReportedWithItsErrno) {
  const ControlReply r = control_request(path_, R"({"cmd":"status"})", 1s);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_number, ENOENT);
  EXPECT_NE(r.error.find("cannot connect to " + path_), std::string::npos) << r.error;
}

// --- JSON --------------------------------------------------------------------

TEST(ControlJson, RoundTripKeepsOrderTypesAndExactIntegers) {
  const std::string text =
      R"({"b":1,"a":[true,false,null,"x\"y\\z\n\u0001"],"big":18446744073709551615,)"
      R"("f":0.25,"neg":-3,"o":{}})";
  const std::optional<Json> j = Json::parse(text);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->keys(), (std::vector<std::string>{"b", "a", "big", "f", "neg", "o"}));
  EXPECT_EQ((*j)["big"].as_uint(), 18446744073709551615u);
  EXPECT_EQ((*j)["a"].items()[3].as_string(), "x\"y\\z\n\x01");
  EXPECT_DOUBLE_EQ((*j)["neg"].as_double(), -3);
  EXPECT_EQ(j->dump(), text);
}

TEST(ControlJson, EscapesAndUtf8) {
  const std::optional<Json> j = Json::parse(R"("\u00e9\ud83d\ude00\/")");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->as_string(), "\xC3\xA9\xF0\x9F\x98\x80/");
  // Bytes that are not UTF-8 never make invalid JSON.
  EXPECT_EQ(Json(std::string("a\xFF" "b\xC3")).dump(), "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\"");
  EXPECT_EQ(Json("\xC3\xA9").dump(), "\"\xC3\xA9\"");
}

TEST(ControlJson, RefusesWhatIsNotJson) {
  for (const char* bad :
       {"", "{", "{\"a\" 1}", "[1,]", "01", "1.", "\"abc", "\"\\x\"", "\"\\ud800\"", "tru",
        "{} x", "\"a\nb\""}) {
    std::string why;
    EXPECT_FALSE(Json::parse(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  // Nesting is bounded, so a hostile request cannot exhaust the stack.
  EXPECT_TRUE(Json::parse(std::string(60, '[') + std::string(60, ']')));
  EXPECT_FALSE(Json::parse(std::string(100000, '[') + std::string(100000, ']')));
}

}  // namespace
}  // namespace loupe
