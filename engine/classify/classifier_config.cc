// Schemas of the classifiers: rules and of classify.classifiers, and the
// rule byte syntax (engine/classify/classifier_config.h).
#include "engine/classify/classifier_config.h"

#include <fmt/format.h>

#include "config/schema.h"

namespace loupe {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The hex block text[begin, end) between its pipes: bytes as pairs of hex
// digits, spaces between them ignored. Positions in messages are 1-based
// characters of the whole text, which is what an operator counts.
bool decode_hex_block(std::string_view text, size_t begin, size_t end, std::string* out,
                      std::string* why) {
  const size_t before = out->size();
  for (size_t i = begin; i < end; ++i) {
    if (text[i] == ' ' || text[i] == '\t') continue;
    const int hi = hex_value(text[i]);
    const int lo = i + 1 < end ? hex_value(text[i + 1]) : -1;
    if (hi < 0 || lo < 0) {
      *why = hi < 0 ? fmt::format("bad hex digit {:?} in hex block at character {}", text[i], i + 1)
                    : fmt::format(
                          "lone hex digit {:?} in hex block at character {} (write two "
                          "digits per byte)",
                          text[i], i + 1);
      return false;
    }
    out->push_back(static_cast<char>(hi << 4 | lo));
    ++i;
  }
  if (out->size() == before) {
    *why = fmt::format("empty hex block at character {}", begin);
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> decode_classifier_bytes(std::string_view text, std::string* why) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '|') {
      const size_t close = text.find('|', i + 1);
      if (close == std::string_view::npos) {
        *why = fmt::format("unterminated hex block at character {} (a literal pipe is \\|)", i + 1);
        return std::nullopt;
      }
      if (!decode_hex_block(text, i + 1, close, &out, why)) return std::nullopt;
      i = close;
      continue;
    }
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i + 1 == text.size()) {
      *why = fmt::format("unfinished escape at character {} (a backslash is \\\\)", i + 1);
      return std::nullopt;
    }
    const char e = text[++i];
    switch (e) {
      case '\\':
      case '"':
      case '|':
        out.push_back(e);
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case '0':
        out.push_back('\0');
        break;
      case 'x': {
        const int hi = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
        const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
          *why = fmt::format("bad escape \\x{} at character {} (\\x takes two hex digits)",
                             text.substr(i + 1, 2), i);
          return std::nullopt;
        }
        out.push_back(static_cast<char>(hi << 4 | lo));
        i += 2;
        break;
      }
      default:
        *why = fmt::format(
            "bad escape \\{} at character {} (allowed: \\xHH \\\\ \\\" \\n \\r \\t \\0 \\|)", e, i);
        return std::nullopt;
    }
  }
  return out;
}

std::vector<ClassifierSpec> classifier_specs(const std::vector<ClassifierRuleConfig>& rules,
                                             const std::string& config_file) {
  std::vector<ClassifierSpec> specs;
  specs.reserve(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    const ClassifierRuleConfig& r = rules[i];
    std::string why;
    specs.push_back({r.name, static_cast<uint8_t>(r.proto), r.offset,
                     decode_classifier_bytes(r.bytes, &why).value_or(std::string()),
                     static_cast<uint8_t>(r.direction),
                     fmt::format("{}: classifiers.{}", config_file, i)});
  }
  return specs;
}

void describe(config::Section<ClassifierRuleConfig>& s) {
  s.field("name", &ClassifierRuleConfig::name)
      .help(
          "The classifier's name, as matches report it. Several rules may share one, one per "
          "alternative (\"http\": GET, POST...).");
  s.enumeration("proto", &ClassifierRuleConfig::proto,
                {{"tcp", ClassifierProto::kTcp}, {"udp", ClassifierProto::kUdp}})
      .help("The L4 protocol of the flows it applies to.");
  s.field("offset", &ClassifierRuleConfig::offset)
      .range(0, kClassifierMaxWindow - 1)
      .help("Where the bytes must start in the first payload of a direction.");
  s.field("bytes", &ClassifierRuleConfig::bytes)
      .help(
          "The bytes, exactly at offset: text with the escapes \\xHH \\\\ \\\" \\n \\r \\t \\0 "
          "\\|, and hex blocks as Suricata writes them ('|16 03 01|'). Single-quote it in YAML.");
  s.enumeration("direction", &ClassifierRuleConfig::direction,
                {{"any", ClassifierDirection::kAny},
                 {"client", ClassifierDirection::kClient},
                 {"server", ClassifierDirection::kServer}})
      .help(
          "Whose first payload it looks at: the client's (it sent the first packet), the "
          "server's, or either.");
  s.check("name is 1 to 64 bytes", {"name"},
          [](const ClassifierRuleConfig& r, config::Issues& issues) {
            if (r.name.empty()) {
              issues.error("name", "must not be empty");
            } else if (r.name.size() > kClassifierMaxName) {
              issues.error("name", fmt::format("{} bytes is too long (at most {})", r.name.size(),
                                               kClassifierMaxName));
            }
          });
  s.check("bytes decodes to 1 to 255 bytes", {"bytes"},
          [](const ClassifierRuleConfig& r, config::Issues& issues) {
            std::string why;
            const std::optional<std::string> bytes = decode_classifier_bytes(r.bytes, &why);
            if (r.bytes.empty()) {
              issues.error("bytes", "must not be empty");
            } else if (!bytes) {
              issues.error("bytes", why);
            } else if (bytes->size() > kClassifierMaxBytes) {
              issues.error("bytes", fmt::format("{} bytes is too long (at most {})", bytes->size(),
                                                kClassifierMaxBytes));
            }
          });
  s.check("offset + length of bytes <= 1024", {"offset", "bytes"},
          [](const ClassifierRuleConfig& r, config::Issues& issues) {
            std::string why;
            const auto bytes = decode_classifier_bytes(r.bytes, &why);
            if (!bytes) return;  // reported above
            const uint64_t end = uint64_t{r.offset} + bytes->size();
            if (end > kClassifierMaxWindow) {
              issues.error("offset",
                           fmt::format("offset out of range: offset+length {} exceeds the "
                                       "{}-byte window",
                                       end, kClassifierMaxWindow));
            }
          });
}

void describe(config::Section<ClassifierEngineConfig>& s) {
  s.field("enabled", &ClassifierEngineConfig::enabled)
      .help("Match the payload-prefix classifiers (the classifiers: list, Lua's) with Hyperscan.");
  s.field("cache_dir", &ClassifierEngineConfig::cache_dir)
      .help(
          "Where compiled rule sets are kept, one file per set named by its SHA-256, so that "
          "a restart with the same rules loads instead of compiling. Empty: no cache. A "
          "directory that cannot be written only costs the compile.");
}

}  // namespace loupe
