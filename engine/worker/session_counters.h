// The counters of a worker's Arkime sessions (reassembly, HTTP, SMTP) as
// one table each of name, help and member, from the X-macro lists that
// declare them: what the exit summary and the metrics both walk.
#pragma once

#include "engine/stream/http_session.h"
#include "engine/stream/smtp_session.h"
#include "engine/stream/stream_table.h"

namespace loupe {

template <typename C>
struct CounterDesc {
  const char* name;
  const char* help;
  const Counter C::*field;
};

inline constexpr CounterDesc<StreamCounters> kStreamCounterDescs[] = {
#define LOUPE_X(name, help) {#name, help, &StreamCounters::name},
    LOUPE_STREAM_COUNTERS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr CounterDesc<HttpCounters> kHttpCounterDescs[] = {
#define LOUPE_X(name, help) {#name, help, &HttpCounters::name},
    LOUPE_HTTP_COUNTERS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr CounterDesc<SmtpCounters> kSmtpCounterDescs[] = {
#define LOUPE_X(name, help) {#name, help, &SmtpCounters::name},
    LOUPE_SMTP_COUNTERS(LOUPE_X)
#undef LOUPE_X
};

}  // namespace loupe
