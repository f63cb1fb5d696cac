// SPDX-License-Identifier: MIT
// How a layer is walked on DNNsim's tile grid (../shared/specs/cost-models.md §0, §3.3, §15), shared by every
// grid design (bit-parallel, Stripes, DPRed, Loom, Pragmatic, Laconic, Bit-Tactical):
//
//   GridLayout   derived counts: images, windows NW, window sets WS, channel blocks CB, filter sets FS, C_BP.
//   forEachStep  the steps of one image in DNNsim's order (window set, kx, ky, channel block); a step brings
//                windowCount x laneCount activations (W x L) and, per tile, R x L weights.
//   gather*      the codes of a step: activations [window][lane], weights [filter][lane].
//   tileFilters  which (virtual) filters tile t holds in filter set s.
//   PrecisionRule / blockGroupPrecisions  §2's group precision (form, signedness, trimming) per group of a block.
//   ColumnSync   lock step or DNNsim's column-register run-ahead over per-group step cycles (§4.2).
//   TileSync     per-tile sums of steps, a window set costing its slowest tile (§5.2, §7.2).
//   FcIssueQueue DNNsim's FC column issue queue: blocks round-robin over W columns, each holding its column (§3.3).
//   sumPairs     sums f(a) * g(w) (sumActivationPairs: f(a)) over every multiply pair, for the "potentials" (§10).
//   GridEvents   the energy events of §11 and their price.
//
// Layer kinds: a conv iterates M images, each with NW = OX*OY windows in raster order W at a time. A fully-connected
// layer with M >= W rows is a 1x1 conv with NW = M windows (one "image"); with M < W it takes the FC issue-queue
// path (fcQueue): each of its M rows is an "image" of one window, each step one block of L activations.
// Grouped convs are walked as DNNsim does: channel blocks over all C input channels, FS over the F/groups filters a
// channel meets ("virtual filters"); pairedWeight maps (virtual filter, channel) to the real weight.
#pragma once
#include "cost/cost_layer.h"
#include "cost/grid_params.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <exception>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace qs::core {

/// Derived loop counts of one layer on the grid (spec §0).
struct GridLayout {
    TileGrid grid;
    bool fcQueue = false;       ///< FC with M < W: DNNsim's issue-queue path (one window per row)
    bool rowsAsWindows = false; ///< FC with M >= W, taken as a 1x1 conv with NW = M (spec §15)
    std::int64_t images = 1;    ///< conv: M; FC as conv: 1; FC queue: M rows
    std::int64_t windows = 1;   ///< windows per image (NW)
    std::int64_t outWidth = 1;  ///< OX: window w sits at (w / OX, w % OX)
    std::int64_t windowSets = 1;
    int kernelX = 1, kernelY = 1;
    std::int64_t channels = 0;       ///< C (all input channels)
    std::int64_t channelBlocks = 0;  ///< CB = ceil(C / L)
    std::int64_t virtualFilters = 0; ///< F / groups: the filters one input channel meets

    /// FS = ceil(F / groups / (T * floor(R / rowsPerFilter))): a filter may need several rows (Stripes' FS'
    /// with rowsPerFilter = ceil(Pw / pe_width)); rows of a tile hold floor(R / rowsPerFilter) filters.
    std::int64_t filterSets(int rowsPerFilter = 1) const;
    /// Filters one tile holds per set.
    int filtersPerTile(int rowsPerFilter = 1) const;
    /// Steps of one image: WS * KX * KY * CB (FC queue: CB blocks of its row).
    std::int64_t stepsPerImage() const { return windowSets * kernelX * kernelY * channelBlocks; }
    /// Steps of the layer over all images and filter sets (each step runs on all T tiles).
    std::int64_t totalSteps(int rowsPerFilter = 1) const {
        return images * stepsPerImage() * filterSets(rowsPerFilter);
    }
    /// DaDianNao's bit-parallel cycles (spec §1): M * NW * KX * KY * CB * FS (FC: M * CB * FS).
    double bitParallelCycles() const;
};

