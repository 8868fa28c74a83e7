// Error values and Result<T>: how every layer of gpuslice reports failure.
//
// Errors are values, not exceptions (STYLE.md §6). A function that can fail returns
// Result<T> = tl::expected<T, Error>. Exceptions thrown by third-party libraries (yaml-cpp,
// nlohmann::json) are caught at the boundary where they enter and turned into an Error.
//
// The set of codes is small on purpose; the message carries the precise detail a person needs
// ("7 x 1g.10gb exceeds the profile maximum of 4 on A100-SXM4-40GB"). Upper layers map codes to
// exit statuses and HTTP statuses in one place each.
//
// Thread-safety: plain values; safe to copy between threads.
#pragma once

#include <fmt/core.h>

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace gpuslice {

enum class ErrorCode {
  kInvalidArgument,     // the input is malformed or names something that cannot exist
  kNotFound,            // the input is well formed but refers to something unknown
  kAlreadyExists,       // creating something that is there already
  kFailedPrecondition,  // valid request, but the current state does not allow it
  kResourceExhausted,   // valid request that does not fit (no legal slot, over quota)
  kPermissionDenied,    // the caller may not do this
  kUnavailable,         // transient: retry later may succeed
  kUnimplemented,       // not supported by this build, backend or model
  kInternal,            // a bug or a broken invariant; never caused by user input
};

// Stable lower-case name of a code ("invalid-argument"), used in JSON and logs.
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // Returns a copy whose message is "<context>: <message>"; used to add where an error happened
  // as it travels up ("config 'all-balanced', GPU 3: ...").
  Error WithContext(std::string_view context) const;
};

template <typename T>
using Result = tl::expected<T, Error>;

// Unexpected<Error> built from a format string: `return Fail(ErrorCode::kNotFound, "no GPU {}", n);`
template <typename... Args>
tl::unexpected<Error> Fail(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return tl::unexpected<Error>(Error{code, fmt::format(format, std::forward<Args>(args)...)});
}

inline tl::unexpected<Error> Fail(Error error) {
  return tl::unexpected<Error>(std::move(error));
}

}  // namespace gpuslice
