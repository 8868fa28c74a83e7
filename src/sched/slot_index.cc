#include "sched/slot_index.h"

#include <bit>
#include <tuple>

namespace gpuslice::sched {

SlotIndex::SlotIndex(const mig::Geometry& geometry) : geometry_(&geometry) {}

SlotIndex::Key SlotIndex::KeyOf(const mig::Occupancy& occ) {
  // Units in the low 16 bits; the media-engine state above them.
  return Key{occ.units} | Key{occ.media_exclusive > 0} << 16 | Key{occ.with_media > 0} << 17 |
         Key{occ.media_all} << 18;
}

std::uint32_t SlotIndex::BucketFor(const mig::Occupancy& occ) {
  const Key key = KeyOf(occ);
  if (auto it = bucket_of_key_.find(key); it != bucket_of_key_.end()) return it->second;
  Bucket b;
  b.key = key;
  b.unused = occ.units == 0;
  const int before = geometry_->Score(occ.units);
  b.first_start.fill(-1);
  for (int q = 0; q < geometry_->num_profiles(); ++q) {
    if (const mig::UnitMask free = geometry_->FreeStarts(occ, q); free != 0) {
      b.first_start[static_cast<std::size_t>(q)] = static_cast<std::int16_t>(std::countr_zero(free));
    }
    if (const std::optional<int> start = geometry_->BestStart(occ, q)) {
      const mig::UnitMask after = occ.units | geometry_->Mask({q, *start});
      b.slots[static_cast<std::size_t>(q)] = {static_cast<std::int16_t>(*start),
                                              before - geometry_->Score(after)};
    }
  }
  buckets_.push_back(std::move(b));
  const auto index = static_cast<std::uint32_t>(buckets_.size() - 1);
  bucket_of_key_.emplace(key, index);
  return index;
}

void SlotIndex::Upsert(GpuRef gpu, const mig::Occupancy& occ) {
  Erase(gpu);
  const std::uint32_t b = BucketFor(occ);
  if (buckets_[b].gpus.empty()) ++non_empty_buckets_;
  buckets_[b].gpus.insert(gpu);
  gpus_.emplace(gpu, std::make_pair(b, occ));
}

void SlotIndex::Erase(GpuRef gpu) {
  const auto it = gpus_.find(gpu);
  if (it == gpus_.end()) return;
  Bucket& bucket = buckets_[it->second.first];
  bucket.gpus.erase(gpu);
  if (bucket.gpus.empty()) --non_empty_buckets_;
  gpus_.erase(it);
}

const mig::Occupancy* SlotIndex::Find(GpuRef gpu) const {
  const auto it = gpus_.find(gpu);
  return it == gpus_.end() ? nullptr : &it->second.second;
}

std::optional<SlotIndex::Choice> SlotIndex::Best(int profile) const {
  std::optional<Choice> best;
  // Order: (unused GPU last, loss, start, GPU number) — see the header.
  std::tuple<bool, int, int, GpuRef> best_key{};
  for (const Bucket& bucket : buckets_) {
    if (bucket.gpus.empty()) continue;
    const Slot& slot = bucket.slots[static_cast<std::size_t>(profile)];
    if (slot.start < 0) continue;
    const std::tuple<bool, int, int, GpuRef> key{bucket.unused, slot.loss, slot.start, *bucket.gpus.begin()};
    if (!best || key < best_key) {
      best_key = key;
      best = Choice{*bucket.gpus.begin(), slot.start, slot.loss};
    }
  }
  return best;
}

std::optional<SlotIndex::Choice> SlotIndex::FirstFit(int profile) const {
  std::optional<Choice> best;
  for (const Bucket& bucket : buckets_) {
    if (bucket.gpus.empty()) continue;
    const int start = bucket.first_start[static_cast<std::size_t>(profile)];
    if (start < 0) continue;
    const GpuRef gpu = *bucket.gpus.begin();
    if (!best || gpu < best->gpu) best = Choice{gpu, start, 0};
  }
  return best;
}

}  // namespace gpuslice::sched
