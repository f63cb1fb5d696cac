// SPDX-License-Identifier: MIT
#include "quant/fake_quant.h"

#include "quant/run_absmax.h"
#include "tensor/stream_copy.h"
#include "tensor/simd.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace qs::core {

namespace {

void prefetchToL2(const float* p) {
#if defined(__SSE__)
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T1);
#else
    (void)p;
#endif
}

// The whole tensor's amax, rows in parallel (a maximum is exact, so the split cannot change it).
// Only two-level formats read it, and they are symmetric: the symmetric range is all they need.
RangeStats tensorRange(const float* x, std::int64_t rows, std::int64_t cols) {
    float amax = 0.0f;
#pragma omp parallel for reduction(max : amax) schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) amax = std::max(amax, finiteAbsMax(x + r * cols, static_cast<std::size_t>(cols)));
    return {-amax, amax, amax};
}

} // namespace

namespace {

ElementOptions optionsOf(const QuantSpec& s) { return {s.symmetric, s.fullRange}; }

RangeStats percentileRange(const float* x, std::size_t n, double pct, float* scratch) {
    std::size_t m = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (std::isfinite(x[i])) scratch[m++] = x[i];
    if (m == 0) return {};
    auto at = [&](double p) {
        const auto k = static_cast<std::size_t>(std::llround(p / 100.0 * static_cast<double>(m - 1)));
        std::nth_element(scratch, scratch + k, scratch + m);
        return scratch[k];
    };
    RangeStats r;
    r.max = at(pct);
    r.min = at(100.0 - pct);
    for (std::size_t i = 0; i < m; ++i) scratch[i] = std::fabs(scratch[i]);
    r.amax = at(pct);
    return r;
}

double squaredError(const float* a, const float* b, std::size_t n) {
    double e = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (std::isfinite(a[i])) e += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    return e;
}

} // namespace

ScaleParams fitRun(const FormatTraits& f, const QuantSpec& spec, const float* x, std::size_t n,
                   const RangeStats& tensor, float* scratch) {
    const ElementOptions o = optionsOf(spec);
    switch (spec.scaleRule) {
    case ScaleRule::MinMax: {
        // Symmetric fits read only amax (format_traits.h): they get the symmetric range around it.
        if (!o.symmetric && f.allowsAsymmetric) return f.fit(f, rangeOf(x, n), tensor, o);
        const float amax = finiteAbsMax(x, n);
        return f.fit(f, {-amax, amax, amax}, tensor, o);
    }
    case ScaleRule::Percentile: return f.fit(f, percentileRange(x, n, spec.percentile, scratch), tensor, o);
    case ScaleRule::Mse: {
        // Shrink the range by p = 1, 0.99, ..., 0.21 (the GPTQ reference's grid) and keep the best.
        const RangeStats full = rangeOf(x, n);
        ScaleParams best = f.fit(f, full, tensor, o);
        f.apply(f, x, scratch, n, best, o);
        double bestErr = squaredError(x, scratch, n);
        for (int i = 1; i < 80; ++i) {
            const float p = 1.0f - static_cast<float>(i) / 100.0f;
            const ScaleParams cand = f.fit(f, {full.min * p, full.max * p, full.amax * p}, tensor, o);
            f.apply(f, x, scratch, n, cand, o);
            const double err = squaredError(x, scratch, n);
            if (err < bestErr) bestErr = err, best = cand;
        }
        return best;
    }
    }
    return f.fit(f, rangeOf(x, n), tensor, o);
}

namespace {

// Half the first and the last step of each format's element grid (before scaling), by format id;
// 0 for casts, whose listed grid is only a summary.
const std::pair<float, float>& edgeHalfSteps(const FormatTraits& f) {
    static const std::vector<std::pair<float, float>> table = [] {
        std::vector<std::pair<float, float>> t;
        for (const FormatTraits& row : formatTable()) {
            const std::vector<float> g = elementGrid(row);
            const bool stepped = row.kind != FormatKind::Cast && g.size() >= 2;
            t.emplace_back(stepped ? (g[1] - g[0]) / 2 : 0.0f, stepped ? (g[g.size() - 1] - g[g.size() - 2]) / 2 : 0.0f);
        }
        return t;
    }();
    return table[static_cast<std::size_t>(f.id)];
}

} // namespace

