#include "dpdk/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace loupe {
namespace {

std::vector<int> parse_cpu_list(const std::string& list) {
  std::vector<int> cpus;
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const auto dash = part.find('-');
    try {
      size_t used = 0;
      const int lo = std::stoi(part.substr(0, dash), &used);
      if (used != part.substr(0, dash).size() || lo < 0) throw std::invalid_argument(part);
      int hi = lo;
      if (dash != std::string::npos) {
        hi = std::stoi(part.substr(dash + 1), &used);
        if (used != part.substr(dash + 1).size() || hi < lo) throw std::invalid_argument(part);
      }
      for (int c = lo; c <= hi; c++) cpus.push_back(c);
    } catch (const std::exception&) {
      throw std::runtime_error("workers.cpus: '" + list + "' is not a CPU list like \"0-3,8\"");
    }
  }
  return cpus;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

}  // namespace

bool hugepages_available() {
  std::ifstream mounts("/proc/mounts");
  std::string line;
  bool mounted = false;
  while (std::getline(mounts, line))
    if (line.find(" hugetlbfs ") != std::string::npos) mounted = true;
  if (!mounted) return false;
  std::ifstream meminfo("/proc/meminfo");
  while (std::getline(meminfo, line))
    if (line.rfind("HugePages_Free:", 0) == 0) return std::stoul(line.substr(15)) > 0;
  return false;
}

EalPlan plan_eal(const Config& config, bool offline, uint32_t memory_mb) {
  EalPlan plan;
  plan.lcores = config.workers.count + 1;
  const std::vector<int> cpus =
      config.workers.cpus.empty() ? allowed_cpus() : parse_cpu_list(config.workers.cpus);
  auto& a = plan.args;
  a.push_back("loupe");
  std::string lcores;
  if (cpus.size() >= plan.lcores) {
    for (uint32_t i = 0; i < plan.lcores; i++)
      lcores += (i ? "," : "") + std::to_string(i) + "@" + std::to_string(cpus[i]);
  } else {
    // More lcores than CPUs (tests, small machines): every lcore may run on
    // any of the CPUs, and idle ones yield.
    plan.shared_cpus = true;
    lcores = "(0-" + std::to_string(plan.lcores - 1) + ")@(" + join(cpus) + ")";
  }
  a.push_back("--lcores=" + lcores);
  a.push_back("--main-lcore=0");
  switch (config.dpdk.huge) {
    case HugePages::kOn: plan.huge = true; break;
    case HugePages::kOff: plan.huge = false; break;
    case HugePages::kAuto: plan.huge = !offline && hugepages_available(); break;
  }
  if (offline) plan.huge = false;
  plan.memory_mb = config.dpdk.memory_mb ? config.dpdk.memory_mb : memory_mb;
  if (!plan.huge) a.push_back("--no-huge");
  a.push_back("-m");
  a.push_back(std::to_string(plan.memory_mb));
  // One process, no secondary processes: no shared config files, no
  // multi-process socket, and a private prefix so instances can coexist.
  a.push_back("--no-shconf");
  a.push_back("--file-prefix=loupe" + std::to_string(getpid()));
  a.push_back("--no-telemetry");
  a.push_back("--log-level=lib.eal:warning");
  bool any_pci = false;
  if (!offline) {
    for (const PortConfig& p : config.ports) {
      if (!p.pci.empty()) {
        a.push_back("-a");
        a.push_back(p.pci);
        any_pci = true;
      } else {
        a.push_back("--vdev=" + p.devargs);
      }
    }
  }
  if (!any_pci) a.push_back("--no-pci");
  for (const std::string& d : config.dpdk.drivers) {
    a.push_back("-d");
    a.push_back(d);
  }
  for (const std::string& extra : config.dpdk.eal_args) a.push_back(extra);
  return plan;
}

void init_eal(const EalPlan& plan) {
  std::vector<char*> argv;
  for (const std::string& s : plan.args) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(argv.size() - 1), argv.data()) < 0) {
    std::string cmd;
    for (const std::string& s : plan.args) cmd += " " + s;
    throw std::runtime_error(std::string("DPDK EAL initialisation failed: ") +
                             rte_strerror(rte_errno) + " (arguments:" + cmd + ")");
  }
}

void cleanup_eal() { rte_eal_cleanup(); }

DpdkLogCapture::DpdkLogCapture() {
  stream_ = open_memstream(&buf_, &len_);
  rte_openlog_stream(stream_ != nullptr ? stream_ : stderr);
}

std::string DpdkLogCapture::release() {
  std::string text;
  if (stream_ != nullptr) {
    rte_openlog_stream(stderr);
    std::fclose(stream_);
    stream_ = nullptr;
    text.assign(buf_, len_);
    std::free(buf_);
    buf_ = nullptr;
  }
  return text;
}

DpdkLogCapture::~DpdkLogCapture() { std::fputs(release().c_str(), stderr); }

}  // namespace loupe
