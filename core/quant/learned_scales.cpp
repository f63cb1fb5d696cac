// SPDX-License-Identifier: MIT
#include "quant/learned_scales.h"

#include "base/error.h"
#include "quant/fake_quant.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qs::core {

void requireLearnableScales(const QuantSpec& spec, const std::string& weight) {
    const FormatTraits& f = formatTraits(spec.format);
    if (f.scaleBits == 0 || f.fixedBlock != 0 || f.tensorScaleBits != 0)
        throw Error("qat: learned scales need a format whose scale is a free real number (INT, FP, NF4, log); " +
                    std::string(f.name) + " of weight '" + weight + "' " +
                    (f.scaleBits == 0 ? "has no scale" : "stores its scales on a fixed grid (MX E8M0, NV E4M3)") +
                    ": use --scales fixed for it");
}

RunScales fitScales(const float* w, std::int64_t rows, std::int64_t cols, const QuantSpec& spec) {
    const FormatTraits& f = formatTraits(spec.format);
    RunScales s;
    s.spec = spec;
    s.rows = rows;
    s.cols = cols;
    s.run = spec.runLength(cols);
    s.perTensor = spec.granularity == Granularity::Tensor && !f.fixedBlock;
    s.runsPerRow = s.perTensor ? 1 : (cols + s.run - 1) / s.run;
    const RangeStats none{}; // only two-level formats read the tensor's range, and they are not learnable
    if (s.perTensor) {
        std::vector<float> scratch(static_cast<std::size_t>(rows * cols));
        s.params = {fitRun(f, spec, w, scratch.size(), none, scratch.data())};
        return s;
    }
    s.params.resize(static_cast<std::size_t>(rows * s.runsPerRow));
#pragma omp parallel
    {
        std::vector<float> scratch(static_cast<std::size_t>(s.run));
#pragma omp for schedule(static)
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t k = 0; k < s.runsPerRow; ++k) {
                const std::int64_t c = k * s.run;
                s.params[s.index(r, k)] =
                    fitRun(f, spec, w + r * cols + c, static_cast<std::size_t>(std::min(s.run, cols - c)), none, scratch.data());
            }
    }
    return s;
}

void applyScales(const float* w, const RunScales& s, float* out) {
    const FormatTraits& f = formatTraits(s.spec.format);
    const ElementOptions o{s.spec.symmetric, s.spec.fullRange};
#pragma omp parallel
    {
        std::vector<ScaleParams> row(static_cast<std::size_t>((s.cols + s.run - 1) / s.run));
#pragma omp for schedule(static)
        for (std::int64_t r = 0; r < s.rows; ++r) {
            for (std::size_t k = 0; k < row.size(); ++k) row[k] = s.params[s.index(r, static_cast<std::int64_t>(k))];
            const float* src = w + r * s.cols;
            float* dst = out + r * s.cols;
            // fakeQuantize's own calls, so fitted scales give its bits.
            if (f.applyRuns)
                f.applyRuns(f, src, dst, static_cast<std::size_t>(s.cols), static_cast<std::size_t>(s.run), row.data(), o);
            else
                for (std::int64_t c = 0; c < s.cols; c += s.run)
                    f.apply(f, src + c, dst + c, static_cast<std::size_t>(std::min(s.run, s.cols - c)),
                            row[static_cast<std::size_t>(c / s.run)], o);
        }
    }
}

void scaleGradients(const float* w, const float* q, const float* gradQ, const RunScales& s, float* gradW,
                    std::vector<double>& gradLogScale) {
    const FormatTraits& f = formatTraits(s.spec.format);
    const std::int64_t runsPerRow = (s.cols + s.run - 1) / s.run;
    std::vector<double> perRun(static_cast<std::size_t>(s.rows * runsPerRow));
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < s.rows; ++r)
        for (std::int64_t k = 0; k < runsPerRow; ++k) {
            const SaturationBounds bound = saturationBounds(f, s.spec, s.params[s.index(r, s.perTensor ? 0 : k)]);
            const std::int64_t begin = r * s.cols + k * s.run, end = r * s.cols + std::min(s.cols, (k + 1) * s.run);
            double sum = 0;
            for (std::int64_t i = begin; i < end; ++i) {
                const float g = gradQ[i];
                const bool inside = bound.contains(w[i]);
                sum += static_cast<double>(g) * (inside ? static_cast<double>(q[i]) - w[i] : q[i]);
                gradW[i] = inside ? g : 0.0f;
            }
            perRun[static_cast<std::size_t>(r * runsPerRow + k)] = sum;
        }
    if (!s.perTensor) {
        gradLogScale = std::move(perRun);
        return;
    }
    double total = 0;
    for (double x : perRun) total += x; // in row order: the same sum at any thread count
    gradLogScale.assign(1, total);
}

} // namespace qs::core
