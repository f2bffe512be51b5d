// YAML → struct through a schema: the file first, then --set overrides, then
// the range and cross-field checks on the result. Every problem is collected
// with the position of the text that caused it.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "config/schema_io.h"

namespace loupe::config {
namespace {

constexpr const char* kOverrideFile = "--set";

struct Location {
  std::string file;
  int line = 0;
  int col = 0;
  uint64_t written = 0;  // write order, when it is where a value was written
};

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string prefixed(const std::string& path, const std::string& message) {
  return path.empty() ? message : fmt::format("{}: {}", path, message);
}

std::string shape_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return fmt::format("{:?}", node.Scalar());
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "no value";
}

// yaml-cpp tags a quoted scalar "!", a plain one "?".
bool is_quoted(const YAML::Node& node) {
  return node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str";
}

std::string expected(const FieldSpec& f, Kind kind) {
  if (kind == Kind::kEnum) return fmt::format("one of: {}", allowed_values(f));
  return expected_shape(kind);
}

std::string unknown_key(const SectionSpec& spec, const std::string& path, std::string_view name) {
  const std::string near = closest_field(spec, name);
  if (!near.empty())
    return fmt::format("{}: unknown key; did you mean {:?}?", join(path, name), near);
  std::string allowed;
  for (const FieldSpec& f : spec.fields) allowed += allowed.empty() ? f.name : ", " + f.name;
  return fmt::format("{}: unknown key (allowed here: {})", join(path, name), allowed);
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  // False when the text is not YAML at all.
  bool read_document(const SectionSpec& spec, void* object, std::string_view text);
  void apply_override(const SectionSpec& spec, void* object, std::string_view text, int index);
  void validate(const SectionSpec& spec, const void* object, const std::string& path);
  std::vector<ConfigError> take_errors();

 private:
  Location at(const YAML::Mark& mark) const;
  void error(const Location& where, std::string message);
  void read_section(const SectionSpec& spec, void* object, const YAML::Node& map,
                    const std::string& path);
  void read_field(const FieldSpec& f, void* owner, const YAML::Node& node, const std::string& path,
                  const Location& where);
  bool read_scalar(const FieldSpec& f, Kind kind, const YAML::Node& node, const std::string& path,
                   const Location& where, Scalar* out);
  void record(const std::string& path, const Location& where, bool replaces_children);
  Location locate(const std::string& path) const;
  // Applies one override's value to a field, or to a whole list item when
  // `f` is null (ports.1={...}).
  void apply_value(const FieldSpec* f, const SectionSpec& section, void* object,
                   const std::string& path, std::string_view value);

  std::string file_;
  // Where the YAML being read comes from: 0 for the file, else the 1-based
  // override whose value text starts at 0-based column value_col_.
  int override_ = 0;
  int value_col_ = 0;
  // Path → where its current value was written; checks report there.
  std::map<std::string, Location> set_at_;
  uint64_t writes_ = 0;
  // Paths whose text was rejected (their previous value stayed): a check
  // reading one would mostly report the same mistake again.
  std::set<std::string> broken_;
  std::vector<ConfigError> errors_;
};

Location Reader::at(const YAML::Mark& mark) const {
  if (override_ == 0) {
    if (mark.is_null()) return {file_, 0, 0};
    return {file_, mark.line + 1, mark.column + 1};
  }
  // Overrides are one line; a value spread over lines points at its start.
  const int col = mark.is_null() || mark.line != 0 ? 0 : mark.column;
  return {kOverrideFile, override_, value_col_ + col + 1};
}

void Reader::error(const Location& where, std::string message) {
  errors_.push_back({where.file, where.line, where.col, std::move(message)});
}

void Reader::record(const std::string& path, const Location& where, bool replaces_children) {
  if (replaces_children) {
    const std::string prefix = path + ".";
    auto it = set_at_.lower_bound(prefix);
    while (it != set_at_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
      it = set_at_.erase(it);
    }
  }
  Location& entry = set_at_[path];
  entry = where;
  entry.written = ++writes_;
}

Location Reader::locate(const std::string& path) const {
  std::string p = path;
  for (;;) {
    if (auto it = set_at_.find(p); it != set_at_.end()) return it->second;
    const size_t dot = p.rfind('.');
    if (dot == std::string::npos) break;
    p.resize(dot);
  }
  // Never written: a default, which has no position.
  return {file_, 0, 0};
}

bool Reader::read_document(const SectionSpec& spec, void* object, std::string_view text) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    error(at(e.mark), "YAML syntax error: " + e.msg);
    return false;
  }
  for (size_t i = 1; i < documents.size(); ++i) {
    if (!documents[i].IsNull()) {
      error(at(documents[i].Mark()), "only one YAML document is allowed");
      break;
    }
  }
  // An empty file, or one with only comments, is a valid config of defaults.
  if (documents.empty() || documents[0].IsNull()) return true;
  const YAML::Node& root = documents[0];
  if (!root.IsMap()) {
    error(at(root.Mark()),
          fmt::format("expected a mapping at the top level, got {}", shape_of(root)));
    broken_.insert("");
    return true;
  }
  read_section(spec, object, root, "");
  return true;
}

