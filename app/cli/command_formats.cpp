// SPDX-License-Identifier: MIT
#include "analysis/format_comparison.h"
#include "cli_params.h"
#include "commands.h"
#include "quant/model_quantizer.h"
#include "formats/format_traits.h"
#include "model/model.h"
#include "base/error.h"

#include <cstdio>
#include <iostream>

namespace qs::cli {

namespace {
const char* kindName(core::FormatKind k) {
    static const char* names[] = {"integer", "scaled_float", "microscaling", "two_level", "codebook", "logarithmic", "cast"};
    return names[static_cast<int>(k)];
}
} // namespace

std::string formatsUsage(const CliContext&) {
    return "quantscope-cli formats [--json]\n"
           "  Lists every number format: bits per element (with the block scale for MX/NV), largest value,\n"
           "  smallest positive value, dynamic range, number of distinct values, block size.\n";
}

nlohmann::json runFormats(ArgList& args, CliContext& ctx) {
    args.expectEmpty();
    auto arr = nlohmann::json::array();
    if (!ctx.json)
        std::printf("%-11s %5s %6s %10s %11s %8s %8s  %s\n", "format", "bits", "b/elem", "max", "min>0", "range dB",
                    "values", "summary");
    for (const auto& f : core::formatTable()) {
        const core::FormatFacts facts = core::formatFacts(f);
        nlohmann::json j{{"name", std::string(f.name)},
                         {"id", static_cast<int>(f.id)},
                         {"kind", kindName(f.kind)},
                         {"summary", std::string(f.summary)},
                         {"explanation", std::string(f.explanation)},
                         {"element_bits", f.elementBits},
                         {"block_size", f.fixedBlock},
                         {"scale_bits", f.scaleBits},
                         {"tensor_scale_bits", f.tensorScaleBits},
                         {"asymmetric", f.allowsAsymmetric}};
        j.update(facts.toJson());
        arr.push_back(std::move(j));
        if (!ctx.json)
            std::printf("%-11s %5d %6.3g %10.4g %11.4g %8.1f %8lld  %s\n", std::string(f.name).c_str(), f.elementBits,
                        facts.bitsPerElement, facts.maxMagnitude, facts.minPositive, facts.dynamicRangeDb,
                        static_cast<long long>(facts.distinctValues), std::string(f.summary).c_str());
    }
    return {{"formats", arr}};
}

std::string compareFormatsUsage(const CliContext&) {
    return "quantscope-cli compare-formats MODEL --layer NAME [--group N] [--json]\n"
           "  Fake-quantizes one weight with every format and granularity (per tensor, per channel, per group\n"
           "  of N (default 32), the format's block for MX/NV) and reports MSE and SQNR, sorted by bits per element.\n";
}

nlohmann::json runCompareFormats(ArgList& args, CliContext& ctx) {
    const auto layer = args.takeOption("layer");
    const int group = std::stoi(args.takeOption("group").value_or("32"));
    const auto path = args.takePositional();
    if (!path) throw core::Error("compare-formats: missing MODEL");
    if (!layer) throw core::Error("compare-formats: missing --layer NAME (see 'inspect' for the names)");
    if (group < 1) throw core::Error("compare-formats: --group must be positive");
    args.expectEmpty();
    const auto model = core::openModel(*path);
    const core::WeightInfo* info = model->find(*layer);
    if (!info) throw core::Error(model->path().string() + ": no weight named '" + *layer + "'");
    const auto w = model->weightAsOutIn(*info);
    const auto trials = core::compareFormats(w.data(), info->matrixRows(), info->matrixCols(), group, ctx.job);
    auto arr = nlohmann::json::array();
    if (!ctx.json) std::printf("%-36s %8s %12s %9s\n", "format", "bits/el", "MSE", "SQNR dB");
    for (const auto& t : trials) {
        arr.push_back(t.toJson());
        if (!ctx.json)
            std::printf("%-36s %8.4f %12.4e %9.2f\n", t.spec.label().c_str(), t.bitsPerElement, t.error.mse, t.error.sqnrDb);
    }
    return {{"model", model->path().string()}, {"layer", *layer}, {"shape", info->shape}, {"trials", arr}};
}

} // namespace qs::cli
