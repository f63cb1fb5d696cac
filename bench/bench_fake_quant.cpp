// SPDX-License-Identifier: MIT
// Fake-quantization throughput (GB/s of float32 input) of every format in the table on a
// 4096 x 4096 matrix, 1 and 2 threads, beside a plain memcpy of the same bytes (the ceiling).
// Formats run at their natural granularity: MX/NV blocks, casts as they are, the rest per group of 32;
// plus the peers' cases (INT8 per channel, INT4 asymmetric group 32). The fq_l2/ cases run the same
// kernels on 256 x 1024 values that stay in L2: the compute cost alone, where the 4096 x 4096 runs
// share the memory bus with whatever else the machine runs. The compact/ cases time what the forward
// pass does once with a quantized Linear: find the codes (int, code-book or mini-float) and run scales
// that hold the fake quantizer's output exactly (CompactMatrix::exactly), on the same 4096 x 4096 matrix.
#include "formats/format_traits.h"
#include "quant/fake_quant.h"
#include "quant/held_weights.h"
#include "tensor/compact_matrix.h"

#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstring>
#include <random>
#include <utility>
#include <string>
#include <vector>

using namespace qs::core;

namespace {

constexpr std::int64_t kRows = 4096, kCols = 4096;

constexpr std::int64_t kCachedRows = 256, kCachedCols = 1024;

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

void setBytes(benchmark::State& state, std::int64_t values = kRows * kCols) {
    state.SetBytesProcessed(state.iterations() * values * static_cast<std::int64_t>(sizeof(float)));
}

void fakeQuantBench(benchmark::State& state, QuantSpec spec, std::int64_t rows, std::int64_t cols) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    const auto& x = input();
    std::vector<float> out(static_cast<std::size_t>(rows * cols));
    for (auto _ : state) {
        fakeQuantize(x.data(), rows, cols, spec, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    setBytes(state, rows * cols);
}

void compactBench(benchmark::State& state, QuantSpec spec) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    std::vector<float> q(input().size());
    fakeQuantize(input().data(), kRows, kCols, spec, q.data());
    for (auto _ : state) {
        auto compact = compactWeight(q, kRows, kCols, false); // every form the forward pass offers
        if (!compact) state.SkipWithError("not held compactly");
        benchmark::DoNotOptimize(compact);
    }
    setBytes(state);
}

void memcpyBench(benchmark::State& state) {
    const auto& x = input();
    std::vector<float> out(x.size());
    for (auto _ : state) {
        std::memcpy(out.data(), x.data(), x.size() * sizeof(float));
        benchmark::DoNotOptimize(out.data());
    }
    setBytes(state);
}

void add(const std::string& name, QuantSpec spec) {
    benchmark::RegisterBenchmark(("fq/" + name).c_str(), fakeQuantBench, spec, kRows, kCols)
        ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("fq_l2/" + name).c_str(), fakeQuantBench, spec, kCachedRows, kCachedCols)
        ->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
}

} // namespace

int main(int argc, char** argv) {
    benchmark::RegisterBenchmark("memcpy", memcpyBench)->Unit(benchmark::kMillisecond)->UseRealTime();
    add("int8_channel_sym", {FormatId::Int8, Granularity::Channel, 0, true});
    add("int4_group32_asym", {FormatId::Int4, Granularity::Group, 32, false});
    for (const auto& f : formatTable()) {
        const Granularity g = f.fixedBlock ? Granularity::Block : Granularity::Group;
        add(std::string(f.name) + (f.fixedBlock ? "" : "_group32"), {f.id, g, 32, true});
    }
    for (const auto& [name, spec] : {std::pair<const char*, QuantSpec>{"int8_channel_sym", {FormatId::Int8, Granularity::Channel, 0, true}},
                                     {"int4_group32_asym", {FormatId::Int4, Granularity::Group, 32, false}},
                                     {"int8_channel_asym", {FormatId::Int8, Granularity::Channel, 0, false}},
                                     {"int8_group32", {FormatId::Int8, Granularity::Group, 32, true}},
                                     {"mxfp4", {FormatId::MxFp4, Granularity::Block, 32, true}},
                                     {"nvfp4", {FormatId::NvFp4, Granularity::Block, 16, true}},
                                     {"nf4_group64", {FormatId::Nf4, Granularity::Group, 64, true}},
                                     {"mxfp8_e4m3", {FormatId::MxFp8E4M3, Granularity::Block, 32, true}},
                                     {"fp8_e4m3_channel", {FormatId::Fp8E4M3, Granularity::Channel, 0, true}}})
        benchmark::RegisterBenchmark((std::string("compact/") + name).c_str(), compactBench, spec)
            ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