/// How the layout walks the layer, for outputs: "conv", "conv_1x1" (FC with M >= W) or "dnnsim_issue_queue".
std::string layoutPath(const GridLayout& layout);

/// The layout of `layer` on `grid`. Throws Error for a layer with no channels or filters.
GridLayout gridLayout(const CostLayer& layer, const TileGrid& grid);

/// Throws Error naming the layer when its activation / weight codes do not match its loop bounds.
void requireActivations(const CostLayer& layer);
void requireWeights(const CostLayer& layer);

/// One step (DNNsim "pallet"): W windows x L channels at one kernel position.
struct GridStep {
    std::int64_t image = 0;
    std::int64_t windowSet = 0;
    int kx = 0, ky = 0;
    std::int64_t channelBlock = 0;
    std::int64_t firstWindow = 0; ///< raster index of the set's first window
    int windowCount = 0;          ///< <= W (the last set of an image may be short)
    std::int64_t firstChannel = 0;
    int laneCount = 0;             ///< <= L (the last block may be short)
    bool firstOfWindowSet = false; ///< kx = ky = channel block = 0: a new window set starts
};

/// Calls visit(const GridStep&) for every step of one image in DNNsim's order: window set, kx, ky, channel block.
template <class Visit> void forEachStep(const GridLayout& layout, std::int64_t image, Visit&& visit) {
    const TileGrid& g = layout.grid;
    GridStep s;
    s.image = image;
    for (s.windowSet = 0; s.windowSet < layout.windowSets; ++s.windowSet) {
        s.firstWindow = s.windowSet * g.columns;
        s.windowCount = static_cast<int>(std::min<std::int64_t>(g.columns, layout.windows - s.firstWindow));
        for (s.kx = 0; s.kx < layout.kernelX; ++s.kx) {
            for (s.ky = 0; s.ky < layout.kernelY; ++s.ky) {
                for (s.channelBlock = 0; s.channelBlock < layout.channelBlocks; ++s.channelBlock) {
                    s.firstChannel = s.channelBlock * g.lanes;
                    s.laneCount = static_cast<int>(std::min<std::int64_t>(g.lanes, layout.channels - s.firstChannel));
                    s.firstOfWindowSet = s.kx == 0 && s.ky == 0 && s.channelBlock == 0;
                    visit(static_cast<const GridStep&>(s));
                }
            }
        }
    }
}

/// Prices the steps of one image in parallel and combines them in forEachStep's order, so the outcome is a serial
/// run's whatever the thread count. makePricer() gives each worker its pricer (with its own scratch), called as
/// pricer(step, out) to write `width` ints (zero-filled) per step; combine(step, priced) then runs serially in order.
template <class MakePricer, class Combine>
void priceSteps(const GridLayout& layout, std::int64_t image, int width, MakePricer&& makePricer, Combine&& combine);

