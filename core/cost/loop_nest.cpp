// SPDX-License-Identifier: MIT
#include "cost/loop_nest.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace qs::core {
namespace {

using Loops = std::vector<std::pair<int, std::int64_t>>; // {dim, bound}, outermost first

TensorAxis axis(int dim) { return {{{dim, 1}}}; }

// Iterations of `loops` that fetch a tensor's tile anew: all of them but the trailing run (innermost first)
// over dims the tensor does not index, whose iterations find the tile already in place (spec §14 (5)).
double fetches(const LoopTensor& t, const Loops& loops) {
    std::size_t end = loops.size();
    while (end > 0 && !t.indexes(loops[end - 1].first)) --end;
    double n = 1;
    for (std::size_t i = 0; i < end; ++i) n *= static_cast<double>(loops[i].second);
    return n;
}

// The level's loops in its order, leaving out bound-1 loops.
void appendLoops(Loops& loops, const Mapping& m, const std::vector<int>& order, int level) {
    for (int d : order)
        if (m.factors[static_cast<std::size_t>(d)][static_cast<std::size_t>(level)] > 1)
            loops.emplace_back(d, m.factors[static_cast<std::size_t>(d)][static_cast<std::size_t>(level)]);
}

void checkOrder(const LoopProblem& p, const Mapping& m, const std::vector<int>& order, int level, const char* what) {
    std::set<int> seen;
    for (int d : order) {
        if (d < 0 || d >= static_cast<int>(p.dims.size()) || !seen.insert(d).second)
            throw Error(std::string("mapping: the ") + what + " order lists dim " + std::to_string(d) +
                        " twice or out of range");
    }
    for (std::size_t d = 0; d < p.dims.size(); ++d)
        if (m.factors[d][static_cast<std::size_t>(level)] > 1 && !seen.count(static_cast<int>(d)))
            throw Error(std::string("mapping: the ") + what + " order misses loop " + p.dims[d].name);
}

std::string bounds(std::int64_t n) { return "[0:" + std::to_string(n) + ")"; }

std::string bytesText(double b) { return std::to_string(static_cast<long long>(std::ceil(b))) + " bytes"; }

} // namespace

bool LoopTensor::indexes(int dim) const {
    for (const auto& a : axes)
        for (const auto& [d, coefficient] : a.terms)
            if (d == dim && coefficient != 0) return true;
    return false;
}

double LoopProblem::macs() const {
    double n = 1;
    for (const auto& d : dims) n *= static_cast<double>(d.size);
    return n;
}

double LoopProblem::tileElements(const LoopTensor& t, const std::vector<std::int64_t>& extent) const {
    double n = 1;
    for (const auto& a : t.axes) {
        double span = 1;
        for (const auto& [d, coefficient] : a.terms)
            span += static_cast<double>(coefficient) * static_cast<double>(extent[static_cast<std::size_t>(d)] - 1);
        n *= span;
    }
    return n;
}

LoopProblem matmulProblem(std::int64_t M, std::int64_t N, std::int64_t K, double inputBits, double weightBits,
                          double outputBits, double psumBits) {
    enum { m, n, k };
    LoopProblem p;
    p.kind = "matmul";
    p.dims = {{"M", M}, {"N", N}, {"K", K}};
    p.tensors = {{"Weights", {axis(k), axis(n)}, weightBits, false},
                 {"Inputs", {axis(m), axis(k)}, inputBits, false},
                 {"Outputs", {axis(m), axis(n)}, outputBits, true}};
    p.psumBits = psumBits;
    return p;
}

LoopProblem convProblem(std::int64_t N, std::int64_t K, std::int64_t C, std::int64_t P, std::int64_t Q, std::int64_t R,
                        std::int64_t S, int stride, double inputBits, double weightBits, double outputBits,
                        double psumBits) {
    enum { n, k, c, p, q, r, s };
    LoopProblem prob;
    prob.kind = "conv";
    prob.dims = {{"N", N}, {"K", K}, {"C", C}, {"P", P}, {"Q", Q}, {"R", R}, {"S", S}};
    prob.tensors = {{"Weights", {axis(k), axis(c), axis(r), axis(s)}, weightBits, false},
                    {"Inputs", {axis(n), axis(c), {{{p, stride}, {r, 1}}}, {{{q, stride}, {s, 1}}}}, inputBits, false},
                    {"Outputs", {axis(n), axis(k), axis(p), axis(q)}, outputBits, true}};
    prob.psumBits = psumBits;
    return prob;
}

