// Struct → YAML through a schema: every key, block style, so that the output
// reads as a complete config file and loads back to the same struct.
#include <yaml-cpp/yaml.h>

#include "config/schema_io.h"

namespace loupe::config {
namespace {

void write_scalar(YAML::Emitter& out, const FieldSpec& f, const Scalar& value) {
  if (const bool* b = std::get_if<bool>(&value)) {
    out << *b;
  } else if (const uint64_t* n = std::get_if<uint64_t>(&value);
             n != nullptr && f.kind != Kind::kEnum) {
    out << *n;
  } else if (std::holds_alternative<std::string>(value)) {
    // Always quoted: a plain "123", "true" or "~" would read back as
    // something else to any YAML tool, if not to this loader.
    out << YAML::DoubleQuoted << std::get<std::string>(value);
  } else {
    out << format_scalar(f, value);
  }
}

void write_section(YAML::Emitter& out, const SectionSpec& spec, const void* object) {
  out << YAML::BeginMap;
  for (const FieldSpec& f : spec.fields) {
    out << YAML::Key << f.name << YAML::Value;
    switch (f.kind) {
      case Kind::kSection:
        write_section(out, *f.section, f.const_child(object));
        break;
      case Kind::kObjectList: {
        const size_t n = f.size(object);
        // Flow style for an empty list only: "ports: []" rather than a dangling "ports:".
        if (n == 0) out << YAML::Flow;
        out << YAML::BeginSeq;
        for (size_t i = 0; i < n; ++i) write_section(out, *f.section, f.const_item(object, i));
        out << YAML::EndSeq;
        break;
      }
      case Kind::kList: {
        const std::vector<Scalar> values = f.get_list(object);
        if (values.empty()) out << YAML::Flow;
        out << YAML::BeginSeq;
        for (const Scalar& value : values) write_scalar(out, f, value);
        out << YAML::EndSeq;
        break;
      }
      case Kind::kBool:
      case Kind::kUnsigned:
      case Kind::kString:
      case Kind::kEnum:
      case Kind::kIp:
      case Kind::kCidr:
        write_scalar(out, f, f.get(object));
        break;
    }
  }
  out << YAML::EndMap;
}

}  // namespace

std::string write_yaml(const SectionSpec& schema, const void* object) {
  YAML::Emitter out;
  out.SetIndent(2);
  write_section(out, schema, object);
  return std::string(out.c_str()) + "\n";
}

}  // namespace loupe::config
