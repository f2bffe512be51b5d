// Community ID v1 (https://github.com/corelight/community-id-spec): a
// hash of a flow's 5-tuple that other tools (Zeek, Suricata, Arkime) compute
// identically, so records can be joined across them.
#pragma once

#include <cstdint>
#include <string>

#include "engine/flow/flow_record.h"

namespace loupe {

// `client_side` is the canonical side that started the flow (ICMP flows use
// its first packet's type and code).
std::string community_id_v1(const FlowKey& key, uint8_t client_side, uint8_t icmp_type,
                            uint8_t icmp_code, uint16_t seed = 0);

}  // namespace loupe
