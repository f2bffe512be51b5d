#include "dpdk/mbuf_fields.h"

#include <rte_errno.h>

#include <stdexcept>
#include <string>

namespace loupe {

MbufFields MbufFields::register_all() {
  MbufFields f;
  if (rte_mbuf_dyn_rx_timestamp_register(&f.ts_offset, &f.ts_flag) != 0)
    throw std::runtime_error(std::string("cannot register the mbuf timestamp field: ") +
                             rte_strerror(rte_errno));
  static const rte_mbuf_dynfield wire_len = {
      .name = "loupe_wire_len", .size = sizeof(uint32_t), .align = alignof(uint32_t), .flags = 0};
  f.wire_len_offset = rte_mbuf_dynfield_register(&wire_len);
  if (f.wire_len_offset < 0)
    throw std::runtime_error(std::string("cannot register the mbuf wire length field: ") +
                             rte_strerror(rte_errno));
  return f;
}

}  // namespace loupe