LoopProblem loopProblemOf(const CostLayer& l, double psumBits) {
    const std::int64_t groups = std::max(1, l.groups);
    LoopProblem p = l.shape == LayerShape::FullyConnected
                        ? matmulProblem(std::max<std::int64_t>(1, l.M), l.F, l.C, l.activationStoredBits,
                                        l.weightStoredBits, l.activationStoredBits, psumBits)
                        : convProblem(std::max<std::int64_t>(1, l.M), l.F / groups, l.C / groups, l.OY, l.OX, l.KY,
                                      l.KX, std::max(1, l.stride), l.activationStoredBits, l.weightStoredBits,
                                      l.activationStoredBits, psumBits);
    if (l.shape == LayerShape::Conv) p.instances = groups;
    for (const auto& d : p.dims)
        if (d.size < 1)
            throw Error("mapping: layer '" + l.name + "' has loop " + d.name + " of size " + std::to_string(d.size));
    return p;
}

std::string MappingCost::bound() const {
    if (computeCycles >= dramCycles && computeCycles >= bufferCycles) return "compute";
    return dramCycles >= bufferCycles ? "dram" : "buffer";
}

nlohmann::json MappingCost::toJson() const {
    auto traffic = [](const std::vector<TensorTraffic>& v) {
        nlohmann::json j = nlohmann::json::object();
        for (const auto& t : v) j[t.tensor] = {{"reads", t.reads}, {"writes", t.writes}};
        return j;
    };
    return {{"cycles", cycles},
            {"compute_cycles", computeCycles},
            {"dram_cycles", dramCycles},
            {"buffer_cycles", bufferCycles},
            {"energy", energy},
            {"edp", edp()},
            {"dram_bytes", dramBytes},
            {"buffer_bytes", bufferBytes},
            {"register_bytes", registerBytes},
            {"utilisation", utilisation},
            {"active_pes", activePes},
            {"bound", bound()},
            {"buffer_use", bufferUse},
            {"register_use", registerUse},
            {"accesses", {{"dram", traffic(dram)}, {"buffer", traffic(buffer)}, {"registers", registerBytes}}},
            {"energy_breakdown",
             {{"mac", macEnergy}, {"dram", dramEnergy}, {"buffer", bufferEnergy}, {"registers", registerEnergy}}}};
}

MappingFootprint mappingFootprint(const LoopProblem& p, const Hierarchy& h, const Mapping& m) {
    MappingFootprint use;
    const std::size_t D = p.dims.size();
    std::vector<std::int64_t> registers(D), buffer(D);
    for (std::size_t d = 0; d < D; ++d) {
        registers[d] = m.factors[d][kRegisterLevel];
        buffer[d] = m.factors[d][kBufferLevel] * m.factors[d][kSpatialLevel] * registers[d];
    }
    for (const auto& t : p.tensors) {
        const double bits = t.output ? p.psumBits : t.bits;
        use.bufferUse += p.tileElements(t, buffer) * bits / 8;
        use.registerUse += p.tileElements(t, registers) * bits / 8;
    }
    auto reject = [&](const std::string& why) {
        if (use.fits) use.whyNot = why;
        use.fits = false;
    };
    const std::int64_t sx = m.spatialX >= 0 ? m.factors[static_cast<std::size_t>(m.spatialX)][kSpatialLevel] : 1;
    const std::int64_t sy = m.spatialY >= 0 ? m.factors[static_cast<std::size_t>(m.spatialY)][kSpatialLevel] : 1;
    if (sx > h.arrayX || sy > h.arrayY)
        reject("the array is " + std::to_string(h.arrayX) + " x " + std::to_string(h.arrayY));
    if (use.bufferUse > h.bufferBytes)
        reject("buffer tiles need " + bytesText(use.bufferUse) + " of " + bytesText(h.bufferBytes));
    if (use.registerUse > h.registerBytes)
        reject("register tiles need " + bytesText(use.registerUse) + " of " + bytesText(h.registerBytes) + " per PE");
    return use;
}

