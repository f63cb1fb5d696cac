// SPDX-License-Identifier: MIT
#include "statistics/rank_correlation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace qs::core {

std::vector<double> averageRanks(const std::vector<double>& values) {
    std::vector<std::size_t> order(values.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
    std::vector<double> ranks(values.size());
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
        const double rank = 0.5 * double(i + j) + 1.0; // average of ranks i+1 .. j+1
        for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
        i = j + 1;
    }
    return ranks;
}

double pearsonR(const std::vector<double>& x, const std::vector<double>& y) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (x.size() != y.size() || x.size() < 2) return nan;
    const double n = double(x.size());
    const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
    const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx == 0 || syy == 0) return nan;
    return sxy / std::sqrt(sxx * syy);
}

double spearmanRho(const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size()) return std::numeric_limits<double>::quiet_NaN();
    return pearsonR(averageRanks(x), averageRanks(y));
}

double kendallTau(const std::vector<double>& x, const std::vector<double>& y) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (x.size() != y.size() || x.size() < 2) return nan;
    long long concordant = 0, discordant = 0, tiedX = 0, tiedY = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
        for (std::size_t j = i + 1; j < x.size(); ++j) {
            const double dx = x[i] - x[j], dy = y[i] - y[j];
            if (dx == 0 && dy == 0) continue; // tied in both: in neither count
            if (dx == 0)
                ++tiedX;
            else if (dy == 0)
                ++tiedY;
            else
                (dx * dy > 0 ? concordant : discordant)++;
        }
    // tau-b = (C − D) / sqrt(n_x n_y): n_x pairs not tied in x (C + D + pairs tied only in y), n_y alike.
    const double nx = double(concordant + discordant + tiedY), ny = double(concordant + discordant + tiedX);
    if (nx == 0 || ny == 0) return nan;
    return double(concordant - discordant) / std::sqrt(nx * ny);
}

} // namespace qs::core
