// SPDX-License-Identifier: MIT
// GPTQ time per layer (Hessian factorisation + column loop) for Llama-7B-sized weights, int4 asym
// group 128, 1 and 2 threads: W [4096, 4096] (q/k/v/o) and [11008, 4096] (gate/up), with a
// synthetic SPD Hessian H = 2/n X^T X from random correlated X [8192, 4096].
// Peer: ../shared/peers/gptq_torch.py (the reference algorithm in PyTorch CPU, same threads).
#include "base/process.h"
#include "quant/gptq.h"

#include <Eigen/Core>
#include <benchmark/benchmark.h>
#include <omp.h>

#include <random>
#include <vector>

using namespace qs::core;

namespace {

constexpr std::int64_t kCols = 4096, kTokens = 8192;

const std::vector<float>& hessian() {
    static const std::vector<float> h = [] {
        using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        std::mt19937 rng(2);
        std::normal_distribution<float> n01(0.0f, 1.0f);
        RowMatrixF x(kTokens, kCols);
        for (std::int64_t i = 0; i < x.size(); ++i) x.data()[i] = n01(rng);
        // Correlate neighbouring channels a little and scale some up, like real activations.
        for (std::int64_t c = 1; c < kCols; ++c) x.col(c) += 0.5f * x.col(c - 1);
        for (std::int64_t c = 0; c < kCols; c += 97) x.col(c) *= 10.0f;
        RowMatrixF hm(kCols, kCols);
        hm.noalias() = (2.0f / kTokens) * (x.transpose() * x);
        return std::vector<float>(hm.data(), hm.data() + hm.size());
    }();
    return h;
}

std::vector<float> weights(std::int64_t rows) {
    std::vector<float> w(static_cast<std::size_t>(rows * kCols));
    std::mt19937 rng(3);
    std::normal_distribution<float> d(0.0f, 0.02f);
    for (auto& v : w) v = d(rng);
    return w;
}

void gptqBench(benchmark::State& state) {
    const std::int64_t rows = state.range(0);
    const auto& h = hessian();
    const std::vector<float> w = weights(rows);
    std::vector<float> out(w.size());
    omp_set_num_threads(static_cast<int>(state.range(1)));
    const QuantSpec spec{FormatId::Int4, Granularity::Group, 128, false};
    for (auto _ : state) {
        gptqQuantize(w.data(), rows, kCols, h.data(), spec, {}, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["rows"] = static_cast<double>(rows);
}

} // namespace

BENCHMARK(gptqBench)
    ->ArgNames({"rows", "threads"})
    ->Args({4096, 1})
    ->Args({4096, 2})
    ->Args({11008, 1})
    ->Args({11008, 2})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->Repetitions(2)
    ->ReportAggregatesOnly(false)
    ->UseRealTime();

int main(int argc, char** argv) {
    configureProcess(argv); // as quantscope-cli: passive OpenMP threads, freed memory kept
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
