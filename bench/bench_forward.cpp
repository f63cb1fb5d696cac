// SPDX-License-Identifier: MIT
// Forward pass and perplexity throughput on the fixture model (tinyllama-bpe512, 64 windows of 128
// tokens of ref_test_tokens.npy): tokens/s with 1 and 2 threads. Compare with bench/peers/ppl_torch.py.
#include "base/process.h"
#include "eval/perplexity.h"
#include "io/npy.h"
#include "model/model.h"
#include "nn/causal_lm.h"

#include <benchmark/benchmark.h>
#include <filesystem>
#include <omp.h>
#include <vector>

using namespace qs::core;

namespace {

const std::filesystem::path kFixture = std::filesystem::path(QS_FIXTURES_DIR) / "tinyllama-bpe512";

const CausalLm& model() {
    static const auto m = openModel(kFixture);
    static const CausalLm lm(*m);
    return lm;
}

const std::vector<std::int32_t>& tokens() {
    static const std::vector<std::int32_t> ids = [] {
        const Tensor t = readNpy(kFixture / "ref_test_tokens.npy");
        return std::vector<std::int32_t>(t.data<std::int32_t>(), t.data<std::int32_t>() + t.numel());
    }();
    return ids;
}

// The whole fixture perplexity protocol (8192 tokens); items = tokens.
void BM_Perplexity(benchmark::State& state) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    const CausalLm& lm = model();
    double ppl = 0;
    for (auto _ : state) {
        ppl = evaluatePerplexity(lm, tokens(), {128, 0}, {}).perplexity;
        benchmark::DoNotOptimize(ppl);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(tokens().size()));
    state.counters["ppl"] = ppl;
}

// One 128-token window through the forward pass (latency of a single sequence).
void BM_ForwardWindow(benchmark::State& state) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    const CausalLm& lm = model();
    const std::span<const std::int32_t> window(tokens().data(), 128);
    for (auto _ : state) {
        RowMatrixF logits = lm.forward(window);
        benchmark::DoNotOptimize(logits.data());
    }
    state.SetItemsProcessed(state.iterations() * 128);
}

// fp32 reference + a second model (here the same weights) with KL divergence: two forwards per window.
void BM_PerplexityWithKld(benchmark::State& state) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    const CausalLm& lm = model();
    for (auto _ : state) {
        auto r = compareWithReference(lm, lm, tokens(), {128, 0}, {});
        benchmark::DoNotOptimize(r.kld.mean);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(tokens().size()));
}

} // namespace

int main(int argc, char** argv) {
    configureProcess(argv); // as quantscope-cli: no busy-waiting threads on shared cores
    for (auto* b : {benchmark::RegisterBenchmark("BM_Perplexity", BM_Perplexity),
                    benchmark::RegisterBenchmark("BM_ForwardWindow", BM_ForwardWindow),
                    benchmark::RegisterBenchmark("BM_PerplexityWithKld", BM_PerplexityWithKld)})
        b->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
