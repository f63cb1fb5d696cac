// SPDX-License-Identifier: MIT
// RTN fake-quantization throughput (GB/s of float32 input) per format and granularity, 1 and 2
// threads, on a 4096 x 4096 matrix; a plain memcpy of the same bytes is the ceiling to compare with.
#include "quant/fake_quant.h"

#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstring>
#include <random>
#include <vector>

using namespace qs::core;

namespace {

constexpr std::int64_t kRows = 4096, kCols = 4096;

const std::vector<float>& input() {
    static const std::vector<float> x = [] {
        std::vector<float> v(kRows * kCols);
        std::mt19937 rng(1);
        std::normal_distribution<float> d(0.0f, 0.02f);
        for (auto& e : v) e = d(rng);
        return v;
    }();
    return x;
}

void setBytes(benchmark::State& state) {
    state.SetBytesProcessed(state.iterations() * kRows * kCols * static_cast<std::int64_t>(sizeof(float)));
}

void BM_FakeQuant(benchmark::State& state, QuantSpec spec) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    const auto& x = input();
    std::vector<float> out(x.size());
    for (auto _ : state) {
        fakeQuantize(x.data(), kRows, kCols, spec, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    setBytes(state);
}

void BM_Memcpy(benchmark::State& state) {
    const auto& x = input();
    std::vector<float> out(x.size());
    for (auto _ : state) {
        std::memcpy(out.data(), x.data(), x.size() * sizeof(float));
        benchmark::DoNotOptimize(out.data());
    }
    setBytes(state);
}

} // namespace

BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_FakeQuant, int8_channel_sym, QuantSpec{FormatId::Int8, Granularity::Channel, 0, true})
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_FakeQuant, int4_group32_asym, QuantSpec{FormatId::Int4, Granularity::Group, 32, false})
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_FakeQuant, int4_group128_sym, QuantSpec{FormatId::Int4, Granularity::Group, 128, true})
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_FakeQuant, int8_tensor_sym, QuantSpec{FormatId::Int8, Granularity::Tensor, 0, true})
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