/// Where window `window` of image `image` reads its activations, its position worked out once (the hot loops read
/// many channels and kernel positions per window): index(c, ky, kx) in layer.activations.codes, -1 in the padding.
/// Consecutive channels lie NY * NX apart.
class WindowReader {
public:
    WindowReader() = default;
    WindowReader(const CostLayer& layer, const GridLayout& layout, std::int64_t image, std::int64_t window)
        : layer_(&layer), image_(layout.rowsAsWindows ? window : image), conv_(!layout.fcQueue && !layout.rowsAsWindows) {
        if (!conv_) return; // FC: row image_ at (0, 0)
        y0_ = window / layout.outWidth * layer.stride - layer.pad;
        x0_ = window % layout.outWidth * layer.stride - layer.pad;
    }
    std::int64_t index(std::int64_t channel, int ky, int kx) const {
        std::int64_t y = 0, x = 0;
        if (conv_) {
            y = y0_ + ky, x = x0_ + kx;
            if (y < 0 || x < 0 || y >= layer_->NY || x >= layer_->NX) return -1;
        }
        return ((image_ * layer_->C + channel) * layer_->NY + y) * layer_->NX + x;
    }
    std::int32_t code(std::int64_t channel, int ky, int kx) const {
        const std::int64_t i = index(channel, ky, kx);
        return i < 0 ? 0 : layer_->activations.codes[static_cast<std::size_t>(i)];
    }

private:
    const CostLayer* layer_ = nullptr;
    std::int64_t image_ = 0, y0_ = 0, x0_ = 0;
    bool conv_ = false;
};
/// WindowReader(layer, layout, image, window).index(channel, ky, kx).
inline std::int64_t windowActivationIndex(const CostLayer& layer, const GridLayout& layout, std::int64_t image,
                                          std::int64_t window, std::int64_t channel, int ky, int kx) {
    return WindowReader(layer, layout, image, window).index(channel, ky, kx);
}
/// Activation code of window `window` of image `image`, channel c, kernel position (ky, kx); 0 in the padding.
inline std::int32_t windowCode(const CostLayer& layer, const GridLayout& layout, std::int64_t image,
                               std::int64_t window, std::int64_t channel, int ky, int kx) {
    return WindowReader(layer, layout, image, window).code(channel, ky, kx);
}
/// Weight code pairing virtual filter v (< F/groups) with input channel c: the filter of c's group.
inline std::int32_t pairedWeight(const CostLayer& layer, const GridLayout& layout, std::int64_t v,
                                 std::int64_t channel, int ky, int kx) {
    if (layer.groups <= 1 && channel < layer.C) return layer.weight(v, channel, ky, kx); // one group: no division
    const std::int64_t channelsPerGroup = layer.C / std::max(1, layer.groups);
    const std::int64_t filter = (channel / channelsPerGroup) * layout.virtualFilters + v;
    return layer.weight(filter, channel % channelsPerGroup, ky, kx);
}

/// The step's activations, window-major: out[w * laneCount + lane] (resized to windowCount * laneCount).
void gatherStepActivations(const CostLayer& layer, const GridLayout& layout, const GridStep& step,
                           std::vector<std::int32_t>& out);
/// Weights of virtual filters [firstFilter, firstFilter + count) at the step's kernel position and channel
/// block, filter-major: out[f * laneCount + lane].
void gatherStepWeights(const CostLayer& layer, const GridLayout& layout, const GridStep& step, std::int64_t firstFilter,
                       int count, std::vector<std::int32_t>& out);

/// Virtual filters [begin, end) tile `tile` holds in filter set `set` (empty when the set runs out).
struct FilterRange {
    std::int64_t begin = 0, end = 0;
    int count() const { return static_cast<int>(end - begin); }
};
FilterRange tileFilters(const GridLayout& layout, std::int64_t set, int tile, int rowsPerFilter = 1);

/// Which §2 group-precision form a design reads (parameters "precision_form", "trim_lsb").
struct PrecisionRule {
    bool twosComplement = true; ///< [DS20] two's complement; false: [DS19] sign-magnitude
    bool tensorSigned = false;  ///< the tensor can hold negative codes (two's complement form's sign bit)
    bool trimLsb = false;       ///< trim trailing zeros too (HI - LO + 1)
    int of(std::span<const std::int32_t> group) const;
    /// One value's width (a group of one): the per-value bits of the potentials (§10).
    double ofValue(std::int32_t v) const { return of(std::span<const std::int32_t>(&v, 1)); }
};
/// "precision_form": twos_complement (DNNsim 2020, ShapeShifter) | sign_magnitude (DNNsim 2019, Dynamic Stripes).
ParamSpec precisionFormParam();
/// "trim_lsb": trim trailing zero bits of a group as well as leading ones.
ParamSpec trimLsbParam();
/// "precision_group": activations per dynamic-precision group (L lanes x group/L windows); `help` says what else.
ParamSpec groupSizeParam(const std::string& help);
/// "precision_source": a layer's static precision is its quantizer's bits, or the fewest covering its observed codes.
ParamSpec precisionSourceParam();
/// "column_registers": steps a column (group) may run ahead of the slowest (CR; 0 = lock step).
ParamSpec columnRegistersParam();
/// The rule a validated parameter object names, for a tensor that is signed or not.
PrecisionRule precisionRuleFromParams(const nlohmann::json& params, bool tensorSigned);
/// Precision of each group of `rowsPerGroup` consecutive rows of a gathered [row][lane] block (rows = windows of
/// a step's activations, or filters of its weights); out has ceil(rows / rowsPerGroup) entries.
void blockGroupPrecisions(std::span<const std::int32_t> codes, int rows, int lanes, int rowsPerGroup,
                          const PrecisionRule& rule, std::vector<int>& out);
