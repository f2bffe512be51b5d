// app/control_cli.h
#include "app/control_cli.h"

#include <errno.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <vector>

#include "app/control_json.h"
#include "app/control_socket.h"
#include "lua/quarantine.h"

namespace loupe {
namespace {

// A table printed with aligned columns: text left, numbers right.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print() const {
    // A column whose cells are all numbers (or "-") is right-aligned, header included.
    std::vector<size_t> width;
    std::vector<bool> numeric;
    for (size_t row = 0; row < rows_.size(); row++) {
      const auto& r = rows_[row];
      for (size_t i = 0; i < r.size(); i++) {
        if (width.size() <= i) {
          width.push_back(0);
          numeric.push_back(true);
        }
        width[i] = std::max(width[i], r[i].size());
        if (row > 0)
          numeric[i] = numeric[i] && !r[i].empty() &&
                       (std::isdigit(static_cast<unsigned char>(r[i][0])) || r[i] == "-");
      }
    }
    for (const auto& r : rows_) {
      std::string line;
      for (size_t i = 0; i < r.size(); i++) {
        const std::string pad(width[i] - r[i].size(), ' ');
        if (i) line += "  ";
        line += numeric[i] ? pad + r[i] : r[i] + pad;
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      std::printf("%s\n", line.c_str());
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string num(const Json& v) { return v.is_null() ? "-" : std::to_string(v.as_uint()); }

std::string decimal(const Json& v, int digits) {
  return v.is_null() ? "-" : fmt::format("{:.{}f}", v.as_double(), digits);
}

std::string mib(const Json& v) { return fmt::format("{:.1f} MiB", v.as_double() / (1 << 20)); }

// "a, b, c" of an array of strings, or "none".
std::string list(const Json& a) {
  std::string s;
  for (const Json& v : a.items()) s += (s.empty() ? "" : ", ") + v.as_string();
  return s.empty() ? "none" : s;
}

// "name N, name N" of an object's non-zero members, or "none".
std::string nonzero(const Json& o) {
  std::string s;
  for (size_t i = 0; i < o.keys().size(); i++)
    if (o.items()[i].as_uint() != 0)
      s += fmt::format("{}{} {}", s.empty() ? "" : ", ", o.keys()[i], o.items()[i].as_uint());
  return s.empty() ? "none" : s;
}

std::string socket_path(const Config& config) {
  return workdir_path(config.paths, config.control.socket);
}

// Sends `request`; the parsed answer, or nullopt after printing why.
// `no_instance` (when given) is set instead of printing when nobody listens.
std::optional<Json> ask(const Config& config, const Json& request, bool json,
                        bool* no_instance = nullptr) {
  const std::string path = socket_path(config);
  const ControlReply r = control_request(path, request.dump());
  if (!r.ok) {
    const bool nobody = r.error_number == ENOENT || r.error_number == ECONNREFUSED;
    if (nobody && no_instance != nullptr) {
      *no_instance = true;
      return std::nullopt;
    }
    std::fprintf(stderr, "loupe: no running instance answers on %s (%s)%s\n", path.c_str(),
                 r.error.c_str(),
                 nobody ? "; is loupe running with this configuration (control.socket, "
                          "paths.workdir)?"
                        : "");
    return std::nullopt;
  }
  std::string why;
  std::optional<Json> answer = Json::parse(r.text, &why);
  if (!answer || !answer->is_object()) {
    std::fprintf(stderr, "loupe: %s answered something that is not a JSON object (%s)\n",
                 path.c_str(), why.c_str());
    return std::nullopt;
  }
  if (json) std::printf("%s\n", r.text.c_str());
  if (!(*answer)["ok"].as_bool()) {
    std::fprintf(stderr, "loupe: %s\n", (*answer)["error"].as_string().c_str());
    return std::nullopt;
  }
  return answer;
}

Json command(const char* cmd) {
  Json r = Json::object();
  r.set("cmd", cmd);
  return r;
}

void print_status(const Json& s) {
  std::printf("loupe %s, pid %s, %s, up %.0f s\n\n", s["version"].as_string().c_str(),
              num(s["pid"]).c_str(), s["mode"].as_string().c_str(),
              s["uptime_seconds"].as_double());
  Table workers({"worker", "packets", "bytes", "flows active", "created", "ended", "malformed",
                 "ring drops", "busy"});
  for (const Json& w : s["workers"].items()) {
    const Json& rd = w["ring_drops"];
    workers.add({num(w["id"]), num(w["packets"]), num(w["bytes"]), num(w["flows"]["active"]),
                 num(w["flows"]["created"]), num(w["flows"]["ended"]),
                 num(w["malformed"]["total"]),
                 std::to_string(rd["records"].as_uint() + rd["alerts"].as_uint()),
                 decimal(w["busy_ratio"], 2)});
  }
  workers.print();
  for (const Json& w : s["workers"].items()) {
    if (w["malformed"]["total"].as_uint() != 0)
      std::printf("worker %s malformed: %s\n", num(w["id"]).c_str(),
                  nonzero(w["malformed"]["by_reason"]).c_str());
    const Json& rd = w["ring_drops"];
    if (rd["records"].as_uint() + rd["alerts"].as_uint() != 0)
      std::printf("worker %s ring drops: records %s, alerts %s\n", num(w["id"]).c_str(),
                  num(rd["records"]).c_str(), num(rd["alerts"]).c_str());
  }
  if (!s["ports"].items().empty()) {
    std::printf("\n");
    Table ports({"port", "rx packets", "rx bytes", "missed", "errors", "no mbuf"});
    for (const Json& p : s["ports"].items())
      ports.add({p["name"].as_string(), num(p["rx_packets"]), num(p["rx_bytes"]),
                 num(p["drops"]["missed"]), num(p["drops"]["errors"]),
                 num(p["drops"]["no_mbuf"])});
    ports.print();
  }
  if (const Json* in = s.find("input"))
    std::printf("\ninput: %s packets, %s bytes read\n", num((*in)["packets"]).c_str(),
                num((*in)["bytes"]).c_str());
  if (s["dispatcher_drops"].as_uint() != 0)
    std::printf("dispatcher drops: %s\n", num(s["dispatcher_drops"]).c_str());
  const Json& sc = s["scripts"];
  std::printf("\nscripts: generation %s\n", num(sc["generation"]).c_str());
  std::printf("  loaded: %s\n", list(sc["loaded"]).c_str());
  std::printf("  inactive: %s\n", list(sc["inactive"]).c_str());
  std::printf("  suspended: %s\n", list(sc["suspended"]).c_str());
  std::printf("  quarantined: %s\n", list(sc["quarantined"]).c_str());
}

void print_scripts(const Json& s) {
  std::printf("script set: generation %s\n\n", num(s["generation"]).c_str());
  Table t({"script", "state", "calls", "errors", "overruns", "hard stops", "mean us", "p50 us",
           "p99 us"});
  for (const Json& r : s["scripts"].items()) {
    uint64_t errors = 0;
    for (const Json& v : r["errors"].items()) errors += v.as_uint();
    std::string state = r["state"].as_string();
    if (!r["suspended_until"].is_null()) state += " until " + r["suspended_until"].as_string();
    t.add({r["script"].as_string(), state, num(r["calls_total"]), std::to_string(errors),
           num(r["overruns"]), num(r["hard_stops"]), decimal(r["mean_call_us"], 1),
           decimal(r["p50_call_us"], 1), decimal(r["p99_call_us"], 1)});
  }
  if (s["scripts"].items().empty())
    std::printf("no scripts\n");
  else
    t.print();
  for (const Json& r : s["scripts"].items()) {
    if (nonzero(r["errors"]) != "none")
      std::printf("%s errors: %s\n", r["script"].as_string().c_str(),
                  nonzero(r["errors"]).c_str());
    if (!r["last_error"].is_null())
      std::printf("%s last error: %s\n", r["script"].as_string().c_str(),
                  r["last_error"].as_string().c_str());
  }
  if (!s["vms"].items().empty()) {
    std::printf("\n");
    Table vms({"vm", "memory", "limit"});
    for (const Json& v : s["vms"].items())
      vms.add({v["vm"].as_string(), mib(v["memory_bytes"]), mib(v["memory_limit_bytes"])});
    vms.print();
  }
}

}  // namespace

int status_command(const Config& config, bool json) {
  const std::optional<Json> s = ask(config, command("status"), json);
  if (!s) return 1;
  if (!json) print_status(*s);
  return 0;
}

int scripts_status_command(const Config& config, bool json) {
  const std::optional<Json> s = ask(config, command("scripts_status"), json);
  if (!s) return 1;
  if (!json) print_scripts(*s);
  return 0;
}

int unquarantine_command(const Config& config, const std::string& key, bool json) {
  Json req = command("unquarantine");
  req.set("key", key);
  bool no_instance = false;
  const std::optional<Json> r = ask(config, req, json, &no_instance);
  if (r) {
    if (!json)
      std::printf("%s: quarantine lifted%s\n", key.c_str(),
                  (*r)["reloading"].as_bool() ? "; the running instance reloads its scripts"
                                              : "");
    return 0;
  }
  if (!no_instance) return 1;
  // Nobody runs: the file alone holds the quarantine.
  const std::string file = workdir_path(config.paths, kQuarantineFileName);
  bool found = false;
  std::string why;
  if (!remove_quarantine(file, key, &found, &why)) {
    std::fprintf(stderr, "loupe: %s\n", why.c_str());
    return 1;
  }
  if (!found) {
    std::fprintf(stderr, "loupe: %s is not quarantined (%s)\n", key.c_str(), file.c_str());
    return 1;
  }
  if (json) {
    Json out = Json::object();
    out.set("ok", true);
    out.set("key", key);
    out.set("removed", true);
    out.set("reloading", false);
    out.set("file", file);
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s: quarantine lifted in %s (no running instance); it loads at the next start\n",
                key.c_str(), file.c_str());
  }
  return 0;
}

}  // namespace loupe
