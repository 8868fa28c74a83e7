#include "gpu/gpu_error.h"

#include <array>

namespace gpuslice::gpu {
namespace {

constexpr std::array<std::pair<GpuErrorKind, std::string_view>, 13> kNames = {{
    {GpuErrorKind::kInUse, "in-use"},
    {GpuErrorKind::kInsufficientResources, "insufficient-resources"},
    {GpuErrorKind::kResetRequired, "reset-required"},
    {GpuErrorKind::kGpuLost, "gpu-lost"},
    {GpuErrorKind::kNotSupported, "not-supported"},
    {GpuErrorKind::kNoPermission, "no-permission"},
    {GpuErrorKind::kNotFound, "not-found"},
    {GpuErrorKind::kInvalidArgument, "invalid-argument"},
    {GpuErrorKind::kReadOnly, "read-only"},
    {GpuErrorKind::kLibraryUnavailable, "library-unavailable"},
    {GpuErrorKind::kBadReply, "bad-reply"},
    {GpuErrorKind::kDriver, "driver"},
    {GpuErrorKind::kState, "state"},
}};

}  // namespace

std::string_view GpuErrorKindName(GpuErrorKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "driver";
}

bool ParseGpuErrorKind(std::string_view name, GpuErrorKind* kind) {
  for (const auto& [k, n] : kNames) {
    if (n == name) {
      *kind = k;
      return true;
    }
  }
  return false;
}

ErrorCode GpuErrorCode(GpuErrorKind kind) {
  switch (kind) {
    case GpuErrorKind::kInUse:
    case GpuErrorKind::kResetRequired: return ErrorCode::kFailedPrecondition;
    case GpuErrorKind::kInsufficientResources: return ErrorCode::kResourceExhausted;
    case GpuErrorKind::kGpuLost:
    case GpuErrorKind::kLibraryUnavailable:
    case GpuErrorKind::kDriver: return ErrorCode::kUnavailable;
    case GpuErrorKind::kNotSupported: return ErrorCode::kUnimplemented;
    case GpuErrorKind::kNoPermission:
    case GpuErrorKind::kReadOnly: return ErrorCode::kPermissionDenied;
    case GpuErrorKind::kNotFound: return ErrorCode::kNotFound;
    case GpuErrorKind::kInvalidArgument:
    case GpuErrorKind::kState: return ErrorCode::kInvalidArgument;
    case GpuErrorKind::kBadReply: return ErrorCode::kInternal;
  }
  return ErrorCode::kInternal;
}

}  // namespace gpuslice::gpu
