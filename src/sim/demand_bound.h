// DemandBound: an upper bound on the compute slices any placement can allocate to a set of jobs
// on a cluster of G GPUs with T compute slices in all — the simulator's `upper_bound`.
//
// Each job j enters with
//   v_j  the most compute slices it can be counted for (the simulator's accounting, on the GPU
//        model that counts it highest; gangs: × count), and
//   w_j  the least share of one GPU it can occupy: its profile's placement units ÷ the model's
//        units (a whole GPU: 1), the least over the models that can host it (gangs: × count).
// Whatever GPUs the jobs run on, the instances on one GPU occupy disjoint placement units, so
// the running jobs' shares add up to at most G, and their slices to at most T. The best any
// placement can allocate is therefore at most the optimum of the fractional knapsack
//   K = min(T, max Σ v_j x_j  subject to  Σ w_j x_j <= G, 0 <= x_j <= 1),
// which the greedy rule solves exactly: take jobs in decreasing density v_j / w_j, the last one
// fractionally. K ignores the placement grid (where each profile may start), gang locality and
// quota, so it is loose where those bind, but it is never below what a placement reaches: jobs
// whose profile uses more units than compute slices (3g.40gb: 3 slices on 4 of 8 units; 1g.20gb)
// are what bring it under T.
//
// Jobs are bucketed by density, so Add is O(log B) and Value O(B) for B distinct densities (a
// handful: one per profile shape).
//
// Thread-safety: a plain value.
#pragma once

#include <functional>
#include <map>

namespace gpuslice::sim {

class DemandBound {
 public:
  // Adds a job worth `slices` (v) occupying at least `gpu_share` GPUs (w). Jobs with no slices or
  // no share (nothing in the cluster hosts them) are ignored: they add nothing to any placement.
  void Add(double slices, double gpu_share);

  // K for `gpus` GPUs and `total_slices` slices, in slices.
  double Value(double gpus, double total_slices) const;

  // Σ v_j of the jobs added.
  double slices() const { return slices_; }

 private:
  struct Bucket {
    double slices = 0, share = 0;
  };
  std::map<double, Bucket, std::greater<>> by_density_;  // density v/w, highest first
  double slices_ = 0;
};

}  // namespace gpuslice::sim