MappingCost evaluateMapping(const LoopProblem& p, const Hierarchy& h, const Mapping& m) {
    const std::size_t D = p.dims.size();
    if (m.factors.size() != D)
        throw Error("mapping: " + std::to_string(m.factors.size()) + " factor rows for " + std::to_string(D) +
                    " loops");
    for (std::size_t d = 0; d < D; ++d) {
        std::int64_t product = 1;
        for (std::int64_t f : m.factors[d]) {
            if (f < 1) throw Error("mapping: loop " + p.dims[d].name + " has a factor below 1");
            product *= f;
        }
        if (product != p.dims[d].size)
            throw Error("mapping: the factors of " + p.dims[d].name + " multiply to " + std::to_string(product) +
                        ", not " + std::to_string(p.dims[d].size));
        const bool onArray = static_cast<int>(d) == m.spatialX || static_cast<int>(d) == m.spatialY;
        if (m.factors[d][kSpatialLevel] > 1 && !onArray)
            throw Error("mapping: loop " + p.dims[d].name + " has a spatial factor but no array axis");
    }
    if (m.spatialX >= 0 && m.spatialX == m.spatialY) throw Error("mapping: one loop on both array axes");
    checkOrder(p, m, m.dramOrder, kDramLevel, "DRAM");
    checkOrder(p, m, m.bufferOrder, kBufferLevel, "buffer");

    MappingCost c;
    const MappingFootprint use = mappingFootprint(p, h, m);
    c.fits = use.fits;
    c.whyNot = use.whyNot;
    c.bufferUse = use.bufferUse;
    c.registerUse = use.registerUse;
    std::vector<std::int64_t> array(D), buffer(D), full(D);
    for (std::size_t d = 0; d < D; ++d) {
        const auto& f = m.factors[d];
        array[d] = f[kSpatialLevel] * f[kRegisterLevel];
        buffer[d] = f[kBufferLevel] * array[d];
        full[d] = p.dims[d].size;
    }
    const std::int64_t sx = m.spatialX >= 0 ? m.factors[static_cast<std::size_t>(m.spatialX)][kSpatialLevel] : 1;
    const std::int64_t sy = m.spatialY >= 0 ? m.factors[static_cast<std::size_t>(m.spatialY)][kSpatialLevel] : 1;
    c.activePes = sx * sy;
    c.utilisation = static_cast<double>(c.activePes) / (static_cast<double>(h.arrayX) * h.arrayY);

    Loops dramLoops;
    appendLoops(dramLoops, m, m.dramOrder, kDramLevel);
    Loops allLoops = dramLoops;
    appendLoops(allLoops, m, m.bufferOrder, kBufferLevel);

    const double n = static_cast<double>(p.instances);
    double macOperandBytes = 0;
    for (const auto& t : p.tensors) {
        const double distinct = p.tileElements(t, full);
        const double intoBuffer = p.tileElements(t, buffer) * fetches(t, dramLoops);
        const double intoArray = p.tileElements(t, array) * fetches(t, allLoops);
        if (!t.output) {
            c.dram.push_back({t.name, n * intoBuffer * t.bits / 8, 0});
            c.buffer.push_back({t.name, n * intoArray * t.bits / 8, 0});
            macOperandBytes += t.bits / 8;
        } else {
            // Every return of an output tile but the first reads its partial sums back; only the final write of
            // each value leaves the buffer for DRAM at the output's own bits.
            const double psum = p.psumBits / 8;
            const double partial = (intoBuffer - distinct) * psum;
            c.dram.push_back({t.name, n * partial, n * (distinct * t.bits / 8 + partial)});
            c.buffer.push_back({t.name, n * (intoArray - distinct) * psum, n * intoArray * psum});
            macOperandBytes += 2 * psum; // read and write the accumulator
        }
    }
    for (const auto& t : c.dram) c.dramBytes += t.reads + t.writes;
    for (const auto& t : c.buffer) c.bufferBytes += t.reads + t.writes;

    c.macs = n * p.macs();
    c.registerBytes = c.bufferBytes + c.macs * macOperandBytes;
    c.computeCycles = c.macs / static_cast<double>(c.activePes);
    c.dramCycles = c.dramBytes / h.dramBytesPerCycle;
    c.bufferCycles = c.bufferBytes / h.bufferBytesPerCycle;
    c.cycles = std::max({c.computeCycles, c.dramCycles, c.bufferCycles});
    c.macEnergy = c.macs * h.eMac;
    c.dramEnergy = c.dramBytes * h.eDramByte;
    c.bufferEnergy = (c.dramBytes + c.bufferBytes) * h.eBufferByte; // filled from DRAM, read by the array
    c.registerEnergy = c.registerBytes * h.eRegisterByte;
    c.energy = c.macEnergy + c.dramEnergy + c.bufferEnergy + c.registerEnergy;
    return c;
}

