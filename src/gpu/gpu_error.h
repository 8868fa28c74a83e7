// GpuError: what went wrong in a GPU backend, with the driver's meaning kept (DESIGN.md §5).
//
// Every GpuBackend call returns GpuResult<T> = tl::expected<T, GpuError>. A GpuError carries a
// GpuErrorKind — the NVML meaning the agent acts on ("in use": try later, the instance runs
// work; "GPU lost": stop using that GPU; "insufficient resources": the placement is taken) —
// beside an ordinary gpuslice::Error whose code is derived from the kind, so layers that do not
// care about the driver can treat it as any other Error (`gpu_error.error`).
//
// NVML return codes map onto kinds in nvml_backend.cc; SimBackend produces the same kinds for the
// same situations, so the contract tests hold for both.
//
// Thread-safety: plain values.
#pragma once

#include <fmt/core.h>

#include <string_view>
#include <tl/expected.hpp>
#include <utility>

#include "common/error.h"

namespace gpuslice::gpu {

enum class GpuErrorKind {
  kInUse,                  // NVML_ERROR_IN_USE: processes or compute instances are active
  kInsufficientResources,  // NVML_ERROR_INSUFFICIENT_RESOURCES: the placement is taken / no room
  kResetRequired,          // NVML_ERROR_RESET_REQUIRED: a GPU reset (or reboot) must happen first
  kGpuLost,                // NVML_ERROR_GPU_IS_LOST: the GPU fell off the bus or stopped answering
  kNotSupported,           // NVML_ERROR_NOT_SUPPORTED: not on this GPU, driver or MIG mode
  kNoPermission,           // NVML_ERROR_NO_PERMISSION: needs root / the MIG config capability
  kNotFound,               // NVML_ERROR_NOT_FOUND or an index/id that does not exist
  kInvalidArgument,        // NVML_ERROR_INVALID_ARGUMENT: a malformed request (bad start, profile)
  kReadOnly,               // the backend was opened read-only; nothing was sent to the driver
  kLibraryUnavailable,     // libnvidia-ml.so.1 could not be loaded or lacks a needed symbol
  kBadReply,               // the driver answered something impossible (count, index, string)
  kDriver,                 // any other driver failure (timeout, unknown, driver not loaded ...)
  kState,                  // SimBackend: its state file is unreadable, corrupt or not writable
};

// Stable lower-case name ("in-use", "gpu-lost"), used in JSON, logs and the sim's fault config.
std::string_view GpuErrorKindName(GpuErrorKind kind);
// The kind with this name; false when unknown.
bool ParseGpuErrorKind(std::string_view name, GpuErrorKind* kind);
// The gpuslice error code a kind maps to: kInUse/kResetRequired -> kFailedPrecondition,
// kInsufficientResources -> kResourceExhausted, kGpuLost/kLibraryUnavailable/kDriver ->
// kUnavailable, kNotSupported -> kUnimplemented, kNoPermission/kReadOnly -> kPermissionDenied,
// kNotFound -> kNotFound, kInvalidArgument/kState -> kInvalidArgument, kBadReply -> kInternal.
ErrorCode GpuErrorCode(GpuErrorKind kind);

struct GpuError {
  GpuErrorKind kind = GpuErrorKind::kDriver;
  Error error;  // error.code == GpuErrorCode(kind); error.message says what and where

  GpuError WithContext(std::string_view context) const { return {kind, error.WithContext(context)}; }
};

template <typename T>
using GpuResult = tl::expected<T, GpuError>;

// `return GpuFail(GpuErrorKind::kInUse, "GPU {} instance {} has processes", g, gi);`
template <typename... Args>
tl::unexpected<GpuError> GpuFail(GpuErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  return tl::unexpected<GpuError>(
      GpuError{kind, Error{GpuErrorCode(kind), fmt::format(format, std::forward<Args>(args)...)}});
}

inline tl::unexpected<GpuError> GpuFail(GpuError error) {
  return tl::unexpected<GpuError>(std::move(error));
}

}  // namespace gpuslice::gpu
