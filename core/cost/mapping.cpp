// SPDX-License-Identifier: MIT
#include "cost/mapping.h"

#include "base/error.h"
#include "cost/grid_params.h"
#include "cost/mac_cost.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace qs::core {
namespace {

using Split = std::array<std::int64_t, 4>; // factors at {DRAM, buffer, spatial, registers}

std::vector<std::int64_t> divisors(std::int64_t n) {
    std::vector<std::int64_t> low, high;
    for (std::int64_t i = 1; i * i <= n; ++i)
        if (n % i == 0) {
            low.push_back(i);
            if (i != n / i) high.push_back(n / i);
        }
    low.insert(low.end(), high.rbegin(), high.rend());
    return low;
}

// Every way to split one dim across the levels; `axis` > 0 puts it on an array axis of that many PEs
// (factor >= 2: a factor of 1 is the same mapping without the unrolling).
std::vector<Split> splits(std::int64_t size, std::int64_t axis) {
    std::vector<Split> out;
    for (std::int64_t dram : divisors(size)) {
        const std::int64_t rest = size / dram;
        for (std::int64_t spatial : axis > 0 ? divisors(rest) : std::vector<std::int64_t>{1}) {
            if (axis > 0 && (spatial < 2 || spatial > axis)) continue;
            for (std::int64_t buffer : divisors(rest / spatial))
                out.push_back({dram, buffer, spatial, rest / spatial / buffer});
        }
    }
    return out;
}

// One choice of dims on the array axes, and every dim's splits under it.
struct Unrolling {
    int x = -1, y = -1;
    std::vector<std::vector<Split>> options; ///< [dim]
    std::uint64_t count = 0;                 ///< product of the option counts
};

std::uint64_t checkedProduct(std::uint64_t a, std::uint64_t b) {
    std::uint64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) throw Error("mapping: the mapping space is too large to index");
    return r;
}

std::vector<Unrolling> unrollings(const LoopProblem& p, const Hierarchy& h) {
    const int D = static_cast<int>(p.dims.size());
    std::vector<std::pair<int, int>> axes{{-1, -1}};
    auto canUnroll = [&](int d, int extent) {
        return d < 0 || (extent >= 2 && p.dims[static_cast<std::size_t>(d)].size >= 2);
    };
    const bool square = h.arrayX == h.arrayY; // then (a, b) and (b, a) cost the same: keep one
    for (int x = -1; x < D; ++x)
        for (int y = -1; y < D; ++y) {
            if ((x < 0 && y < 0) || x == y || !canUnroll(x, h.arrayX) || !canUnroll(y, h.arrayY)) continue;
            if (square && ((x >= 0 && y >= 0 && x > y) || (x < 0 && y >= 0))) continue;
            axes.emplace_back(x, y);
        }
    std::vector<Unrolling> out;
    for (const auto& [x, y] : axes) {
        Unrolling u{x, y, {}, 1};
        for (int d = 0; d < D; ++d) {
            const std::int64_t axis = d == x ? h.arrayX : d == y ? h.arrayY : 0;
            u.options.push_back(splits(p.dims[static_cast<std::size_t>(d)].size, axis));
            u.count = checkedProduct(u.count, u.options.back().size());
        }
        if (u.count > 0) out.push_back(std::move(u));
    }
    return out;
}

// Loop orders of one level with distinct reuse. A tensor's fetch count depends only on the set of trailing
// loops it ignores, at this level and (when all of a level's loops are ignored) the level above, so orders with
// the same per-tensor trailing sets cost the same; the first in lexicographic order stands for them.
class OrderTable {
public:
    explicit OrderTable(const LoopProblem& p) : p_(p) {}
    const std::vector<std::vector<int>>& orders(std::uint32_t dimMask) {
        auto it = cache_.find(dimMask);
        if (it != cache_.end()) return it->second;
        std::vector<int> dims;
        for (int d = 0; d < static_cast<int>(p_.dims.size()); ++d)
            if (dimMask >> d & 1u) dims.push_back(d);
        std::vector<std::vector<int>> reps;
        std::map<std::vector<std::uint32_t>, bool> seen;
        do {
            if (seen.emplace(signature(dims), true).second) reps.push_back(dims);
        } while (std::next_permutation(dims.begin(), dims.end()));
        return cache_.emplace(dimMask, std::move(reps)).first->second;
    }

private:
    std::vector<std::uint32_t> signature(const std::vector<int>& order) const {
        std::vector<std::uint32_t> sig;
        for (const auto& t : p_.tensors) {
            std::uint32_t mask = 0;
            for (auto d = order.rbegin(); d != order.rend() && !t.indexes(*d); ++d) mask |= 1u << *d;
            sig.push_back(mask);
        }
        return sig;
    }
    const LoopProblem& p_;
    std::map<std::uint32_t, std::vector<std::vector<int>>> cache_;
};

