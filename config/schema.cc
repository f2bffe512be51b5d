#include "config/schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <stdexcept>

#include "config/config_error.h"

namespace loupe {

std::string to_string(const ConfigError& error) {
  if (error.line == 0) return fmt::format("{}: {}", error.file, error.message);
  return fmt::format("{}:{}:{}: {}", error.file, error.line, error.col, error.message);
}

namespace config {

const FieldSpec* SectionSpec::find(std::string_view name) const {
  for (const FieldSpec& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void add_field(SectionSpec& spec, std::string name) {
  if (name.empty() || name.find('.') != std::string::npos || spec.find(name) != nullptr) {
    throw std::logic_error(fmt::format("schema: bad or repeated field name {:?}", name));
  }
  spec.fields.emplace_back();
  spec.fields.back().name = std::move(name);
}

namespace {

// A field path through nested sections ("dpdk.rx_desc"), as checks name them.
const FieldSpec* find_path(const SectionSpec& spec, std::string_view path) {
  const size_t dot = path.find('.');
  const FieldSpec* f = spec.find(path.substr(0, dot));
  if (f == nullptr || dot == std::string_view::npos) return f;
  if (f->kind != Kind::kSection) return nullptr;
  return find_path(*f->section, path.substr(dot + 1));
}

}  // namespace

void add_check(SectionSpec& spec, CheckSpec check) {
  for (const std::string& name : check.reads) {
    if (find_path(spec, name) == nullptr) {
      throw std::logic_error(
          fmt::format("schema: check {:?} reads unknown field {:?}", check.rule, name));
    }
  }
  spec.checks.push_back(std::move(check));
}

FieldBuilder& FieldBuilder::help(std::string text) {
  field().help = std::move(text);
  return *this;
}

FieldBuilder& FieldBuilder::range(uint64_t min, uint64_t max) {
  FieldSpec& f = field();
  const bool is_unsigned =
      f.kind == Kind::kUnsigned || (f.kind == Kind::kList && f.item_kind == Kind::kUnsigned);
  if (!is_unsigned || min > max || max > f.max) {
    throw std::logic_error(fmt::format("schema: range {}..{} does not fit field {:?} ({})", min,
                                       max, f.name, f.type_name));
  }
  f.min = min;
  f.max = max;
  return *this;
}

FieldBuilder& FieldBuilder::power_of_two() {
  FieldSpec& f = field();
  if (f.kind != Kind::kUnsigned) {
    throw std::logic_error(fmt::format("schema: power_of_two on non-integer {:?}", f.name));
  }
  f.power_of_two = true;
  return *this;
}

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// YAML 1.2 core schema spellings only: yes/no/on/off are YAML 1.1 and, in a
// config, more often a typo for an enum value than a bool.
std::optional<bool> parse_bool(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

std::optional<Scalar> parse_unsigned(const FieldSpec& f, std::string_view text, bool quoted,
                                     std::string* why) {
  const bool negative = text.size() > 1 && text[0] == '-' && all_digits(text.substr(1));
  if (!all_digits(text) && !negative) {
    *why = fmt::format("expected an unsigned integer, got {:?}", text);
    return std::nullopt;
  }
  if (quoted) {
    *why =
        fmt::format("expected an unsigned integer, got the string {:?} (remove the quotes)", text);
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  // Negative numbers and overflow are range errors, never wrapped around.
  if (negative || ec != std::errc() || end != text.data() + text.size()) {
    *why = fmt::format("{} is out of range {}..{}", text, f.min, f.max);
    return std::nullopt;
  }
  return Scalar(value);
}

}  // namespace

std::optional<Scalar> parse_scalar(const FieldSpec& f, Kind kind, std::string_view text,
                                   bool quoted, std::string* why) {
  switch (kind) {
    case Kind::kBool: {
      const auto value = parse_bool(text);
      if (!value) {
        *why = fmt::format("expected true or false, got {:?}", text);
      } else if (quoted) {
        *why = fmt::format("expected true or false, got the string {:?} (remove the quotes)", text);
      } else {
        return Scalar(*value);
      }
      return std::nullopt;
    }
    case Kind::kUnsigned:
      return parse_unsigned(f, text, quoted, why);
    case Kind::kString:
      return Scalar(std::string(text));
    case Kind::kEnum: {
      for (const auto& [name, value] : f.enum_values) {
        if (name == text) return Scalar(value);
      }
      *why = fmt::format("{:?} is not one of: {}", text, allowed_values(f));
      return std::nullopt;
    }
    case Kind::kIp: {
      // "" is how an address that is not set reads and dumps.
      if (text.empty()) return Scalar(IpAddress{});
      const auto address = parse_ip_address(text);
      if (!address) {
        *why = fmt::format("{:?} is not an IP address", text);
        return std::nullopt;
      }
      return Scalar(*address);
    }
    case Kind::kCidr: {
      if (text.empty()) return Scalar(Cidr{});
      const auto cidr = parse_cidr(text, why);
      if (!cidr) return std::nullopt;
      return Scalar(*cidr);
    }
    case Kind::kList:
    case Kind::kSection:
    case Kind::kObjectList:
      break;
  }
  *why = fmt::format("expected {}", expected_shape(kind));
  return std::nullopt;
}

std::optional<std::string> check_scalar(const FieldSpec& f, const Scalar& value) {
  const uint64_t* number = std::get_if<uint64_t>(&value);
  const bool is_unsigned =
      f.kind == Kind::kUnsigned || (f.kind == Kind::kList && f.item_kind == Kind::kUnsigned);
  if (number == nullptr || !is_unsigned) return std::nullopt;
  if (*number < f.min || *number > f.max) {
    return fmt::format("{} is out of range {}..{}", *number, f.min, f.max);
  }
  if (f.power_of_two && !std::has_single_bit(*number)) {
    const uint64_t below = std::bit_floor(*number);
    if (below == 0) return fmt::format("{} is not a power of two (nearest: 1)", *number);
    return fmt::format("{} is not a power of two (nearest: {}, {})", *number, below, below << 1);
  }
  return std::nullopt;
}

std::string format_scalar(const FieldSpec& f, const Scalar& value) {
  struct Formatter {
    const FieldSpec& f;
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(uint64_t v) const {
      if (f.kind == Kind::kEnum) {
        for (const auto& [name, underlying] : f.enum_values) {
          if (underlying == v) return name;
        }
      }
      return std::to_string(v);
    }
    std::string operator()(const std::string& v) const { return v; }
    std::string operator()(const IpAddress& v) const { return to_string(v); }
    std::string operator()(const Cidr& v) const { return to_string(v); }
  };
  return std::visit(Formatter{f}, value);
}

std::string allowed_values(const FieldSpec& f) {
  const Kind kind = f.kind == Kind::kList ? f.item_kind : f.kind;
  switch (kind) {
    case Kind::kBool:
      return "true, false";
    case Kind::kUnsigned:
      return f.power_of_two ? fmt::format("{}..{}, power of two", f.min, f.max)
                            : fmt::format("{}..{}", f.min, f.max);
    case Kind::kEnum: {
      std::string out;
      for (const auto& [name, value] : f.enum_values) {
        out += out.empty() ? name : ", " + name;
      }
      return out;
    }
    case Kind::kIp:
      return "IPv4 or IPv6 address, \"\" for none";
    case Kind::kCidr:
      return "address/length with zero host bits, \"\" for none";
    case Kind::kString:
    case Kind::kList:
    case Kind::kSection:
    case Kind::kObjectList:
      break;
  }
  return "";
}

std::string expected_shape(Kind kind) {
  switch (kind) {
    case Kind::kBool:
      return "true or false";
    case Kind::kUnsigned:
      return "an unsigned integer";
    case Kind::kString:
      return "a string";
    case Kind::kEnum:
      return "one of the names listed";
    case Kind::kIp:
      return "an IP address";
    case Kind::kCidr:
      return "a CIDR prefix";
    case Kind::kList:
      return "a sequence";
    case Kind::kSection:
      return "a mapping";
    case Kind::kObjectList:
      return "a sequence of mappings";
  }
  return "";
}

namespace {

// Optimal string alignment distance: edits plus adjacent transpositions,
// the usual shape of a typo in a key.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace

std::string closest_field(const SectionSpec& spec, std::string_view key) {
  const std::string wanted = lower(key);
  const size_t limit = std::max<size_t>(2, wanted.size() / 3) + 1;
  std::string best;
  size_t best_distance = limit;
  for (const FieldSpec& f : spec.fields) {
    size_t distance = edit_distance(wanted, f.name);
    // "hugepages" for "huge", "ring" for "ring_size": a longer or shorter
    // spelling of the same word, far in edits but plainly meant.
    const std::string_view shorter = wanted.size() < f.name.size() ? wanted : f.name;
    const std::string_view longer = wanted.size() < f.name.size() ? f.name : wanted;
    if (shorter.size() >= 3 && longer.substr(0, shorter.size()) == shorter) {
      distance = std::min(distance, limit - 1);
    }
    if (distance < best_distance) {
      best = f.name;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace config
}  // namespace loupe
