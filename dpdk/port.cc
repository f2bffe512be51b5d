#include "dpdk/port.h"

#include <rte_ethdev.h>
#include <rte_errno.h>

#include <cstring>
#include <stdexcept>

#include "dpdk/toeplitz.h"

namespace loupe {
namespace {

std::string device_name(const PortConfig& p) {
  if (!p.pci.empty()) return p.pci;
  return p.devargs.substr(0, p.devargs.find(','));
}

[[noreturn]] void fail(const PortConfig& p, const std::string& what, int rc) {
  throw std::runtime_error("port " + p.name + " (" + device_name(p) + "): " + what + ": " +
                           rte_strerror(rc < 0 ? -rc : rc));
}

}  // namespace

std::vector<OpenPort> open_ports(const Config& config, const std::vector<rte_mempool*>& pools) {
  std::vector<OpenPort> out;
  const uint16_t workers = static_cast<uint16_t>(config.workers.count);
  for (const PortConfig& p : config.ports) {
    OpenPort op;
    op.name = p.name;
    if (rte_eth_dev_get_port_by_name(device_name(p).c_str(), &op.port_id) != 0)
      throw std::runtime_error("port " + p.name + " (" + device_name(p) +
                               "): no such device: the PMD could not open it (check the "
                               "devargs or PCI address, the driver binding, and permissions)");
    rte_eth_dev_info info{};
    int rc = rte_eth_dev_info_get(op.port_id, &info);
    if (rc != 0) fail(p, "cannot read device info", rc);

    op.rx_queues = info.max_rx_queues >= workers ? workers : 1;
    op.dispatched = op.rx_queues < workers;
    rte_eth_conf conf{};
    uint8_t key[sizeof(kSymmetricRssKey)];
    std::memcpy(key, kSymmetricRssKey, sizeof(key));
    const uint64_t rss_hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
    if (p.rss && op.rx_queues > 1 && rss_hf != 0) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = key;
      conf.rx_adv_conf.rss_conf.rss_key_len =
          info.hash_key_size ? info.hash_key_size : static_cast<uint8_t>(40);
      conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
      op.rss = true;
    }
    rc = rte_eth_dev_configure(op.port_id, op.rx_queues, 0, &conf);
    if (rc != 0) fail(p, "cannot configure " + std::to_string(op.rx_queues) + " RX queues", rc);
    uint16_t rx_desc = config.dpdk.rx_desc;
    uint16_t tx_desc = 0;
    rte_eth_dev_adjust_nb_rx_tx_desc(op.port_id, &rx_desc, &tx_desc);
    for (uint16_t q = 0; q < op.rx_queues; q++) {
      rc = rte_eth_rx_queue_setup(op.port_id, q, rx_desc, rte_eth_dev_socket_id(op.port_id),
                                  nullptr, pools[op.dispatched ? 0 : q]);
      if (rc != 0) fail(p, "cannot set up RX queue " + std::to_string(q), rc);
    }
    if (op.rss && info.reta_size > 0) {
      // The same queue for a hash as the software dispatcher picks.
      std::vector<rte_eth_rss_reta_entry64> reta(info.reta_size / RTE_ETH_RETA_GROUP_SIZE + 1);
      for (uint16_t i = 0; i < info.reta_size; i++) {
        auto& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
        group.mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
        group.reta[i % RTE_ETH_RETA_GROUP_SIZE] = static_cast<uint16_t>(worker_for_hash(i, workers));
      }
      rte_eth_dev_rss_reta_update(op.port_id, reta.data(), info.reta_size);
    }
    rc = rte_eth_dev_start(op.port_id);
    if (rc != 0) fail(p, "cannot start", rc);
    if (p.promiscuous) rte_eth_promiscuous_enable(op.port_id);
    out.push_back(op);
  }
  return out;
}

PortStats port_stats(uint16_t port_id) {
  rte_eth_stats s{};
  PortStats out;
  if (rte_eth_stats_get(port_id, &s) != 0) return out;
  out.ipackets = s.ipackets;
  out.ibytes = s.ibytes;
  out.imissed = s.imissed;
  out.ierrors = s.ierrors;
  out.rx_nombuf = s.rx_nombuf;
  return out;
}

void close_ports(const std::vector<OpenPort>& ports) {
  for (const OpenPort& p : ports) {
    rte_eth_dev_stop(p.port_id);
    rte_eth_dev_close(p.port_id);
  }
}

}  // namespace loupe
