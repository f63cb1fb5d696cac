// SPDX-License-Identifier: MIT
#include "cost/value_codes.h"

#include "base/error.h"
#include "formats/format_traits.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qs::core {
namespace {

constexpr double kOnGrid = 1e-3; // |x - nearest| within this share of the local grid step

bool nearInteger(double x) { return std::abs(x - std::nearbyint(x)) <= kOnGrid; }

/// The smallest step between adjacent values of an ascending grid.
double smallestStep(const std::vector<float>& grid) {
    double step = std::numeric_limits<double>::infinity();
    for (std::size_t i = 1; i < grid.size(); ++i) step = std::min(step, static_cast<double>(grid[i]) - grid[i - 1]);
    return step;
}

/// Index of the grid value nearest x when x lies on the grid (within kOnGrid of the local step), else -1.
std::ptrdiff_t onGrid(const std::vector<float>& grid, double x) {
    const auto it = std::lower_bound(grid.begin(), grid.end(), static_cast<float>(x));
    std::ptrdiff_t best = -1;
    double bestDist = std::numeric_limits<double>::infinity();
    for (auto c : {it - 1, it}) {
        if (c < grid.begin() || c >= grid.end()) continue;
        const double d = std::abs(x - *c);
        if (d < bestDist) bestDist = d, best = c - grid.begin();
    }
    if (best < 0) return -1;
    const auto i = static_cast<std::size_t>(best);
    const double left = i > 0 ? grid[i] - grid[i - 1] : std::numeric_limits<double>::infinity();
    const double right = i + 1 < grid.size() ? grid[i + 1] - grid[i] : std::numeric_limits<double>::infinity();
    return bestDist <= kOnGrid * std::min(left, right) ? best : -1;
}

double finiteOr0(float v) { return std::isfinite(v) ? v : 0.0; }

/// Symmetric integer run: the smallest c with v * c / amax integral for every v.
void integerRun(const float* v, std::size_t n, int maxCode, std::int32_t* out, bool& onLattice) {
    double amax = 0;
    for (std::size_t i = 0; i < n; ++i) amax = std::max(amax, std::abs(finiteOr0(v[i])));
    if (amax == 0) return std::fill(out, out + n, 0), void(onLattice = true);
    for (int c = 1; c <= maxCode; ++c) {
        const double k = c / amax;
        std::size_t i = 0;
        while (i < n && nearInteger(finiteOr0(v[i]) * k)) ++i;
        if (i < n) continue;
        for (std::size_t j = 0; j < n; ++j) out[j] = static_cast<std::int32_t>(std::nearbyint(finiteOr0(v[j]) * k));
        onLattice = true;
        return;
    }
    for (std::size_t j = 0; j < n; ++j) out[j] = static_cast<std::int32_t>(std::nearbyint(finiteOr0(v[j]) * maxCode / amax));
    onLattice = false;
}

/// Asymmetric integer run: unsigned codes (v - min) * c / (max - min) for the smallest integral c.
void unsignedRun(const float* v, std::size_t n, int maxCode, std::int32_t* out, bool& onLattice) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (std::size_t i = 0; i < n; ++i) lo = std::min(lo, finiteOr0(v[i])), hi = std::max(hi, finiteOr0(v[i]));
    const double span = hi - lo;
    if (!(span > 0)) return std::fill(out, out + n, 0), void(onLattice = true);
    int chosen = maxCode;
    onLattice = false;
    for (int c = 1; c <= maxCode && !onLattice; ++c) {
        std::size_t i = 0;
        while (i < n && nearInteger((finiteOr0(v[i]) - lo) * c / span)) ++i;
        if (i == n) chosen = c, onLattice = true;
    }
    for (std::size_t j = 0; j < n; ++j)
        out[j] = static_cast<std::int32_t>(std::nearbyint((finiteOr0(v[j]) - lo) * chosen / span));
}

/// Float / code-book run: the largest grid magnitude g for which every v * g / amax is on the grid.
void gridRun(const float* v, std::size_t n, const std::vector<float>& grid, const std::vector<float>& magnitudes,
             double unit, std::int32_t* out, bool& onGridRun) {
    double amax = 0;
    for (std::size_t i = 0; i < n; ++i) amax = std::max(amax, std::abs(finiteOr0(v[i])));
    if (amax == 0) return std::fill(out, out + n, 0), void(onGridRun = true);
    for (float g : magnitudes) {
        const double k = g / amax;
        std::size_t i = 0;
        while (i < n && onGrid(grid, finiteOr0(v[i]) * k) >= 0) ++i;
        if (i < n) continue;
        for (std::size_t j = 0; j < n; ++j)
            out[j] = static_cast<std::int32_t>(std::nearbyint(grid[static_cast<std::size_t>(onGrid(grid, finiteOr0(v[j]) * k))] / unit));
        onGridRun = true;
        return;
    }
    const double k = magnitudes.front() / amax; // round to the grid at the run's absmax
    for (std::size_t j = 0; j < n; ++j) {
        const double x = std::clamp(finiteOr0(v[j]) * k, static_cast<double>(grid.front()), static_cast<double>(grid.back()));
        const auto it = std::min_element(grid.begin(), grid.end(), [&](float a, float b) { return std::abs(a - x) < std::abs(b - x); });
        out[j] = static_cast<std::int32_t>(std::nearbyint(*it / unit));
    }
    onGridRun = false;
}

} // namespace

