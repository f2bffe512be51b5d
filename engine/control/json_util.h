// Pieces of JSON shared by the control core's writers (flow records,
// alerts): strings from the wire, EVE timestamps, a flow's identity.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/flow/flow_key.h"

namespace loupe {

// A JSON string literal; bytes outside printable ASCII are \u escaped.
void append_json_string(std::string& out, std::string_view s);
// EVE's timestamp text: 2026-11-21T10:00:03.512345+0000 (UTC).
void append_time(std::string& out, uint64_t ns);
// ,"src_ip":...,"src_port":...,"dest_ip":...,"dest_port":...,"proto":...
// (ICMP type and code, VLANs when present), from the client's side.
void append_flow_identity(std::string& out, const FlowKey& k, uint8_t client, uint8_t icmp_type,
                          uint8_t icmp_code);

}  // namespace loupe
