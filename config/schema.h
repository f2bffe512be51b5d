// The schema DSL. Each module describes its config struct in its own
// *_config.cc with a describe() overload:
//
//   void describe(config::Section<WorkersConfig>& s) {
//     s.field("count", &WorkersConfig::count).range(1, 128).help("Worker lcores.");
//   }
//
// A field's type comes from the member's C++ type, its default from the
// struct's default member initialiser (a default-constructed struct is read),
// so neither is ever written twice. The loader, the dumper and the reference
// generator all walk the SectionSpec tree built from these calls; nothing
// reads configuration by string path at the point of use.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "config/net_types.h"
#include "config/schema_fwd.h"

namespace loupe::config {

enum class Kind : uint8_t {
  kBool,
  kUnsigned,
  kString,
  kEnum,
  kIp,
  kCidr,
  kList,        // a sequence of one scalar kind (item_kind)
  kSection,     // a nested struct
  kObjectList,  // a std::vector of a nested struct
};

// One scalar value in type-erased form; an enum travels as its underlying value.
using Scalar = std::variant<bool, uint64_t, std::string, IpAddress, Cidr>;

// What a section check reports through. A key names the offending field
// relative to the checked section ("pci", or "ports.1.name" from the root);
// "" means the section itself. The loader turns keys into a file position.
class Issues {
 public:
  struct Issue {
    std::string key;
    std::string message;
    // When set, the error is about these fields together and points at the
    // one written last (the override that broke the rule), else at `key`.
    std::vector<std::string> culprits;
  };

  void error(std::string key, std::string message) {
    found_.push_back({std::move(key), std::move(message), {}});
  }
  // An error about the section as a whole, caused by whichever of `culprits`
  // was written last.
  void error_latest_of(std::vector<std::string> culprits, std::string message) {
    found_.push_back({"", std::move(message), std::move(culprits)});
  }
  const std::vector<Issue>& found() const { return found_; }

 private:
  std::vector<Issue> found_;
};

struct SectionSpec;

struct FieldSpec {
  std::string name;
  std::string help;
  Kind kind = Kind::kString;
  Kind item_kind = Kind::kString;  // kList: the kind of every item
  const char* type_name = "";      // as the reference shows it: "u32", "list of strings"
  // kUnsigned (and kList of it): inclusive bounds, never wider than the member's type.
  uint64_t min = 0;
  uint64_t max = 0;
  bool power_of_two = false;
  std::vector<std::pair<std::string, uint64_t>> enum_values;  // kEnum: name, underlying value
  std::shared_ptr<const SectionSpec> section;                 // kSection, kObjectList

  // Access to the member inside its owning struct, passed type-erased.
  std::function<Scalar(const void*)> get;  // scalar kinds
  std::function<void(void*, const Scalar&)> set;
  std::function<std::vector<Scalar>(const void*)> get_list;  // kList
  std::function<void(void*, const std::vector<Scalar>&)> set_list;
  std::function<void*(void*)> child;  // kSection
  std::function<const void*(const void*)> const_child;
  std::function<size_t(const void*)> size;  // kObjectList
  std::function<void(void*, size_t)> resize;
  std::function<void*(void*, size_t)> item;
  std::function<const void*(const void*, size_t)> const_item;
};

// A rule over several fields, run on the final struct after every override.
struct CheckSpec {
  std::string rule;                // one line, for the reference
  std::vector<std::string> reads;  // fields of the section it reads
  std::function<void(const void*, Issues&)> run;
};

struct SectionSpec {
  std::vector<FieldSpec> fields;  // in declaration order, which is also dump order
  std::vector<CheckSpec> checks;
  // A default-constructed instance: where the reference reads defaults.
  std::function<std::shared_ptr<const void>()> make_default;

  const FieldSpec* find(std::string_view name) const;
};

// Builds the spec of T by calling describe(Section<T>&), found by argument-
// dependent lookup in T's namespace.
template <typename T>
std::shared_ptr<const SectionSpec> schema_of();

// Refines the field just declared: s.field(...).range(1, 128).help("...").
class FieldBuilder {
 public:
  FieldBuilder(SectionSpec& spec, size_t index) : spec_(&spec), index_(index) {}

  FieldBuilder& help(std::string text);
  // Unsigned fields (or lists of them). Throws std::logic_error when wider
  // than the member's type: that is a schema bug, found by any load.
  FieldBuilder& range(uint64_t min, uint64_t max);
  FieldBuilder& power_of_two();

 private:
  FieldSpec& field() { return spec_->fields[index_]; }