/// Minimal two's-complement width covering every code of the operand (sign bit included when signed), >= 1.
int observedPrecision(const OperandCodes& operand);

/// Groups of columns sharing a precision/term count: step cycles per group are combined either in lock step
/// (columnRegisters = 0: every group waits for the slowest) or with DNNsim's run-ahead rule (spec §4.2): finish
/// times c_g += p_g; a FIFO of the last CR step maxima; a group with c_g <= the oldest entry waits until oldest + 1.
class ColumnSync {
public:
    ColumnSync(int groups, int columnRegisters);
    /// One step: groupCycles[g] for each group (0 for a group with no windows this step).
    void step(std::span<const int> groupCycles);
    /// Cycles so far (the slowest group).
    std::int64_t cycles() const;
    /// Cycles groups spent waiting: lock step sum of (slowest - fastest); run-ahead: pushes to oldest + 1.
    std::int64_t stallCycles() const { return stall_; }
    int groups() const { return static_cast<int>(finish_.size()); }

private:
    std::vector<std::int64_t> finish_;
    std::deque<std::int64_t> previous_; // CR most recent step maxima, oldest first
    int registers_;
    std::int64_t stall_ = 0;
};

/// Per-tile sums of step cycles; a window set costs its slowest tile (Loom, Laconic: tiles drift within a
/// window set, then wait for each other). Tiles never added to in a window set (no filters) are idle, not stalled.
class TileSync {
public:
    explicit TileSync(int tiles)
        : sums_(static_cast<std::size_t>(std::max(1, tiles)), 0), active_(sums_.size(), false) {}
    void add(int tile, std::int64_t cycles) {
        sums_[static_cast<std::size_t>(tile)] += cycles;
        active_[static_cast<std::size_t>(tile)] = true;
    }
    /// Ends a window set: adds the slowest tile to the total, each active tile's gap to it to the stall count.
    void closeWindowSet();
    std::int64_t cycles() const { return total_; }
    std::int64_t stallCycles() const { return stall_; }

private:
    std::vector<std::int64_t> sums_;
    std::vector<bool> active_;
    std::int64_t total_ = 0, stall_ = 0;
};

/// DNNsim's FC issue queue (spec §3.3): blocks issue one per cycle round-robin over W columns; block k issues at
/// t_k = max(t_{k-1} + 1, end of its column) and holds its column `hold` cycles. The filter sets repeat the
/// issue pattern: cycles = (last issue + 1) * FS + the drain after the last issue.
class FcIssueQueue {
public:
    explicit FcIssueQueue(int columns) : columnEnd_(static_cast<std::size_t>(std::max(1, columns)), 0) {}
    void issue(std::int64_t hold);
    double cycles(std::int64_t filterSets) const;
    /// Cycles blocks waited for a busy column (one filter set).
    std::int64_t stallCycles() const { return stall_; }

private:
    std::vector<std::int64_t> columnEnd_;
    std::size_t column_ = 0;
    std::int64_t time_ = 0, stall_ = 0;
};

/// Runs body(begin, end) over [0, count) in chunks of `chunk` indices on the OpenMP threads. Each body writes only
/// its own indices' results and the caller combines them in index order, so the outcome is a serial run's whatever
/// the thread count. An exception thrown by a body is rethrown once all have finished.
template <class Body> void parallelChunks(std::int64_t count, std::int64_t chunk, Body&& body);

