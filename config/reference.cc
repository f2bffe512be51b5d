// Schema → Markdown: the configuration reference in docs/ is this output, so
// it can never drift from what the loader accepts.
#include <fmt/format.h>

#include <string>

#include "config/schema_io.h"

namespace loupe::config {
namespace {

// Table cells are one line, and a "|" would end the cell.
std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string code(std::string_view text) { return fmt::format("`{}`", cell(text)); }

std::string shown_scalar(const FieldSpec& f, const Scalar& value) {
  const std::string text = format_scalar(f, value);
  return std::holds_alternative<std::string>(value) ? fmt::format("{:?}", text) : text;
}

std::string shown_default(const FieldSpec& f, const void* object) {
  if (f.kind != Kind::kList) return code(shown_scalar(f, f.get(object)));
  std::string items;
  for (const Scalar& value : f.get_list(object)) {
    items += (items.empty() ? "" : ", ") + shown_scalar(f, value);
  }
  return code("[" + items + "]");
}

void write_rules(std::string& out, const SectionSpec& spec) {
  out += "\n";
  for (const CheckSpec& check : spec.checks) out += fmt::format("- {}\n", check.rule);
}

bool is_leaf(const FieldSpec& f) { return f.kind != Kind::kSection && f.kind != Kind::kObjectList; }

// `path` is the section's key path ("flow.timeouts", "ports"; "" for the
// root), `level` its heading depth. Keys of list items show as "ports.N.name".
void write_section(std::string& out, const SectionSpec& spec, const void* defaults,
                   const std::string& path, const FieldSpec* field, int level) {
  const bool list = field != nullptr && field->kind == Kind::kObjectList;
  const std::string prefix = path.empty() ? "" : path + (list ? ".N." : ".");
  if (field != nullptr) {
    out += fmt::format("\n{} {}\n\n", std::string(static_cast<size_t>(level), '#'), path);
    if (!field->help.empty()) out += field->help + "\n";
    if (list) {
      out += fmt::format(
          "\nA list; each item is a mapping with the keys below. `--set` selects an item by "
          "index (`{}.0.{}=...`); the index one past the end appends an item.\n",
          path, spec.fields.front().name);
    }
  }
  // The root's rules span sections: they read better after all of them.
  if (!spec.checks.empty() && field != nullptr) {
    out += "\nRules:\n";
    write_rules(out, spec);
  }
  bool table = false;
  for (const FieldSpec& f : spec.fields) {
    if (!is_leaf(f)) continue;
    if (!table) {
      out += "\n| Key | Type | Allowed | Default | Description |\n";
      out += "| --- | --- | --- | --- | --- |\n";
      table = true;
    }
    const std::string allowed = allowed_values(f);
    out += fmt::format("| {} | {} | {} | {} | {} |\n", code(prefix + f.name), f.type_name,
                       allowed.empty() ? "any" : cell(allowed), shown_default(f, defaults),
                       cell(f.help));
  }
  for (const FieldSpec& f : spec.fields) {
    if (f.kind == Kind::kSection) {
      write_section(out, *f.section, f.const_child(defaults), prefix + f.name, &f, level + 1);
    } else if (f.kind == Kind::kObjectList) {
      // An item's defaults are those of a default-constructed item.
      const auto item = f.section->make_default();
      write_section(out, *f.section, item.get(), prefix + f.name, &f, level + 1);
    }
  }
  if (!spec.checks.empty() && field == nullptr) {
    out += "\n## Rules across sections\n";
    write_rules(out, spec);
  }
}

}  // namespace

std::string reference_markdown(const SectionSpec& schema) {
  std::string out;
  const auto defaults = schema.make_default();
  write_section(out, schema, defaults.get(), "", nullptr, 1);
  return out;
}

}  // namespace loupe::config