  SectionSpec* spec_;
  size_t index_;
};

namespace detail {

template <typename M>
struct ScalarTraits;  // undefined: a member of this type cannot be a config field

template <>
struct ScalarTraits<bool> {
  static constexpr Kind kKind = Kind::kBool;
  static constexpr const char* kName = "bool";
  static constexpr const char* kListName = "list of bools";
  static Scalar to(bool v) { return v; }
  static bool from(const Scalar& s) { return std::get<bool>(s); }
};

template <std::unsigned_integral U>
requires(!std::same_as<U, bool>) struct ScalarTraits<U> {
  static constexpr Kind kKind = Kind::kUnsigned;
  static constexpr const char* kName = sizeof(U) == 1   ? "u8"
                                       : sizeof(U) == 2 ? "u16"
                                       : sizeof(U) == 4 ? "u32"
                                                        : "u64";
  static constexpr const char* kListName = sizeof(U) == 1   ? "list of u8"
                                           : sizeof(U) == 2 ? "list of u16"
                                           : sizeof(U) == 4 ? "list of u32"
                                                            : "list of u64";
  static Scalar to(U v) { return static_cast<uint64_t>(v); }
  // The loader checked the range, which range() keeps within U.
  static U from(const Scalar& s) { return static_cast<U>(std::get<uint64_t>(s)); }
};

template <>
struct ScalarTraits<std::string> {
  static constexpr Kind kKind = Kind::kString;
  static constexpr const char* kName = "string";
  static constexpr const char* kListName = "list of strings";
  static Scalar to(const std::string& v) { return v; }
  static std::string from(const Scalar& s) { return std::get<std::string>(s); }
};

template <>
struct ScalarTraits<IpAddress> {
  static constexpr Kind kKind = Kind::kIp;
  static constexpr const char* kName = "IP address";
  static constexpr const char* kListName = "list of IP addresses";
  static Scalar to(const IpAddress& v) { return v; }
  static IpAddress from(const Scalar& s) { return std::get<IpAddress>(s); }
};

template <>
struct ScalarTraits<Cidr> {
  static constexpr Kind kKind = Kind::kCidr;
  static constexpr const char* kName = "CIDR";
  static constexpr const char* kListName = "list of CIDRs";
  static Scalar to(const Cidr& v) { return v; }
  static Cidr from(const Scalar& s) { return std::get<Cidr>(s); }
};

template <typename M>
struct IsVector : std::false_type {};
template <typename E>
struct IsVector<std::vector<E>> : std::true_type {};

template <typename M>
void set_type_bounds(FieldSpec& f) {
  if constexpr (ScalarTraits<M>::kKind == Kind::kUnsigned) {
    f.max = std::numeric_limits<M>::max();
  }
}

}  // namespace detail

template <typename T>
class Section {
 public:
  explicit Section(SectionSpec& spec) : spec_(&spec) {}

  // A scalar member (bool, unsigned integer, std::string, IpAddress, Cidr) or
  // a std::vector of one of those.
  template <typename M>
  FieldBuilder field(std::string name, M T::*member) {
    FieldSpec& f = add(std::move(name));
    if constexpr (detail::IsVector<M>::value) {
      using E = typename M::value_type;
      using Traits = detail::ScalarTraits<E>;
      f.kind = Kind::kList;
      f.item_kind = Traits::kKind;
      f.type_name = Traits::kListName;
      detail::set_type_bounds<E>(f);
      f.get_list = [member](const void* o) {
        std::vector<Scalar> out;
        for (const E& e : static_cast<const T*>(o)->*member) out.push_back(Traits::to(e));
        return out;
      };
      f.set_list = [member](void* o, const std::vector<Scalar>& values) {
        M& list = static_cast<T*>(o)->*member;
        list.clear();
        for (const Scalar& v : values) list.push_back(Traits::from(v));
      };
    } else {
      using Traits = detail::ScalarTraits<M>;
      f.kind = Traits::kKind;
      f.type_name = Traits::kName;
      detail::set_type_bounds<M>(f);
      f.get = [member](const void* o) { return Traits::to(static_cast<const T*>(o)->*member); };
      f.set = [member](void* o, const Scalar& v) { static_cast<T*>(o)->*member = Traits::from(v); };
    }
    return builder();
  }

