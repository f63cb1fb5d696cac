// SPDX-License-Identifier: MIT
// GPTVQ's codebook initialisation (Hessian-weighted k-means, the EM part) on one column group of a
// 4096 x 4096 weight: 4096 rows x 256 columns in 2-D vectors (524,288 vectors), importance weights
// 1 / U_jj^2 from a synthetic Hessian, 10 EM rounds, codebooks of 16 / 64 / 256 entries.
// A whole 4096 x 4096 matrix at group_cols 256 runs 16 of these.
#include "quant/gptvq.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

using namespace qs::core;

namespace {

constexpr std::int64_t kRows = 4096, kGroupCols = 256;
constexpr int kDim = 2, kIters = 10;

struct Problem {
    std::vector<float> x, w;
};

const Problem& problem() {
    static const Problem p = [] {
        std::mt19937 rng(1);
        std::normal_distribution<double> n01;
        // Synthetic Hessian of the group's inputs: H = X^T X / n with correlated, unevenly scaled features.
        Eigen::MatrixXd x(2048, kGroupCols);
        for (std::int64_t i = 0; i < x.size(); ++i) x.data()[i] = n01(rng);
        for (std::int64_t c = 0; c < kGroupCols; ++c) x.col(c) *= 0.5 + 2.0 * double(c % 7) / 7.0;
        x.rightCols(kGroupCols - 1) += 0.5 * x.leftCols(kGroupCols - 1);
        Eigen::MatrixXd h = x.transpose() * x / 2048.0;
        h.diagonal().array() += 0.01 * h.diagonal().mean();
        const Eigen::MatrixXd hinv = h.llt().solve(Eigen::MatrixXd::Identity(kGroupCols, kGroupCols));
        const Eigen::MatrixXd u = hinv.llt().matrixU();
        Problem p;
        p.x.resize(kRows * kGroupCols);
        p.w.resize(p.x.size());
        std::normal_distribution<float> wd(0.0f, 0.02f);
        for (std::int64_t r = 0; r < kRows; ++r)
            for (std::int64_t c = 0; c < kGroupCols; ++c) {
                p.x[r * kGroupCols + c] = wd(rng);
                p.w[r * kGroupCols + c] = static_cast<float>(1.0 / (u(c, c) * u(c, c)));
            }
        return p;
    }();
    return p;
}

void BM_GptvqEm(benchmark::State& state) {
    const Problem& p = problem();
    const int entries = static_cast<int>(state.range(0));
    const std::int64_t n = kRows * kGroupCols / kDim;
    for (auto _ : state) {
        WeightedKMeans km = weightedKMeans(p.x.data(), p.w.data(), n, kDim, entries, kIters, 1);
        benchmark::DoNotOptimize(km.centroids.data());
    }
    // Vector-centroid distance evaluations (k-means++ counts as one more round).
    state.counters["dist_evals/s"] =
        benchmark::Counter(double(n) * entries * (kIters + 2), benchmark::Counter::kIsIterationInvariantRate);
}

} // namespace

BENCHMARK(BM_GptvqEm)->Arg(16)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
