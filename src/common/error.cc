#include "common/error.h"

namespace gpuslice {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid-argument";
    case ErrorCode::kNotFound: return "not-found";
    case ErrorCode::kAlreadyExists: return "already-exists";
    case ErrorCode::kFailedPrecondition: return "failed-precondition";
    case ErrorCode::kResourceExhausted: return "resource-exhausted";
    case ErrorCode::kPermissionDenied: return "permission-denied";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kUnimplemented: return "unimplemented";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

Error Error::WithContext(std::string_view context) const {
  return Error{code, fmt::format("{}: {}", context, message)};
}

}  // namespace gpuslice
