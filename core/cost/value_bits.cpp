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

// Term counts for 16-bit magnitudes, built once (the cost models ask for them per value).
const std::vector<std::uint8_t>& termTable(TermEncoding e) {
    static const auto build = [](auto maskOf) {
        std::vector<std::uint8_t> t(kTableSize);
        for (std::uint32_t m = 0; m < kTableSize; ++m)
            t[m] = static_cast<std::uint8_t>(std::popcount(maskOf(m)));
        return t;
    };
    static const std::vector<std::uint8_t> booth = build(dnnsimBoothMask);
    static const std::vector<std::uint8_t> naf = build(nafMask);
    return e == TermEncoding::Naf ? naf : booth;
}

} // namespace

int msbPosition(std::uint32_t v) {
    return msb64(v);
}
int lsbPosition(std::uint32_t v) {
    return lsb64(v);
}

int groupPrecisionSignMagnitude(std::span<const std::int32_t> group, bool trimLsb) {
    int hi = 0, lo = kDnnsimZeroLsb;
    for (const std::int32_t v : group) {
        const std::uint64_t m = magnitude(v);
        hi = std::max(hi, msb64(m) + (v < 0 ? 1 : 0)); // the sign bit sits above the magnitude
        lo = std::min(lo, lsb64(m));
    }
    if (!trimLsb) return hi + 1;
    return lo > hi ? 1 : hi - lo + 1; // all-zero group: one cycle
}

int groupPrecisionTwosComplement(std::span<const std::int32_t> group, bool tensorSigned, bool trimLsb) {
    const int sign = tensorSigned ? 1 : 0;
    int hi = sign, lo = kDnnsimZeroLsb;
    bool anyBits = false;
    for (const std::int32_t v : group) {
        // Inverting a negative code trims its leading 1s exactly as leading 0s of a positive one.
        const auto inverted = static_cast<std::uint32_t>(v < 0 ? ~v : v);
        hi = std::max(hi, msb64(inverted) + sign);
        lo = std::min(lo, lsb64(inverted));
        anyBits = anyBits || inverted != 0;
    }
    if (!anyBits) return 1 + sign;
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
        return dnnsimBoothMask(m);
    case TermEncoding::Naf:
        return nafMask(m);
    }
    return m;
}

int effectualTerms(std::int32_t v, TermEncoding encoding) {
    const std::uint64_t m = magnitude(v);
    if (encoding == TermEncoding::Binary) return std::popcount(m);
    if (m < kTableSize) return termTable(encoding)[m];
    return std::popcount(termPositions(v, encoding));
}

int twoStageCyclesOfTerms(std::span<const std::uint64_t> termMasks, int firstStageBits) {
    std::vector<std::uint64_t> pending(termMasks.begin(), termMasks.end());
    // Offsets reachable past the shared base shift; a first stage of >= 6 bits reaches every position.
    const int reach = firstStageBits >= 6 ? 64 : (1 << std::max(0, firstStageBits));
    int cycles = 0;
    for (;;) {
        int base = 64;
        for (const std::uint64_t m : pending)
            if (m != 0) base = std::min(base, std::countr_zero(m));
        if (base == 64) break;
        ++cycles;
        for (std::uint64_t& m : pending) {
            if (m != 0 && std::countr_zero(m) - base < reach) m &= m - 1; // consume the next offset
        }
    }
    return std::max(1, cycles);
}

int twoStageCycles(std::span<const std::int32_t> lanes, int firstStageBits) {
    std::vector<std::uint64_t> masks;
    masks.reserve(lanes.size());
    for (const std::int32_t v : lanes)
        masks.push_back(termPositions(v, TermEncoding::Binary));
    return twoStageCyclesOfTerms(masks, firstStageBits);
}

} // namespace qs::core