std::string nestText(const LoopProblem& p, const Mapping& m) {
    std::string out;
    int indent = 0;
    auto line = [&](const std::string& loop, const std::string& level) {
        out += std::string(static_cast<std::size_t>(2 * indent++), ' ') + loop + "  (" + level + ")\n";
    };
    auto loops = [&](const std::vector<int>& order, int level, const char* name) {
        for (int d : order) {
            const std::int64_t f = m.factors[static_cast<std::size_t>(d)][static_cast<std::size_t>(level)];
            if (f > 1) line("for " + p.dims[static_cast<std::size_t>(d)].name + " in " + bounds(f), name);
        }
    };
    loops(m.dramOrder, kDramLevel, "DRAM");
    loops(m.bufferOrder, kBufferLevel, "buffer");
    for (const auto& [d, axisName] : {std::pair{m.spatialX, "array x"}, std::pair{m.spatialY, "array y"}})
        if (d >= 0 && m.factors[static_cast<std::size_t>(d)][kSpatialLevel] > 1)
            line("par-for " + p.dims[static_cast<std::size_t>(d)].name + " in " +
                     bounds(m.factors[static_cast<std::size_t>(d)][kSpatialLevel]),
                 axisName);
    for (std::size_t d = 0; d < p.dims.size(); ++d)
        if (m.factors[d][kRegisterLevel] > 1 || p.dims[d].size == 1)
            line("for " + p.dims[d].name + " in " + bounds(m.factors[d][kRegisterLevel]), "registers");
    std::string mac;
    for (const auto& t : p.tensors)
        if (!t.output) mac += (mac.empty() ? "" : " * ") + t.name;
    for (const auto& t : p.tensors)
        if (t.output) mac = t.name + " += " + mac;
    out += std::string(static_cast<std::size_t>(2 * indent), ' ') + mac + "\n";
    return out;
}

std::string mappingSummary(const LoopProblem& p, const Mapping& m) {
    auto level = [&](const std::vector<int>& order, int lvl) {
        std::string s;
        for (int d : order) {
            const std::int64_t f = m.factors[static_cast<std::size_t>(d)][static_cast<std::size_t>(lvl)];
            if (f > 1) s += (s.empty() ? "" : " ") + p.dims[static_cast<std::size_t>(d)].name + std::to_string(f);
        }
        return s;
    };
    std::vector<int> all(p.dims.size());
    for (std::size_t d = 0; d < all.size(); ++d) all[d] = static_cast<int>(d);
    std::string array;
    for (int d : {m.spatialX, m.spatialY})
        if (d >= 0 && m.factors[static_cast<std::size_t>(d)][kSpatialLevel] > 1)
            array += (array.empty() ? "" : " x ") + p.dims[static_cast<std::size_t>(d)].name +
                     std::to_string(m.factors[static_cast<std::size_t>(d)][kSpatialLevel]);
    return "DRAM[" + level(m.dramOrder, kDramLevel) + "] buffer[" + level(m.bufferOrder, kBufferLevel) + "] array[" +
           array + "] regs[" + level(all, kRegisterLevel) + "]";
}

nlohmann::json mappingJson(const LoopProblem& p, const Mapping& m) {
    nlohmann::json factors = nlohmann::json::object();
    for (std::size_t d = 0; d < p.dims.size(); ++d) factors[p.dims[d].name] = m.factors[d];
    auto names = [&](const std::vector<int>& order, int level) {
        nlohmann::json a = nlohmann::json::array();
        for (int d : order)
            if (m.factors[static_cast<std::size_t>(d)][static_cast<std::size_t>(level)] > 1)
                a.push_back(p.dims[static_cast<std::size_t>(d)].name);
        return a;
    };
    auto dimName = [&](int d) {
        return d >= 0 ? nlohmann::json(p.dims[static_cast<std::size_t>(d)].name) : nlohmann::json(nullptr);
    };
    return {{"factors", factors},
            {"levels", {"dram", "buffer", "spatial", "registers"}},
            {"array_x", dimName(m.spatialX)},
            {"array_y", dimName(m.spatialY)},
            {"dram_order", names(m.dramOrder, kDramLevel)},
            {"buffer_order", names(m.bufferOrder, kBufferLevel)}};
}

} // namespace qs::core