int fixedPointBits(const FormatTraits& f, bool symmetric) {
    if (f.kind == FormatKind::Cast) return 16;
    if (f.kind == FormatKind::Integer) return f.elementBits;
    const std::vector<float> grid = elementGrid(f);
    const double step = smallestStep(grid);
    const double top = std::nearbyint(grid.back() / step), bottom = std::nearbyint(-grid.front() / step);
    // Two's complement: P needs ceil(log2(P + 1)) magnitude bits, -N needs ceil(log2(N)), plus the sign.
    int bits = static_cast<int>(std::ceil(std::log2(top + 1)));
    if (bottom > 0) bits = std::max(bits, static_cast<int>(std::ceil(std::log2(bottom))));
    return bits + (symmetric || bottom > 0 ? 1 : 0);
}

OperandCodes linearCodes(const float* values, std::size_t n, int bits) {
    if (bits < 2 || bits > 31) throw Error("linearCodes: " + std::to_string(bits) + " bits is outside 2..31");
    OperandCodes c;
    c.bits = bits;
    c.format = "native";
    c.codes.resize(n);
    double lo = 0, amax = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double v = std::isfinite(values[i]) ? values[i] : (std::isnan(values[i]) ? 0.0 : values[i] > 0 ? 1e300 : -1e300);
        lo = std::min(lo, v), amax = std::max(amax, std::abs(v));
    }
    c.isSigned = lo < 0;
    const double top = c.isSigned ? std::ldexp(1.0, bits - 1) - 1 : std::ldexp(1.0, bits) - 1;
    const double scale = amax > 0 && amax < 1e300 ? amax / top : 1.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double v = std::isnan(values[i]) ? 0.0 : values[i];
        c.codes[i] = static_cast<std::int32_t>(std::clamp(std::nearbyint(v / scale), c.isSigned ? -top : 0.0, top));
    }
    return c;
}

OperandCodes gridCodes(const float* values, std::int64_t rows, std::int64_t cols, const QuantSpec& spec,
                       std::int64_t* offGridRuns) {
    const FormatTraits& f = formatTraits(spec.format);
    if (f.kind == FormatKind::Cast) {
        OperandCodes c = linearCodes(values, static_cast<std::size_t>(rows * cols), 16);
        c.format = std::string(f.name);
        return c;
    }
    OperandCodes c;
    c.format = std::string(f.name);
    c.codes.resize(static_cast<std::size_t>(rows * cols));
    const bool integer = f.kind == FormatKind::Integer;
    const bool asym = integer && !spec.symmetric && f.allowsAsymmetric;
    c.isSigned = !asym;
    c.bits = integer ? f.elementBits : fixedPointBits(f, true);
    c.exact = f.kind != FormatKind::Codebook;
    const int maxCode = asym ? (1 << f.elementBits) - 1 : (1 << (f.elementBits - 1)) - (spec.fullRange ? 0 : 1);

    std::vector<float> grid, magnitudes;
    double unit = 1;
    if (!integer) {
        grid = elementGrid(f);
        unit = smallestStep(grid);
        for (float g : grid)
            if (g > 0) magnitudes.push_back(g);
        std::reverse(magnitudes.begin(), magnitudes.end()); // largest first: the finest consistent scale
    }
    const std::int64_t run = std::max<std::int64_t>(1, spec.runLength(cols));
    std::int64_t off = 0;
#pragma omp parallel for schedule(static) reduction(+ : off)
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t s = 0; s < cols; s += run) {
            const std::size_t n = static_cast<std::size_t>(std::min(run, cols - s));
            const float* v = values + r * cols + s;
            std::int32_t* out = c.codes.data() + r * cols + s;
            bool ok = true;
            if (asym) unsignedRun(v, n, maxCode, out, ok);
            else if (integer) integerRun(v, n, maxCode, out, ok);
            else gridRun(v, n, grid, magnitudes, unit, out, ok);
            off += ok ? 0 : 1;
        }
    if (offGridRuns) *offGridRuns = off;
    // A symmetric grid holding no negative code (post-ReLU activations) is read unsigned (spec §15).
    if (c.isSigned && std::none_of(c.codes.begin(), c.codes.end(), [](std::int32_t q) { return q < 0; })) c.isSigned = false;
    return c;
}

} // namespace qs::core
