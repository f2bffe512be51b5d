// A flow's L7 metadata as one compact blob: a sequence of entries
// [field u8][length u16 LE][bytes], in the order they were found. A flow
// stores only the entries it has (a DNS flow carries a name, a type, a code
// and its answers; an unknown flow carries nothing), so the cost of metadata
// is what a flow actually has. The blob is built on the worker when
// detection ends, kept in the worker's MetaPool while the flow lives, and
// copied after the flow record through the output ring.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace loupe {

// Every metadata field. Declared once: X(name, kind, EVE object, EVE key)
// kind: str (bytes as text), u16 / u32 / u64 (little endian), addr (4 or 16
// bytes, network order), match (classifier match: u8 side (1 client,
// 2 server) then the rule's name, so a record stays right across reloads).
#define LOUPE_META_FIELDS(X)                                  \
  X(http_method, str, "http", "http_method")                  \
  X(http_url, str, "http", "url")                             \
  X(http_host, str, "http", "hostname")                       \
  X(http_user_agent, str, "http", "http_user_agent")          \
  X(http_content_type, str, "http", "http_content_type")      \
  X(http_status, u16, "http", "status")                       \
  X(dns_query, str, "dns", "rrname")                          \
  X(dns_qtype, u16, "dns", "rrtype")                          \
  X(dns_rcode, u16, "dns", "rcode")                           \
  X(dns_answer, addr, "dns", "answers")                       \
  X(tls_sni, str, "tls", "sni")                               \
  X(tls_alpn, str, "tls", "alpn")                             \
  X(tls_version, u16, "tls", "version")                       \
  X(tls_ja3, str, "tls", "ja3")                               \
  X(tls_ja3s, str, "tls", "ja3s")                             \
  X(tls_subject, str, "tls", "subject")                       \
  X(tls_issuer, str, "tls", "issuerdn")                       \
  X(tls_san, str, "tls", "sans")                              \
  X(tls_not_before, u64, "tls", "notbefore")                  \
  X(tls_not_after, u64, "tls", "notafter")                    \
  X(ssh_client, str, "ssh", "client")                         \
  X(ssh_server, str, "ssh", "server")                         \
  X(ssh_hassh_client, str, "ssh", "hassh_client")             \
  X(ssh_hassh_server, str, "ssh", "hassh_server")             \
  X(server_name, str, "host", "name")                         \
  X(classifier, match, "", "classifiers")                     \
  X(script_tag, str, "", "tags")                              \
  X(script_protocol, str, "", "protocols")                    \
  X(script_field, field, "", "fields")

enum class MetaField : uint8_t {
  none = 0,
#define LOUPE_X(name, kind, obj, key) name,
  LOUPE_META_FIELDS(LOUPE_X)
#undef LOUPE_X
      count
};

// The longest blob a flow keeps; entries that do not fit are dropped and
// counted (`l7_meta_truncated`).
inline constexpr uint32_t kMetaMaxBytes = 2048;
// The longest single value; longer strings are cut (URLs, certificate names).
inline constexpr uint32_t kMetaMaxValue = 1024;

struct MetaEntry {
  MetaField field;
  std::string_view value;  // raw bytes of the entry
  uint16_t u16() const {
    uint16_t v = 0;
    std::memcpy(&v, value.data(), value.size() < 2 ? value.size() : 2);
    return v;
  }
  uint32_t u32() const {
    uint32_t v = 0;
    std::memcpy(&v, value.data(), value.size() < 4 ? value.size() : 4);
    return v;
  }
  uint64_t u64() const {
    uint64_t v = 0;
    std::memcpy(&v, value.data(), value.size() < 8 ? value.size() : 8);
    return v;
  }
};

// Reads a blob. Cheap to copy; does not own the bytes.
class MetaView {
 public:
  MetaView() = default;
  MetaView(const uint8_t* data, uint32_t len) : data_(data), len_(len) {}

  bool empty() const { return len_ == 0; }
  uint32_t size() const { return len_; }
  const uint8_t* data() const { return data_; }

  // Calls fn(MetaEntry) for every entry, in order.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    uint32_t at = 0;
    while (at + 3 <= len_) {
      const uint16_t n = static_cast<uint16_t>(data_[at + 1] | (data_[at + 2] << 8));
      if (at + 3 + n > len_) break;
      fn(MetaEntry{static_cast<MetaField>(data_[at]),
                   std::string_view(reinterpret_cast<const char*>(data_ + at + 3), n)});
      at += 3 + n;
    }
  }
  // The first entry of `field`, or an entry with field none.
  MetaEntry find(MetaField field) const {
    MetaEntry found{MetaField::none, {}};
    for_each([&](const MetaEntry& e) {
      if (found.field == MetaField::none && e.field == field) found = e;
    });
    return found;
  }
  bool has(MetaField field) const { return find(field).field != MetaField::none; }

 private:
  const uint8_t* data_ = nullptr;
  uint32_t len_ = 0;
};

// Writes a blob into a caller's buffer of kMetaMaxBytes. Never allocates.
class MetaBuilder {
 public:
  explicit MetaBuilder(uint8_t* buf) : buf_(buf) {}

  // Appends an entry; an empty value is skipped, a value over kMetaMaxValue
  // is cut. Returns false (and counts) when the blob is full.
  bool add(MetaField field, const void* value, uint32_t n) {
    if (n == 0) return true;
    if (n > kMetaMaxValue) n = kMetaMaxValue;
    if (len_ + 3 + n > kMetaMaxBytes) {
      dropped_++;
      return false;
    }
    buf_[len_] = static_cast<uint8_t>(field);
    buf_[len_ + 1] = static_cast<uint8_t>(n & 0xff);
    buf_[len_ + 2] = static_cast<uint8_t>(n >> 8);
    std::memcpy(buf_ + len_ + 3, value, n);
    len_ += 3 + n;
    return true;
  }
  bool add(MetaField field, std::string_view s) { return add(field, s.data(), s.size()); }
  // A NUL-terminated C string of at most `cap` bytes (nDPI's fixed buffers).
  bool add_cstr(MetaField field, const char* s, size_t cap) {
    if (s == nullptr) return true;
    return add(field, s, static_cast<uint32_t>(strnlen(s, cap)));
  }
  bool add_u16(MetaField field, uint16_t v) { return add(field, &v, 2); }
  bool add_u32(MetaField field, uint32_t v) { return add(field, &v, 4); }
  bool add_u64(MetaField field, uint64_t v) { return add(field, &v, 8); }

  uint32_t size() const { return len_; }
  uint32_t dropped() const { return dropped_; }
  MetaView view() const { return MetaView(buf_, len_); }
  void clear() { len_ = dropped_ = 0; }

 private:
  uint8_t* buf_;
  uint32_t len_ = 0;
  uint32_t dropped_ = 0;
};

}  // namespace loupe
