// The EVE-style protocol objects of a flow record, from its metadata blob:
// "http", "dns", "tls", "ssh" and "host", each only when the flow has one of
// its fields. Control core only.
#pragma once

#include <string>

#include "engine/classify/l7_meta.h"
#include "engine/control/json_util.h"

namespace loupe {

// Appends ,"http":{...}, the other objects and "classifiers":[...] to `out`
// (inside an open object).
void append_meta_json(std::string& out, MetaView meta);

}  // namespace loupe