bool better(const RankedMapping& a, const RankedMapping& b) {
    if (a.score != b.score) return a.score < b.score;
    if (a.cost.cycles != b.cost.cycles) return a.cost.cycles < b.cost.cycles;
    if (a.cost.energy != b.cost.energy) return a.cost.energy < b.cost.energy;
    if (a.cost.dramBytes != b.cost.dramBytes) return a.cost.dramBytes < b.cost.dramBytes;
    return a.sequence < b.sequence;
}

// Copies the mapping only when it enters the table.
void keepTop(std::vector<RankedMapping>& top, const Mapping& m, MappingCost&& cost, double score,
             std::uint64_t sequence, int k) {
    RankedMapping candidate{{}, std::move(cost), score, sequence};
    if (static_cast<int>(top.size()) >= k && !better(candidate, top.back())) return;
    candidate.mapping = m;
    top.insert(std::upper_bound(top.begin(), top.end(), candidate, better), std::move(candidate));
    if (static_cast<int>(top.size()) > k) top.pop_back();
}

// A stride coprime with n near n / golden ratio: stepping by it visits every index once, spread evenly.
std::uint64_t spreadingStride(std::uint64_t n) {
    const auto golden = static_cast<std::uint64_t>(static_cast<long double>(n) * 0.6180339887498949L);
    std::uint64_t s = std::max<std::uint64_t>(1, golden);
    while (std::gcd(s, n) != 1) ++s;
    return s % n;
}

Hierarchy hierarchyFromParams(const nlohmann::json& p, double macPj) {
    const EnergyParams e = EnergyParams::fromParams(p);
    Hierarchy h;
    h.arrayX = p.at("array_x").get<int>();
    h.arrayY = p.at("array_y").get<int>();
    h.bufferBytes = p.at("buffer_kib").get<double>() * 1024;
    h.registerBytes = p.at("register_bytes").get<double>();
    h.dramBytesPerCycle = p.at("dram_bytes_per_cycle").get<double>();
    h.bufferBytesPerCycle = p.at("buffer_bytes_per_cycle").get<double>();
    h.eDramByte = e.dramByte;
    h.eBufferByte = e.sramBit * 8;
    h.eRegisterByte = p.at("e_register_byte").get<double>();
    h.eMac = macPj;
    return h;
}

} // namespace

MappingObjective mappingObjectiveFromName(std::string_view name) {
    if (name == "cycles") return MappingObjective::Cycles;
    if (name == "energy") return MappingObjective::Energy;
    if (name == "edp") return MappingObjective::Edp;
    if (name == "dram") return MappingObjective::Dram;
    throw Error("mapping: unknown objective '" + std::string(name) + "' (cycles, energy, edp, dram)");
}

double objectiveValue(const MappingCost& c, MappingObjective o) {
    switch (o) {
    case MappingObjective::Cycles: return c.cycles;
    case MappingObjective::Energy: return c.energy;
    case MappingObjective::Edp: return c.edp();
    case MappingObjective::Dram: return c.dramBytes;
    }
    return c.edp();
}

Mapping naiveMapping(const LoopProblem& p) {
    Mapping m;
    for (std::size_t d = 0; d < p.dims.size(); ++d) {
        m.factors.push_back({p.dims[d].size, 1, 1, 1});
        m.dramOrder.push_back(static_cast<int>(d));
    }
    return m;
}