/// f(code) of an operand's codes (and of 0, the padding), tabulated over their range when that range is no larger
/// than the operand; else f itself per call. For the per-pair sums, whose f are pure functions of the code.
template <class F> class CodeMemo {
public:
    using Value = std::invoke_result_t<F&, std::int32_t>;
    CodeMemo(const std::vector<std::int32_t>& codes, F& f);
    Value operator()(std::int32_t v) const {
        return table_.empty() ? f_(v) : table_[static_cast<std::size_t>(static_cast<std::int64_t>(v) - lo_)];
    }

private:
    F& f_;
    std::int64_t lo_ = 0;
    std::vector<Value> table_;
};

/// Sum over every multiply pair (activation a, weight w) of the layer of fa(a) * gw(w), padding zeros included;
/// pairs = layer.macs(). Linear in the activations plus the weights (per channel and kernel position the weight
/// side is summed once), so "potentials" (§10) of product-form bits stay cheap. Needs both codes.
template <class FA, class GW> double sumPairs(const CostLayer& layer, FA&& fa, GW&& gw);

/// Sum over every multiply pair of fa(a) alone (each activation code times the F/groups filters it meets);
/// reads no weights.
template <class FA> double sumActivationPairs(const CostLayer& layer, FA&& fa);

/// Energy events of one layer (spec §11), priced by EnergyParams. Counted per design:
///   laneCycles    bit-serial lane cycles of the whole grid, busy and idle (lock step clocks them all), in units of
///                 a Stripes lane (1 activation bit x B weight bits); narrower lanes (Loom) scale it down
///   macs          bit-parallel B x B MAC slots, busy and idle
///   bufferBits    on-chip buffer bits read: per step and tile one activation row and one weight row (DNNsim)
///   accumulations partial-sum updates: per step and tile one per (window, filter) in flight
///   dramBytes     off-chip bytes: weights and input activations once
struct GridEvents {
    double laneCycles = 0, macs = 0, bufferBits = 0, accumulations = 0, dramBytes = 0;
    double energy(const EnergyParams& e) const;
    /// {"lane_cycles", "macs", "buffer_bits", "accumulations", "dram_bytes"}.
    nlohmann::json toJson() const;
};

/// Off-chip bytes of the layer's weights and input activations stored at `bits` per value.
double layerOffChipBytes(const CostLayer& layer, double bits);
/// DaDianNao running `cycles`: per cycle and tile R x L MACs, one activation row (L x B bits), one weight row
/// (R x L x B bits), R accumulator updates; DRAM at B bits per value.
GridEvents bitParallelEvents(const CostLayer& layer, const GridLayout& layout, double cycles);
/// A W-column bit-serial grid running `cycles` over the layout's steps: lane cycles = cycles * W * R * L * T *
/// laneScale; per step and tile one activation row (windows x L x B bits) and one weight row (R x L x B bits),
/// W x R accumulator updates (FC queue: one window per step); DRAM at B bits per value.
GridEvents bitSerialEvents(const CostLayer& layer, const GridLayout& layout, double cycles, int rowsPerFilter = 1,
                           double laneScale = 1.0);

// ---- template definitions ----

template <class Body> void parallelChunks(std::int64_t count, std::int64_t chunk, Body&& body) {
    chunk = std::max<std::int64_t>(1, chunk);
    const std::int64_t chunks = (count + chunk - 1) / chunk;
    std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1) if (chunks > 1)
    for (std::int64_t k = 0; k < chunks; ++k) {
        try {
            body(k * chunk, std::min(count, (k + 1) * chunk));
        } catch (...) {
#pragma omp critical(qs_cost_parallel_chunks)
            if (!failure) failure = std::current_exception();
        }
    }
    if (failure) std::rethrow_exception(failure);
}

