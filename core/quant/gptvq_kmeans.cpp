// SPDX-License-Identifier: MIT
// GPTVQ's data-aware codebook initialisation: k-means with per-element importance weights.
#include "quant/gptvq.h"

#include "base/error.h"

#include <algorithm>
#include <limits>
#include <random>

namespace qs::core {
namespace {

double distance(const float* x, const float* w, const float* c, int d) {
    double s = 0;
    for (int a = 0; a < d; ++a) {
        const double t = static_cast<double>(x[a]) - c[a];
        s += w[a] * t * t;
    }
    return s;
}

// k-means++ in the weighted metric: each new centroid is drawn with probability ~ its distance to the
// nearest one chosen so far (O(n k d), one pass per centroid).
std::vector<float> kmeansPlusPlus(const float* x, const float* w, std::int64_t n, int d, int k, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<float> c(static_cast<std::size_t>(k) * d);
    std::vector<double> nearest(n, std::numeric_limits<double>::max());
    std::int64_t pick = std::uniform_int_distribution<std::int64_t>(0, n - 1)(rng);
    for (int j = 0; j < k; ++j) {
        std::copy(x + pick * d, x + pick * d + d, c.begin() + static_cast<std::ptrdiff_t>(j) * d);
        double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) {
            nearest[i] = std::min(nearest[i], distance(x + i * d, w + i * d, c.data() + static_cast<std::ptrdiff_t>(j) * d, d));
            total += nearest[i];
        }
        if (total <= 0) { // fewer distinct vectors than entries: the rest repeat a vector
            pick = std::uniform_int_distribution<std::int64_t>(0, n - 1)(rng);
            continue;
        }
        double u = std::uniform_real_distribution<double>(0.0, total)(rng);
        pick = n - 1;
        for (std::int64_t i = 0; i < n; ++i)
            if ((u -= nearest[i]) < 0) {
                pick = i;
                break;
            }
    }
    return c;
}

} // namespace

WeightedKMeans weightedKMeans(const float* x, const float* w, std::int64_t n, int d, int k, int iters,
                              std::uint64_t seed, const std::vector<float>* init) {
    if (n <= 0 || k <= 0 || d <= 0) throw Error("weightedKMeans: empty problem");
    WeightedKMeans r;
    r.centroids = init ? *init : kmeansPlusPlus(x, w, n, d, k, seed);
    if (r.centroids.size() != static_cast<std::size_t>(k) * d) throw Error("weightedKMeans: initial codebook size");
    r.assign.assign(n, 0);
    std::vector<double> num(r.centroids.size()), den(r.centroids.size());
    for (int it = 0;; ++it) {
        double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) {
            double best = std::numeric_limits<double>::max();
            std::int32_t arg = 0;
            for (int j = 0; j < k; ++j) {
                const double dist = distance(x + i * d, w + i * d, r.centroids.data() + static_cast<std::ptrdiff_t>(j) * d, d);
                if (dist < best) best = dist, arg = j;
            }
            r.assign[i] = arg;
            total += best;
        }
        r.objective.push_back(total);
        if (it == iters) break;
        // Update: per element the weighted mean of its members (the minimiser for fixed assignments);
        // an element no member weighs keeps its value.
        std::fill(num.begin(), num.end(), 0.0);
        std::fill(den.begin(), den.end(), 0.0);
        for (std::int64_t i = 0; i < n; ++i)
            for (int a = 0; a < d; ++a) {
                const std::size_t e = static_cast<std::size_t>(r.assign[i]) * d + a;
                num[e] += static_cast<double>(w[i * d + a]) * x[i * d + a];
                den[e] += w[i * d + a];
            }
        for (std::size_t e = 0; e < num.size(); ++e)
            if (den[e] > 0) r.centroids[e] = static_cast<float>(num[e] / den[e]);
    }
    return r;
}

} // namespace qs::core