SaturationBounds saturationBounds(const FormatTraits& f, const QuantSpec& spec, const ScaleParams& p) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    const float probe[2] = {-inf, inf};
    float bound[2];
    f.apply(f, probe, bound, 2, p, optionsOf(spec));
    const auto& [low, high] = edgeHalfSteps(f);
    const float scale = std::fabs(p.scale);
    return {bound[0] - scale * low, bound[1] + scale * high};
}

namespace {

// Symmetric fits of many runs from their amaxes: the format's batched fit where it has one.
void fitFromAmaxes(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                   const ElementOptions& o, ScaleParams* out) {
    if (f.fitAmaxRuns) return f.fitAmaxRuns(f, amax, count, tensor, o, out);
    for (std::size_t k = 0; k < count; ++k) out[k] = f.fit(f, {-amax[k], amax[k], amax[k]}, tensor, o);
}

// Fits of many runs from their ranges: the format's batched fit where it has one.
void fitFromRanges(const FormatTraits& f, const RangeStats* range, std::size_t count, const RangeStats& tensor,
                   const ElementOptions& o, ScaleParams* out) {
    if (f.fitRangeRuns) return f.fitRangeRuns(f, range, count, tensor, o, out);
    for (std::size_t k = 0; k < count; ++k) out[k] = f.fit(f, range[k], tensor, o);
}

// The row's runs applied a piece of about kPiece values at a time; before each piece, the same
// piece of the next row (`next`; null for the last row) is asked for from memory, so that its read
// overlaps this row's arithmetic instead of following it: the next row's fit, or its apply where
// the fits were made beforehand (two-level and per-tensor formats), then finds it in cache. Pieces
// follow the runs (a long run is cut, short ones are grouped); each value's result depends only on
// its run's parameters, so the cut changes no bit. With `stream` (outputs of kStreamBytes or more), a
// piece is applied into the StreamWriter's buffer in L1 and streamed to dst from there.
void applyRow(const FormatTraits& f, const float* src, float* dst, std::size_t cols, std::size_t run,
              const ScaleParams* params, const ElementOptions& o, const float* next, bool stream) {
    constexpr std::size_t kPiece = StreamWriter::kPieceCapacity, kLine = 64 / sizeof(float);
    // Values [c, end) in runs of `length` from run k, into out[0, end - c).
    const auto applySpan = [&](std::size_t c, std::size_t end, std::size_t length, std::size_t k, float* out) {
        if (f.applyRuns) return f.applyRuns(f, src + c, out, end - c, length, params + k, o);
        for (std::size_t i = c; i < end; i += length, ++k)
            f.apply(f, src + i, out + (i - c), std::min(length, end - i), params[k], o);
    };
    std::optional<StreamWriter> streamed;
    if (stream) streamed.emplace(dst);
    const std::size_t group = std::max<std::size_t>(1, kPiece / run); // short runs a piece
    for (std::size_t c = 0; c < cols;) {
        const std::size_t k = c / run;
        const bool cut = run >= kPiece; // the piece is part of one run
        const std::size_t end = cut ? std::min({cols, (k + 1) * run, c + kPiece}) : std::min(cols, c + group * run);
        if (next)
            for (std::size_t q = c; q < end; q += kLine) prefetchToL2(next + q);
        applySpan(c, end, cut ? end - c : run, k, streamed ? streamed->piece() : dst + c);
        if (streamed) streamed->commit(end - c);
        c = end;
    }
}

} // namespace

