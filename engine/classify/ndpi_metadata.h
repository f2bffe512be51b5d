// Copies the metadata of a finished nDPI detection into a flow's blob.
#pragma once

#include <string>

#include "engine/classify/l7_meta.h"

struct ndpi_flow_struct;

namespace loupe {

// Host/SNI/query, HTTP request and response fields, DNS query, TLS/QUIC
// handshake and certificate fields, SSH banners and HASSH, as nDPI found
// them. `guessed`: the verdict is nDPI's guess after giving up.
void extract_ndpi_metadata(const ndpi_flow_struct* flow, bool guessed, MetaBuilder& out);

// "TLSv1.3", "DTLSv1.2"...; the number when nDPI has no name for it.
std::string tls_version_name(uint16_t version);

}  // namespace loupe