void Reader::read_section(const SectionSpec& spec, void* object, const YAML::Node& map,
                          const std::string& path) {
  // yaml-cpp keeps every pair of a mapping, repeated keys included.
  std::map<std::string, int> first_seen;
  for (const auto& pair : map) {
    const YAML::Node& key = pair.first;
    const YAML::Node& value = pair.second;
    const Location key_at = at(key.Mark());
    if (!key.IsScalar()) {
      error(key_at, prefixed(path, fmt::format("expected a key, got {}", shape_of(key))));
      continue;
    }
    const std::string& name = key.Scalar();
    const std::string key_path = join(path, name);
    const auto [first, inserted] =
        first_seen.emplace(name, override_ == 0 ? key_at.line : key_at.col);
    if (!inserted) {
      error(key_at, fmt::format("{}: duplicate key (first at {} {})", key_path,
                                override_ == 0 ? "line" : "column", first->second));
      continue;
    }
    const FieldSpec* f = spec.find(name);
    if (f == nullptr) {
      error(key_at, unknown_key(spec, path, name));
      continue;
    }
    // An empty value's mark is on the next line; the key is where to look.
    const Location value_at = value.IsNull() ? key_at : at(value.Mark());
    read_field(*f, object, value, key_path, value_at);
  }
}

void Reader::read_field(const FieldSpec& f, void* owner, const YAML::Node& node,
                        const std::string& path, const Location& where) {
  switch (f.kind) {
    case Kind::kSection:
      // "flow:" with every key commented out keeps the defaults; a mapping is
      // merged key by key onto what is there.
      if (node.IsNull()) return;
      if (!node.IsMap()) {
        error(where, fmt::format("{}: expected a mapping, got {}", path, shape_of(node)));
        broken_.insert(path);
        return;
      }
      record(path, where, false);
      read_section(*f.section, f.child(owner), node, path);
      return;

    case Kind::kObjectList: {
      if (!node.IsNull() && !node.IsSequence()) {
        error(where,
              fmt::format("{}: expected a sequence of mappings, got {}", path, shape_of(node)));
        broken_.insert(path);
        return;
      }
      // A list is replaced as a whole; null ("ports:" over commented items) is empty.
      record(path, where, true);
      f.resize(owner, 0);
      if (node.IsNull()) return;
      f.resize(owner, node.size());
      size_t i = 0;
      for (const YAML::Node& item : node) {
        const std::string item_path = join(path, std::to_string(i));
        const Location item_at = item.IsNull() ? where : at(item.Mark());
        if (!item.IsMap()) {
          error(item_at, fmt::format("{}: expected a mapping, got {}", item_path, shape_of(item)));
          broken_.insert(item_path);
        } else {
          record(item_path, item_at, true);
          read_section(*f.section, f.item(owner, i), item, item_path);
        }
        ++i;
      }
      return;
    }

    case Kind::kList: {
      if (!node.IsNull() && !node.IsSequence()) {
        const std::string hint =
            node.IsScalar() ? fmt::format(" (write [{}] for a list of one)", node.Scalar()) : "";
        error(where,
              fmt::format("{}: expected a {}, got {}{}", path, f.type_name, shape_of(node), hint));
        broken_.insert(path);
        return;
      }
      std::vector<Scalar> values;
      bool ok = true;
      size_t i = 0;
      for (const YAML::Node& item : node) {
        const Location item_at = item.IsNull() ? where : at(item.Mark());
        Scalar value;
        if (read_scalar(f, f.item_kind, item, join(path, std::to_string(i)), item_at, &value)) {
          values.push_back(std::move(value));
        } else {
          ok = false;
        }
        ++i;
      }
      if (!ok) {
        broken_.insert(path);
        return;
      }
      record(path, where, true);
      f.set_list(owner, values);
      return;
    }

    case Kind::kBool:
    case Kind::kUnsigned:
    case Kind::kString:
    case Kind::kEnum:
    case Kind::kIp:
    case Kind::kCidr: {
      Scalar value;
      if (!read_scalar(f, f.kind, node, path, where, &value)) {
        broken_.insert(path);
        return;
      }
      record(path, where, true);
      f.set(owner, value);
      return;
    }
  }
}