template <class MakePricer, class Combine>
void priceSteps(const GridLayout& layout, std::int64_t image, int width, MakePricer&& makePricer, Combine&& combine) {
    constexpr std::size_t kBlock = 4096; // steps priced per parallel pass: bounded memory on large layers
    const auto w = static_cast<std::size_t>(std::max(0, width));
    std::vector<GridStep> steps;
    std::vector<int> priced;
    const auto flush = [&] {
        priced.assign(steps.size() * w, 0);
        parallelChunks(static_cast<std::int64_t>(steps.size()), 64, [&](std::int64_t begin, std::int64_t end) {
            auto pricer = makePricer();
            for (std::int64_t i = begin; i < end; ++i)
                pricer(steps[static_cast<std::size_t>(i)], priced.data() + static_cast<std::size_t>(i) * w);
        });
        for (std::size_t i = 0; i < steps.size(); ++i)
            combine(steps[i], static_cast<const int*>(priced.data() + i * w));
        steps.clear();
    };
    forEachStep(layout, image, [&](const GridStep& step) {
        steps.push_back(step);
        if (steps.size() == kBlock) flush();
    });
    if (!steps.empty()) flush();
}

template <class F> CodeMemo<F>::CodeMemo(const std::vector<std::int32_t>& codes, F& f) : f_(f) {
    if (codes.empty()) return;
    const auto [lo, hi] = std::minmax_element(codes.begin(), codes.end());
    lo_ = std::min<std::int64_t>(0, *lo);
    const std::int64_t span = std::max<std::int64_t>(0, *hi) - lo_ + 1;
    if (span > static_cast<std::int64_t>(codes.size())) return;
    table_.resize(static_cast<std::size_t>(span));
    for (std::int64_t i = 0; i < span; ++i)
        table_[static_cast<std::size_t>(i)] = f_(static_cast<std::int32_t>(lo_ + i));
}

template <class FA> double sumActivationPairs(const CostLayer& layer, FA&& fa) {
    const GridLayout layout = gridLayout(layer, TileGrid{});
    const CodeMemo memo(layer.activations.codes, fa);
    double total = 0;
    for (std::int64_t image = 0; image < layout.images; ++image)
        for (std::int64_t w = 0; w < layout.windows; ++w)
            for (std::int64_t c = 0; c < layout.channels; ++c)
                for (int ky = 0; ky < layout.kernelY; ++ky)
                    for (int kx = 0; kx < layout.kernelX; ++kx)
                        total += memo(windowCode(layer, layout, image, w, c, ky, kx));
    return total * static_cast<double>(layout.virtualFilters);
}

template <class FA, class GW> double sumPairs(const CostLayer& layer, FA&& fa, GW&& gw) {
    const GridLayout layout = gridLayout(layer, TileGrid{});
    const std::int64_t C = layout.channels;
    const int kernels = layout.kernelY * layout.kernelX;
    const CodeMemo faMemo(layer.activations.codes, fa);
    const CodeMemo gwMemo(layer.weights.codes, gw);
    // Weight side: per (channel, ky, kx) the sum over the virtual filters it meets, each entry summed in filter
    // order; filters outermost walk the weights in memory order. Channel ranges run in parallel.
    std::vector<double> weightSide(static_cast<std::size_t>(C * kernels), 0.0);
    parallelChunks(C, std::max<std::int64_t>(1, (C + 63) / 64), [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t v = 0; v < layout.virtualFilters; ++v)
            for (std::int64_t c = begin; c < end; ++c)
                for (int ky = 0; ky < layout.kernelY; ++ky)
                    for (int kx = 0; kx < layout.kernelX; ++kx)
                        weightSide[static_cast<std::size_t>((c * layout.kernelY + ky) * layout.kernelX + kx)] +=
                            gwMemo(pairedWeight(layer, layout, v, c, ky, kx));
    });
    double total = 0;
    for (std::int64_t image = 0; image < layout.images; ++image)
        for (std::int64_t w = 0; w < layout.windows; ++w)
            for (std::int64_t c = 0; c < C; ++c)
                for (int ky = 0; ky < layout.kernelY; ++ky)
                    for (int kx = 0; kx < layout.kernelX; ++kx)
                        total += faMemo(windowCode(layer, layout, image, w, c, ky, kx)) *
                                 weightSide[static_cast<std::size_t>((c * layout.kernelY + ky) * layout.kernelX + kx)];
    return total;
}

} // namespace qs::core