MapperResult exploreMappings(const LoopProblem& p, const Hierarchy& h, const MapperOptions& o) {
    if (p.dims.size() > 31) throw Error("mapping: more than 31 loops");
    const std::vector<Unrolling> space = unrollings(p, h);
    MapperResult r;
    for (const Unrolling& u : space) {
        if (r.tilings > UINT64_MAX - u.count) throw Error("mapping: the mapping space is too large to index");
        r.tilings += u.count;
    }
    OrderTable orders(p);
    const std::uint64_t budget = std::max<std::uint64_t>(1, o.maxMappings);
    // Sequential when everything fits the budget; otherwise a spread visit, and a cap on the tilings looked at so
    // a space where little fits still ends (capacity checks are cheap, hence 64 per costed mapping).
    const bool spread = r.tilings > budget;
    const std::uint64_t stride = spread ? spreadingStride(r.tilings) : 1;
    const std::uint64_t visitCap = budget > UINT64_MAX / 64 ? UINT64_MAX : budget * 64;
    const std::uint64_t maxVisits = spread ? std::min(r.tilings, visitCap) : r.tilings;
    std::uint64_t index = 0, sequence = 0;
    bool cut = false; // the budget ended the search with work left
    while (r.visited < maxVisits && !cut) {
        // Decode the index: which unrolling, then each dim's split (last dim fastest).
        std::uint64_t local = index;
        std::size_t ui = 0;
        while (local >= space[ui].count) local -= space[ui++].count;
        const Unrolling& u = space[ui];
        Mapping m;
        m.spatialX = u.x;
        m.spatialY = u.y;
        m.factors.resize(p.dims.size());
        for (std::size_t d = p.dims.size(); d-- > 0;) {
            m.factors[d] = u.options[d][local % u.options[d].size()];
            local /= u.options[d].size();
        }
        index = spread ? (index >= r.tilings - stride ? index - (r.tilings - stride) : index + stride) : index + 1;
        ++r.visited;

        if (!mappingFootprint(p, h, m).fits) {
            ++r.overCapacity;
            continue;
        }
        std::uint32_t dramMask = 0, bufferMask = 0;
        for (std::size_t d = 0; d < p.dims.size(); ++d) {
            if (m.factors[d][kDramLevel] > 1) dramMask |= 1u << d;
            if (m.factors[d][kBufferLevel] > 1) bufferMask |= 1u << d;
        }
        const auto& dramOrders = orders.orders(dramMask);
        const auto& bufferOrders = orders.orders(bufferMask);
        for (std::size_t a = 0; a < dramOrders.size() && !cut; ++a)
            for (std::size_t b = 0; b < bufferOrders.size() && !cut; ++b) {
                if (r.evaluated >= budget) {
                    cut = true;
                    break;
                }
                m.dramOrder = dramOrders[a];
                m.bufferOrder = bufferOrders[b];
                MappingCost cost = evaluateMapping(p, h, m);
                const double score = objectiveValue(cost, o.objective);
                keepTop(r.top, m, std::move(cost), score, sequence++, std::max(1, o.topK));
                ++r.evaluated;
            }
    }
    r.exhaustive = !cut && r.visited == r.tilings;
    if (r.top.empty()) {
        // Sampling can miss every fitting tiling of a tight hierarchy; the naive nest is the one that fits whenever
        // anything does (one value of each tensor per level).
        const Mapping naive = naiveMapping(p);
        const MappingCost c = evaluateMapping(p, h, naive);
        if (!c.fits) throw Error("mapping: no mapping fits: even one value of each tensor does not (" + c.whyNot + ")");
        r.top.push_back({naive, c, objectiveValue(c, o.objective), sequence});
    }
    return r;
}