bool Reader::read_scalar(const FieldSpec& f, Kind kind, const YAML::Node& node,
                         const std::string& path, const Location& where, Scalar* out) {
  if (!node.IsScalar()) {
    const std::string hint =
        node.IsNull() && kind == Kind::kString ? " (write \"\" for an empty string)" : "";
    error(where,
          fmt::format("{}: expected {}, got {}{}", path, expected(f, kind), shape_of(node), hint));
    return false;
  }
  std::string why;
  auto value = parse_scalar(f, kind, node.Scalar(), is_quoted(node), &why);
  if (!value) {
    error(where, prefixed(path, why));
    return false;
  }
  if (auto bad = check_scalar(f, *value)) {
    error(where, prefixed(path, *bad));
    return false;
  }
  *out = std::move(*value);
  return true;
}

void Reader::apply_override(const SectionSpec& spec, void* object, std::string_view text,
                            int index) {
  override_ = index;
  value_col_ = 0;
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    error({kOverrideFile, index, 1}, fmt::format("expected key.path=value, got {:?}", text));
    return;
  }
  value_col_ = static_cast<int>(eq) + 1;
  const std::string_view keys = text.substr(0, eq);
  const std::string_view value = text.substr(eq + 1);
  auto component_at = [&](size_t pos) {
    return Location{kOverrideFile, index, static_cast<int>(pos) + 1};
  };
  auto component = [&](size_t pos) {
    const size_t dot = keys.find('.', pos);
    return keys.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
  };

  const SectionSpec* section = &spec;
  std::string path;
  size_t pos = 0;
  for (;;) {
    const std::string_view name = component(pos);
    if (name.empty()) {
      error(component_at(pos), fmt::format("{:?}: empty key in the path", keys));
      return;
    }
    const FieldSpec* f = section->find(name);
    if (f == nullptr) {
      error(component_at(pos), unknown_key(*section, path, name));
      return;
    }
    const std::string field_path = join(path, name);
    pos += name.size() + 1;
    if (pos > keys.size()) {
      apply_value(f, *section, object, field_path, value);
      return;
    }
    if (f->kind == Kind::kSection) {
      section = f->section.get();
      object = f->child(object);
      path = field_path;
      continue;
    }
    if (f->kind != Kind::kObjectList) {
      error(component_at(pos),
            fmt::format("{}: unknown key ({} is a {}, not a section)",
                        join(field_path, component(pos)), field_path, f->type_name));
      return;
    }
    // A list of sections: the next component is an item index; the size
    // itself appends an item, so that overrides can add a port.
    const std::string_view index_text = component(pos);
    const size_t size = f->size(object);
    size_t item = 0;
    const bool numeric = !index_text.empty() && index_text.size() < 10 &&
                         index_text.find_first_not_of("0123456789") == std::string_view::npos;
    if (numeric) item = std::stoul(std::string(index_text));
    if (!numeric || item > size) {
      error(component_at(pos),
            fmt::format("{}: expected an item index 0..{} ({} has {} item{}; {} appends one)",
                        join(field_path, index_text), size, field_path, size, size == 1 ? "" : "s",
                        size));
      return;
    }
    const std::string item_path = join(field_path, std::to_string(item));  // "01" is item 1
    if (item == size) {
      f->resize(object, size + 1);
      record(item_path, component_at(pos), true);
    }
    section = f->section.get();
    object = f->item(object, item);
    path = item_path;
    pos += index_text.size() + 1;
    if (pos > keys.size()) {
      apply_value(nullptr, *section, object, path, value);
      return;
    }
  }
}

