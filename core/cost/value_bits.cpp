// SPDX-License-Identifier: MIT
#include "cost/value_bits.h"

#include "base/error.h"

#include <algorithm>
#include <bit>
#include <string>
#include <vector>

namespace qs::core {

namespace {

// DNNsim's tables cover 16-bit magnitudes; wider codes take the same rule on their own width.
constexpr int kDnnsimZeroLsb = 16;
constexpr std::uint32_t kTableSize = 1u << 16;

std::uint64_t magnitude(std::int32_t v) {
    const std::int64_t w = v;
    return static_cast<std::uint64_t>(w < 0 ? -w : w);
}

int msb64(std::uint64_t v) {
    return v == 0 ? 0 : 63 - std::countl_zero(v);
}
int lsb64(std::uint64_t v) {
    return v == 0 ? kDnnsimZeroLsb : std::countr_zero(v);
}

// DNNsim's booth-like recoding (spec §2): a window of (bit k, k-1, k-2) slides MSB -> LSB over m padded
// with two zeros below; "111" outside a run emits +2^(k+1) and opens a run; inside a run a 0 with a 1 among
// the next two bits emits a term, "100" emits the run's closing term; outside a run every 1 is a term.
std::uint64_t dnnsimBoothMask(std::uint64_t m) {
    if (m == 0) return 0;
    const auto bit = [m](int k) -> unsigned { return k < 0 ? 0u : static_cast<unsigned>((m >> k) & 1u); };
    std::uint64_t mask = 0;
    bool inRun = false;
    for (int k = msb64(m) + 1; k >= 0; --k) {
        const unsigned window = (bit(k) << 2) | (bit(k - 1) << 1) | bit(k - 2);
        switch (window) {
        case 0b010:
        case 0b011:
            if (inRun) mask |= 1ull << k;
            break;
        case 0b100:
            mask |= 1ull << k;
            inRun = false;
            break;
        case 0b101:
        case 0b110:
            if (!inRun) mask |= 1ull << k;
            break;
        case 0b111:
            if (!inRun) {
                mask |= 1ull << (k + 1);
                inRun = true;
            }
            break;
        default: // 000, 001: nothing (never inside a run)
            break;
        }
    }
    return mask;
}

// Non-adjacent form: positions of its non-zero digits.
std::uint64_t nafMask(std::uint64_t m) {
    std::uint64_t mask = 0;
    for (int k = 0; m != 0; ++k, m >>= 1) {
        if (m & 1u) {
            mask |= 1ull << k;
            if (m & 2u)
                m += 1; // digit -1: ...11 -> carry up
            else
                m -= 1; // digit +1
        }
    }
    return mask;
}

// Term positions of every 16-bit magnitude, built once per encoding on first use (the cost models ask per value).
using MaskTable = std::vector<std::uint64_t>;
MaskTable buildMaskTable(std::uint64_t (*maskOf)(std::uint64_t)) {
    MaskTable t(kTableSize);
    for (std::uint32_t m = 0; m < kTableSize; ++m)
        t[m] = maskOf(m);
    return t;
}
const MaskTable& boothTable() {
    static const MaskTable t = buildMaskTable(dnnsimBoothMask);
    return t;
}
const MaskTable& nafTable() {
    static const MaskTable t = buildMaskTable(nafMask);
    return t;
}

// The two-stage shifter over pending term masks, consuming them (see twoStageCyclesOfTerms). Per cycle the base is
// the lowest pending term of any lane (the lowest bit of their OR); a lane goes when its lowest term lies below
// base + reach, i.e. (lowest bit & bits below base + reach) != 0. Once every pending term lies within one reach of
// the base, each cycle every lane with terms left consumes one: the most pending terms finish it.
int twoStageCyclesPending(std::span<std::uint64_t> pending, int reach) {
    std::uint64_t any = 0;
    for (const std::uint64_t m : pending)
        any |= m;
    int cycles = 0;
    while (any != 0 && msb64(any) - std::countr_zero(any) >= reach) {
        const int top = std::countr_zero(any) + reach; // < 64 here
        const std::uint64_t below = (std::uint64_t{1} << top) - 1;
        std::uint64_t next = 0;
        for (std::uint64_t& m : pending) {
            m &= ~(m & (0 - m) & below);
            next |= m;
        }
        any = next;
        ++cycles;
    }
    int most = 0;
    for (const std::uint64_t m : pending)
        most = std::max(most, std::popcount(m));
    return cycles + most;
}

// Offsets reachable past the shared base shift; a first stage of >= 6 bits reaches every position.
int firstStageReach(int firstStageBits) {
    return firstStageBits >= 6 ? 64 : (1 << std::max(0, firstStageBits));
}

// Copies lane masks to a scratch buffer (on the stack for up to 64 lanes) and runs the shifter over them.
template <class MaskOf> int twoStageCyclesCopy(std::size_t lanes, int firstStageBits, MaskOf&& maskOf) {
    const int reach = firstStageReach(firstStageBits);
    constexpr std::size_t kStackLanes = 64;
    std::uint64_t stack[kStackLanes];
    std::vector<std::uint64_t> heap;
    std::uint64_t* pending = stack;
    if (lanes > kStackLanes) {
        heap.resize(lanes);
        pending = heap.data();
    }
    for (std::size_t i = 0; i < lanes; ++i)
        pending[i] = maskOf(i);
    return std::max(1, twoStageCyclesPending(std::span<std::uint64_t>(pending, lanes), reach));
}

// twoStageCyclesBatch on 16-bit lanes, PE-minor (pending[lane * kShifterBatch + pe]), consumed. Branch-free per PE, so the compiler
// runs the PEs as vector elements: the bits below base + reach are (lowest bit of the PE's OR << reach) - 1, all
// ones once that passes bit 15 (or for an idle PE: its lanes are empty, nothing moves); a PE counts a cycle while
// it has terms. The loop ends when every PE is done.
void twoStageBatch16(std::uint16_t* pending, std::size_t lanes, int reach, std::span<int, kShifterBatch> cycles) {
    using Lane = std::uint16_t;
    const int shift = std::min(reach, 16);
    Lane any[kShifterBatch] = {}, count[kShifterBatch] = {};
    for (std::size_t l = 0; l < lanes; ++l)
        for (int pe = 0; pe < kShifterBatch; ++pe)
            any[pe] |= pending[l * kShifterBatch + pe];
    for (;;) {
        Lane busy = 0, below[kShifterBatch];
        for (int pe = 0; pe < kShifterBatch; ++pe) {
            const Lane low = any[pe] & static_cast<Lane>(0u - any[pe]);
            below[pe] = static_cast<Lane>((static_cast<std::uint32_t>(low) << shift) - 1u);
            count[pe] = static_cast<Lane>(count[pe] + (any[pe] != 0 ? 1 : 0));
            busy |= any[pe];
            any[pe] = 0;
        }
        if (busy == 0) break;
        for (std::size_t l = 0; l < lanes; ++l)
            for (int pe = 0; pe < kShifterBatch; ++pe) {
                const Lane m = pending[l * kShifterBatch + pe];
                const Lane next = m & static_cast<Lane>(~(m & static_cast<Lane>(0u - m) & below[pe]));
                pending[l * kShifterBatch + pe] = next;
                any[pe] |= next;
            }
    }
    for (int pe = 0; pe < kShifterBatch; ++pe)
        cycles[static_cast<std::size_t>(pe)] = std::max(1, static_cast<int>(count[pe]));
}

} // namespace

int msbPosition(std::uint32_t v) {
    return msb64(v);
}
int lsbPosition(std::uint32_t v) {
    return lsb64(v);
}

int groupPrecisionSignMagnitude(std::span<const std::int32_t> group, bool trimLsb) {
    // hi = max(msb(|v|) + (v < 0)), lo = min(lsb(|v|)): the msb / lsb of the ORed magnitudes, negatives apart.
    std::uint64_t positive = 0, negative = 0;
    for (const std::int32_t v : group)
        (v < 0 ? negative : positive) |= magnitude(v);
    const int hi = std::max(msb64(positive), negative != 0 ? msb64(negative) + 1 : 0); // sign bit above |v|
    const int lo = std::min(kDnnsimZeroLsb, lsb64(positive | negative));
    if (!trimLsb) return hi + 1;
    return lo > hi ? 1 : hi - lo + 1; // all-zero group: one cycle
}

int groupPrecisionTwosComplement(std::span<const std::int32_t> group, bool tensorSigned, bool trimLsb) {
    const int sign = tensorSigned ? 1 : 0;
    // Inverting a negative code trims its leading 1s exactly as leading 0s of a positive one; the group's
    // hi / lo are the msb / lsb of the ORed codes.
    std::uint32_t bits = 0;
    for (const std::int32_t v : group)
        bits |= static_cast<std::uint32_t>(v < 0 ? ~v : v);
    if (bits == 0) return 1 + sign;
    const int hi = msb64(bits) + sign;
    const int lo = std::min(kDnnsimZeroLsb, lsb64(bits));
    return trimLsb ? std::max(1, hi - lo + 1) : hi + 1;
}

std::string_view termEncodingName(TermEncoding e) {
    switch (e) {
    case TermEncoding::Binary:
        return "binary";
    case TermEncoding::DnnsimBooth:
        return "dnnsim_booth";
    case TermEncoding::Naf:
        return "naf";
    }
    return "binary";
}

TermEncoding termEncodingFromName(std::string_view name) {
    for (const auto e : {TermEncoding::Binary, TermEncoding::DnnsimBooth, TermEncoding::Naf})
        if (termEncodingName(e) == name) return e;
    throw Error("unknown term encoding '" + std::string(name) + "' (binary, dnnsim_booth, naf)");
}

std::uint64_t termPositions(std::int32_t v, TermEncoding encoding) {
    const std::uint64_t m = magnitude(v);
    switch (encoding) {
    case TermEncoding::Binary:
        return m;
    case TermEncoding::DnnsimBooth:
        return m < kTableSize ? boothTable()[m] : dnnsimBoothMask(m);
    case TermEncoding::Naf:
        return m < kTableSize ? nafTable()[m] : nafMask(m);
    }
    return m;
}

int effectualTerms(std::int32_t v, TermEncoding encoding) {
    return std::popcount(termPositions(v, encoding));
}

int twoStageCyclesOfTerms(std::span<const std::uint64_t> termMasks, int firstStageBits) {
    return twoStageCyclesCopy(termMasks.size(), firstStageBits, [&](std::size_t i) { return termMasks[i]; });
}

void twoStageCyclesBatch(std::span<const std::uint64_t> termMasks, int firstStageBits,
                         std::span<int, kShifterBatch> cycles) {
    const std::size_t lanes = termMasks.size() / kShifterBatch;
    std::uint64_t any = 0;
    for (const std::uint64_t m : termMasks)
        any |= m;
    if (any >> 16 != 0) { // a term at bit 16 or above: one PE at a time
        std::vector<std::uint64_t> pe(lanes);
        for (std::size_t p = 0; p < kShifterBatch; ++p) {
            for (std::size_t l = 0; l < lanes; ++l)
                pe[l] = termMasks[l * kShifterBatch + p];
            cycles[p] = twoStageCyclesOfTerms(pe, firstStageBits);
        }
        return;
    }
    constexpr std::size_t kStackLanes = 64;
    std::uint16_t stack[kStackLanes * kShifterBatch];
    std::vector<std::uint16_t> heap;
    std::uint16_t* pending = stack;
    if (lanes > kStackLanes) {
        heap.resize(lanes * kShifterBatch);
        pending = heap.data();
    }
    for (std::size_t i = 0; i < lanes * kShifterBatch; ++i)
        pending[i] = static_cast<std::uint16_t>(termMasks[i]);
    twoStageBatch16(pending, lanes, firstStageReach(firstStageBits), cycles);
}

int twoStageCycles(std::span<const std::int32_t> lanes, int firstStageBits) {
    return twoStageCyclesCopy(lanes.size(), firstStageBits,
                              [&](std::size_t i) { return termPositions(lanes[i], TermEncoding::Binary); });
}

} // namespace qs::core