const ParamSchema& MappingCostModel::params() const {
    static const ParamSchema schema = joinSchemas({
        {
            {"objective", ParamType::Choice, "edp", 0, 0, {"edp", "cycles", "energy", "dram"},
             "what the best mapping minimises: energy x delay, cycles, energy or DRAM bytes", "Objective"},
            {"max_mappings", ParamType::Int, 20000, 1, 1e9, {}, "mappings costed at most (the search bound)",
             "Max mappings"},
            {"top_k", ParamType::Int, 5, 1, 100, {}, "rows of the top-mappings table", "Top k"},
            {"array_x", ParamType::Int, 16, 1, 4096, {}, "PE array columns", "Array X"},
            {"array_y", ParamType::Int, 16, 1, 4096, {}, "PE array rows", "Array Y"},
            {"buffer_kib", ParamType::Float, 128.0, 1e-6, 1e9, {}, "global buffer capacity, KiB", "Buffer KiB"},
            {"register_bytes", ParamType::Float, 64.0, 0, 1e9, {}, "register file bytes per PE", "Register bytes"},
            {"dram_bytes_per_cycle", ParamType::Float, 32.0, 1e-9, 1e12, {}, "DRAM <-> buffer bandwidth",
             "DRAM bytes/cycle"},
            {"buffer_bytes_per_cycle", ParamType::Float, 256.0, 1e-9, 1e12, {}, "buffer <-> array bandwidth",
             "Buffer bytes/cycle"},
            {"psum_bits", ParamType::Int, 32, 1, 64, {}, "partial-sum width in the buffer and registers", "Psum bits"},
            {"e_register_byte", ParamType::Float, 0.02, 0, 1e6, {},
             "pJ per register-file byte accessed (the buffer uses e_sram_bit x 8)", "Register pJ/byte"},
        },
        macCostSchema(),
        energySchema(),
    });
    return schema;
}

LayerCost MappingCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const LoopProblem problem = loopProblemOf(layer, params.at("psum_bits").get<double>());
    const MacPrice price = priceMac(MacCostTable::fromParam(params.at("mac_cost").get<std::string>()), layer,
                                    MacPricingOptions::fromParams(params));
    const MacEnergy mac = macEnergy(price, layer, EnergyParams::fromParams(params));
    const Hierarchy h = hierarchyFromParams(params, mac.pj);
    MapperOptions options;
    options.objective = mappingObjectiveFromName(params.at("objective").get<std::string>());
    options.maxMappings = params.at("max_mappings").get<std::uint64_t>();
    options.topK = params.at("top_k").get<int>();

    const MapperResult r = exploreMappings(problem, h, options);
    const RankedMapping& best = r.top.front();
    const Mapping naive = naiveMapping(problem);
    const MappingCost base = evaluateMapping(problem, h, naive);

    LayerCost cost;
    cost.name = layer.name;
    cost.cycles = best.cost.cycles;
    cost.baselineCycles = base.cycles;
    cost.energy = best.cost.energy;
    cost.baselineEnergy = base.energy;
    cost.extra = best.cost.toJson();
    cost.extra.erase("cycles");
    cost.extra.erase("energy");
    nlohmann::json dims = nlohmann::json::object();
    for (const auto& d : problem.dims) dims[d.name] = d.size;
    cost.extra["objective"] = params.at("objective");
    cost.extra["problem"] = {{"kind", problem.kind}, {"dims", dims}, {"instances", problem.instances}};
    cost.extra["nest"] = nestText(problem, best.mapping);
    cost.extra["summary"] = mappingSummary(problem, best.mapping);
    cost.extra["mapping"] = mappingJson(problem, best.mapping);
    nlohmann::json top = nlohmann::json::array();
    for (std::size_t i = 0; i < r.top.size(); ++i) {
        const MappingCost& c = r.top[i].cost;
        top.push_back({{"rank", i + 1},
                       {"score", r.top[i].score},
                       {"cycles", c.cycles},
                       {"energy", c.energy},
                       {"edp", c.edp()},
                       {"dram_bytes", c.dramBytes},
                       {"utilisation", c.utilisation},
                       {"mapping", mappingSummary(problem, r.top[i].mapping)}});
    }
    cost.extra["top"] = std::move(top);
    cost.extra["search"] = {{"tilings", r.tilings},
                            {"visited", r.visited},
                            {"over_capacity", r.overCapacity},
                            {"evaluated", r.evaluated},
                            {"exhaustive", r.exhaustive}};
    cost.extra["baseline"] = {{"rule", "naive: the written loop order at the DRAM level, one PE, no tiling"},
                              {"summary", mappingSummary(problem, naive)},
                              {"dram_bytes", base.dramBytes}};
    cost.extra["mac_energy_pj"] = mac.pj;
    cost.extra["mac_energy_source"] = mac.source;
    cost.extra["mac_cost_status"] = price.status;
    return cost;
}

std::unique_ptr<CostModel> makeMappingCostModel() { return std::make_unique<MappingCostModel>(); }

} // namespace qs::core