void Reader::apply_value(const FieldSpec* f, const SectionSpec& section, void* object,
                         const std::string& path, std::string_view value) {
  YAML::Node node;
  if (value.empty()) {
    // "key=" is the empty string: a shell makes "" awkward to pass.
    node = YAML::Node(std::string());
  } else {
    try {
      node = YAML::Load(std::string(value));
    } catch (const YAML::Exception& e) {
      error(at(e.mark), prefixed(path, "YAML syntax error in the value: " + e.msg));
      return;
    }
  }
  const Location where =
      node.IsNull() ? Location{kOverrideFile, override_, value_col_ + 1} : at(node.Mark());
  if (f != nullptr) {
    read_field(*f, object, node, path, where);
    return;
  }
  if (!node.IsMap()) {
    error(where, fmt::format("{}: expected a mapping, got {}", path, shape_of(node)));
    return;
  }
  record(path, where, false);
  read_section(section, object, node, path);
}

void Reader::validate(const SectionSpec& spec, const void* object, const std::string& path) {
  for (const FieldSpec& f : spec.fields) {
    const std::string field_path = join(path, f.name);
    // Values from YAML were range-checked as they were read; this catches a
    // default that breaks its own schema.
    if (f.kind == Kind::kUnsigned) {
      if (auto bad = check_scalar(f, f.get(object))) {
        error(locate(field_path), prefixed(field_path, "default " + *bad));
      }
    } else if (f.kind == Kind::kList) {
      for (const Scalar& value : f.get_list(object)) {
        if (auto bad = check_scalar(f, value)) {
          error(locate(field_path), prefixed(field_path, "default " + *bad));
        }
      }
    } else if (f.kind == Kind::kSection) {
      validate(*f.section, f.const_child(object), field_path);
    } else if (f.kind == Kind::kObjectList) {
      for (size_t i = 0; i < f.size(object); ++i) {
        validate(*f.section, f.const_item(object, i), join(field_path, std::to_string(i)));
      }
    }
  }
  // A list item that was not a mapping is all defaults: its checks would
  // only restate that error.
  if (broken_.count(path) > 0) return;
  for (const CheckSpec& check : spec.checks) {
    const bool reads_broken =
        std::any_of(check.reads.begin(), check.reads.end(),
                    [&](const std::string& name) { return broken_.count(join(path, name)) > 0; });
    if (reads_broken) continue;
    Issues issues;
    check.run(object, issues);
    for (const Issues::Issue& issue : issues.found()) {
      const std::string issue_path = issue.key.empty() ? path : join(path, issue.key);
      Location where = locate(issue_path);
      for (const std::string& culprit : issue.culprits) {
        const auto it = set_at_.find(join(path, culprit));
        if (it != set_at_.end() && it->second.written > where.written) where = it->second;
      }
      error(where, prefixed(issue_path, issue.message));
    }
  }
}

std::vector<ConfigError> Reader::take_errors() {
  // The file in reading order, then the overrides in command-line order.
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    const bool a_override = a.file == kOverrideFile;
    const bool b_override = b.file == kOverrideFile;
    return std::tie(a_override, a.line, a.col) < std::tie(b_override, b.line, b.col);
  });
  return std::move(errors_);
}

}  // namespace

std::vector<ConfigError> read_yaml(const SectionSpec& schema, void* object, std::string_view text,
                                   const std::string& name,
                                   const std::vector<std::string>& overrides) {
  Reader reader(name);
  const bool parsed = reader.read_document(schema, object, text);
  for (size_t i = 0; i < overrides.size(); ++i) {
    reader.apply_override(schema, object, overrides[i], static_cast<int>(i) + 1);
  }
  // After a syntax error the file contributed nothing: cross-field checks
  // would only report what the error hid.
  if (parsed) reader.validate(schema, object, "");
  return reader.take_errors();
}

}  // namespace loupe::config