void fakeQuantize(const float* in, std::int64_t rows, std::int64_t cols, const QuantSpec& spec, float* out,
                  std::uint8_t* inside) {
    if (rows <= 0 || cols <= 0) return;
    const FormatTraits& f = formatTraits(spec.format);
    const ElementOptions o = optionsOf(spec);
    const auto total = static_cast<std::size_t>(rows * cols);
    const std::int64_t run = spec.runLength(cols);
    const auto runsPerRow = static_cast<std::size_t>((cols + run - 1) / run);
    const bool stream = total * sizeof(float) >= kStreamBytes;
    const bool perTensor = spec.granularity == Granularity::Tensor && !f.fixedBlock;
    // A symmetric min/max fit reads one number per run (fitRun): the runs' amaxes, found for a row at once.
    const bool fitsFromAmax = !perTensor && spec.scaleRule == ScaleRule::MinMax && (o.symmetric || !f.allowsAsymmetric);
    // An asymmetric one reads the run's range (fitRun): the runs' ranges, also found for a row at once.
    const bool fitsFromRange = !perTensor && spec.scaleRule == ScaleRule::MinMax && !fitsFromAmax;
    // Only two-level formats (a per-tensor scale) read the whole tensor's range: a pass over all
    // of memory that the other formats need not pay for. It keeps the runs' amaxes it finds on the
    // way (their maximum is the tensor's), so the second pass does not search them again.
    RangeStats whole;
    std::vector<float> tensorRunAmax;
    if (f.tensorScaleBits && fitsFromAmax) {
        tensorRunAmax.resize(static_cast<std::size_t>(rows) * runsPerRow);
        float amax = 0.0f;
#pragma omp parallel for reduction(max : amax) schedule(static)
        for (std::int64_t r = 0; r < rows; ++r) {
            float* row = tensorRunAmax.data() + static_cast<std::size_t>(r) * runsPerRow;
            runAbsMax(in + r * cols, static_cast<std::size_t>(cols), static_cast<std::size_t>(run), row);
            // The amaxes are finite and non-negative: their largest magnitude is their maximum, found
            // eight lanes at a time (std::max_element chains one compare per run).
            amax = std::max(amax, finiteAbsMax(row, runsPerRow));
        }
        whole = {-amax, amax, amax};
    } else if (f.tensorScaleBits) {
        whole = tensorRange(in, rows, cols);
    }
    ScaleParams tensorParams;
    if (perTensor) {
        std::vector<float> scratch(spec.scaleRule == ScaleRule::MinMax ? 0 : total);
        tensorParams = fitRun(f, spec, in, total, whole, scratch.data());
    }

#pragma omp parallel
    {
        std::vector<float> scratch(spec.scaleRule == ScaleRule::MinMax ? 0 : static_cast<std::size_t>(run));
        std::vector<float> rowAmax(fitsFromAmax && tensorRunAmax.empty() ? runsPerRow : 0);
        std::vector<RangeStats> rowRange(fitsFromRange ? runsPerRow : 0);
        std::vector<ScaleParams> params(runsPerRow, tensorParams);
#pragma omp for schedule(static)
        for (std::int64_t r = 0; r < rows; ++r) {
            const float* src = in + r * cols;
            float* dst = out + r * cols;
            auto runLength = [&](std::int64_t c) { return static_cast<std::size_t>(std::min(run, cols - c)); };
            // Fit every run of the row, then apply: the fits do not wait on each other, so the CPU
            // overlaps them, where fitting and applying run by run chains each run's range to its
            // quantization. (With out == in, the fits still read the original row.)
            if (fitsFromAmax) {
                const float* amax = tensorRunAmax.empty() ? rowAmax.data() : tensorRunAmax.data() + static_cast<std::size_t>(r) * runsPerRow;
                if (tensorRunAmax.empty()) runAbsMax(src, static_cast<std::size_t>(cols), static_cast<std::size_t>(run), rowAmax.data());
                fitFromAmaxes(f, amax, runsPerRow, whole, o, params.data());
            } else if (fitsFromRange) {
                runRange(src, static_cast<std::size_t>(cols), static_cast<std::size_t>(run), rowRange.data());
                fitFromRanges(f, rowRange.data(), runsPerRow, whole, o, params.data());
            } else if (!perTensor) {
                for (std::int64_t c = 0; c < cols; c += run)
                    params[static_cast<std::size_t>(c / run)] = fitRun(f, spec, src + c, runLength(c), whole, scratch.data());
            }
            if (inside) // before the apply: out may be in
                for (std::int64_t c = 0; c < cols; c += run) {
                    const SaturationBounds b = saturationBounds(f, spec, params[static_cast<std::size_t>(c / run)]);
                    for (std::int64_t i = c; i < c + static_cast<std::int64_t>(runLength(c)); ++i)
                        inside[r * cols + i] = b.contains(src[i]) ? 1 : 0;
                }
            applyRow(f, src, dst, static_cast<std::size_t>(cols), static_cast<std::size_t>(run), params.data(), o,
                     r + 1 < rows ? src + cols : nullptr, stream);
        }
        if (stream) streamFence(); // before the region's closing barrier publishes the rows
    }
}

} // namespace qs::core