  // An enum member, spelled in YAML by the names given here.
  template <typename E>
  requires std::is_enum_v<E> FieldBuilder enumeration(
      std::string name, E T::*member, std::initializer_list<std::pair<const char*, E>> values) {
    FieldSpec& f = add(std::move(name));
    f.kind = Kind::kEnum;
    f.type_name = "enum";
    for (const auto& [value_name, value] : values) {
      f.enum_values.emplace_back(value_name, static_cast<uint64_t>(value));
    }
    f.get = [member](const void* o) {
      return Scalar(static_cast<uint64_t>(static_cast<const T*>(o)->*member));
    };
    f.set = [member](void* o, const Scalar& v) {
      static_cast<T*>(o)->*member = static_cast<E>(std::get<uint64_t>(v));
    };
    return builder();
  }

  // A nested struct with its own describe().
  template <typename S>
  FieldBuilder section(std::string name, S T::*member) {
    FieldSpec& f = add(std::move(name));
    f.kind = Kind::kSection;
    f.type_name = "section";
    f.section = schema_of<S>();
    f.child = [member](void* o) -> void* { return &(static_cast<T*>(o)->*member); };
    f.const_child = [member](const void* o) -> const void* {
      return &(static_cast<const T*>(o)->*member);
    };
    return builder();
  }

  // A list of nested structs, each item a mapping in YAML.
  template <typename S>
  FieldBuilder list(std::string name, std::vector<S> T::*member) {
    FieldSpec& f = add(std::move(name));
    f.kind = Kind::kObjectList;
    f.type_name = "list of sections";
    f.section = schema_of<S>();
    f.size = [member](const void* o) { return (static_cast<const T*>(o)->*member).size(); };
    f.resize = [member](void* o, size_t n) { (static_cast<T*>(o)->*member).resize(n); };
    f.item = [member](void* o, size_t i) -> void* { return &(static_cast<T*>(o)->*member)[i]; };
    f.const_item = [member](const void* o, size_t i) -> const void* {
      return &(static_cast<const T*>(o)->*member)[i];
    };
    return builder();
  }

  // A rule over several fields, checked once the whole config (file and
  // overrides) is in. `rule` is one line for the reference. `reads` names the
  // fields it looks at ("pci", or "dpdk.rx_desc" through nested sections):
  // when one of them had a bad value, and so kept its old one, the check is
  // skipped rather than report a consequence of that error.
  void check(std::string rule, std::vector<std::string> reads,
             std::function<void(const T&, Issues&)> fn) {
    add_check(*spec_, {std::move(rule), std::move(reads),
                       [fn = std::move(fn)](const void* o, Issues& issues) {
                         fn(*static_cast<const T*>(o), issues);
                       }});
  }

 private:
  FieldSpec& add(std::string name);
  FieldBuilder builder() { return FieldBuilder(*spec_, spec_->fields.size() - 1); }

  SectionSpec* spec_;
};

// Out of line so that they name no type: one copy serves every Section<T>.
// Both throw std::logic_error on a schema bug (a repeated name, a check
// reading a field not declared before it).
void add_field(SectionSpec& spec, std::string name);
void add_check(SectionSpec& spec, CheckSpec check);

template <typename T>
FieldSpec& Section<T>::add(std::string name) {
  add_field(*spec_, std::move(name));
  return spec_->fields.back();
}

template <typename T>
std::shared_ptr<const SectionSpec> schema_of() {
  auto spec = std::make_shared<SectionSpec>();
  spec->make_default = [] { return std::shared_ptr<const void>(std::make_shared<const T>()); };
  Section<T> section(*spec);
  describe(section);
  return spec;
}

// Scalar helpers shared by the reader, the writer and the reference.

// Parses the text of one YAML scalar as `kind` (the field's kind, or its
// item_kind for a list). `quoted` is true for a quoted or !!str scalar, which
// numbers and bools refuse. On failure returns nullopt and sets *why.
std::optional<Scalar> parse_scalar(const FieldSpec& f, Kind kind, std::string_view text,
                                   bool quoted, std::string* why);
// The range and power-of-two constraints; nullopt when the value is fine.
std::optional<std::string> check_scalar(const FieldSpec& f, const Scalar& value);
// Canonical text: what the dump writes and the reference shows (enum: its name).
std::string format_scalar(const FieldSpec& f, const Scalar& value);
// The allowed values in words ("1..128, power of two", "auto, on, off").
std::string allowed_values(const FieldSpec& f);
// What YAML must hold for this kind ("an unsigned integer", "a mapping").
std::string expected_shape(Kind kind);
// The closest name to `key` among the section's fields, or "" if none is close.
std::string closest_field(const SectionSpec& spec, std::string_view key);

}  // namespace loupe::config
