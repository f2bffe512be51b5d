// Payload-prefix classifier rules and the classifier engine's settings.
// Schemas: engine/classify/classifier_config.cc. A rule reaches the engine
// (classifier_db.h) as a ClassifierSpec whatever its source: the root
// `classifiers:` list of the YAML config now, Lua's
// ArkimeSession.register_tcp_classifier() later.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema_fwd.h"

namespace loupe {

// Limits of a rule, the same as the Lua API's register_*_classifier: the
// payload bytes looked at (offset + length must fit), a name, the bytes.
constexpr uint32_t kClassifierMaxWindow = 1024;
constexpr size_t kClassifierMaxName = 64;
constexpr size_t kClassifierMaxBytes = 255;

enum class ClassifierProto : uint8_t { kTcp = 6, kUdp = 17 };
// A flow's side: the client sent the flow's first packet.
enum class ClassifierDirection : uint8_t { kAny = 0, kClient = 1, kServer = 2 };

// One rule as the YAML writes it: `bytes` still in its escaped form.
struct ClassifierRuleConfig {
  std::string name;
  ClassifierProto proto = ClassifierProto::kTcp;
  uint32_t offset = 0;
  std::string bytes;
  ClassifierDirection direction = ClassifierDirection::kAny;

  bool operator==(const ClassifierRuleConfig&) const = default;
};

// The engine's settings: section classify.classifiers.
struct ClassifierEngineConfig {
  bool enabled = true;
  // Compiled rule sets, one file per set named by its hash; "" caches none.
  std::string cache_dir = "/var/cache/loupe/hyperscan";

  bool operator==(const ClassifierEngineConfig&) const = default;
};

// One rule, decoded, from any source.
struct ClassifierSpec {
  std::string name;
  uint8_t l4 = 6;  // IPPROTO_TCP or IPPROTO_UDP
  uint32_t offset = 0;
  std::string bytes;      // the raw bytes, decoded
  uint8_t direction = 0;  // ClassifierDirection
  std::string origin;     // where it was written, for messages: "file: classifiers.3", a script
  // A Lua classifier (ArkimeSession.register_*_classifier): its index in
  // the script generation's arkime_classifiers; -1 for a configured rule.
  int32_t script_classifier = -1;
};

// Decodes the rule syntax: text with the C escapes \xHH \\ \" \n \r \t \0,
// `\|` for a pipe, and Suricata-style hex blocks (|16 03 01|, spaces
// optional). On error returns nullopt and sets *why ("bad escape \"\\q\"").
std::optional<std::string> decode_classifier_bytes(std::string_view text, std::string* why);

// The rules of a loaded config, decoded (the loader checked them); each
// origin names `config_file` and the rule's index.
std::vector<ClassifierSpec> classifier_specs(const std::vector<ClassifierRuleConfig>& rules,
                                             const std::string& config_file);

void describe(config::Section<ClassifierRuleConfig>& s);
void describe(config::Section<ClassifierEngineConfig>& s);

}  // namespace loupe
