// Strongly typed identifiers.
//
// An Id<Tag> wraps an integer so that a JobId cannot be passed where a NodeId is expected.
// Ids are dense, assigned by whoever owns the collection (the store, the simulator), and
// compared and hashed as their integer value. Value 0 is "no id" (default-constructed).
//
// Thread-safety: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace gpuslice {

template <typename Tag>
class Id {
 public:
  constexpr Id() = default;
  constexpr explicit Id(std::uint64_t value) : value_(value) {}

  constexpr std::uint64_t value() const { return value_; }
  constexpr bool valid() const { return value_ != 0; }
  constexpr explicit operator bool() const { return valid(); }

  friend constexpr auto operator<=>(Id, Id) = default;

 private:
  std::uint64_t value_ = 0;
};

using JobId = Id<struct JobIdTag>;
using NodeId = Id<struct NodeIdTag>;
using TeamId = Id<struct TeamIdTag>;
using InstanceId = Id<struct InstanceIdTag>;

}  // namespace gpuslice

template <typename Tag>
struct std::hash<gpuslice::Id<Tag>> {
  std::size_t operator()(gpuslice::Id<Tag> id) const noexcept {
    return std::hash<std::uint64_t>{}(id.value());
  }
};
