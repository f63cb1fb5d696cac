// SPDX-License-Identifier: MIT
// The value primitives every value-dependent design reads (../shared/specs/cost-models.md §2):
// bit positions, group precisions in DNNsim's two conventions, effectual terms, the two-stage shifter.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

namespace qs::core {

/// Position (0-based) of the most significant 1 of v >= 0; DNNsim's convention for 0: 0.
int msbPosition(std::uint32_t v);
/// Position of the least significant 1 of v >= 0; DNNsim's convention for 0: 16.
int lsbPosition(std::uint32_t v);

/// Precision of a group of codes, sign-magnitude form (DNNsim 2019: Dynamic Stripes, Loom, TCLp):
/// hi = msb(|v|) + (v < 0), lo = lsb(|v|); HI - LO + 1 with `trimLsb`, else HI + 1; an all-zero group 1.
int groupPrecisionSignMagnitude(std::span<const std::int32_t> group, bool trimLsb);
/// Precision of a group, two's-complement form (DNNsim 2020: ShapeShifter, Loom): negative codes are
/// bit-inverted, hi = msb(v') + signed; HI + 1 (HI - LO + 1 with `trimLsb`); all-zero group 1 + signed.
/// `tensorSigned`: the tensor can hold negative codes. Examples (signed): 0->2, -1->2, -3->3, 127->8, -128->8.
int groupPrecisionTwosComplement(std::span<const std::int32_t> group, bool tensorSigned, bool trimLsb);

/// How a value is reduced to signed powers of two.
enum class TermEncoding { Binary, DnnsimBooth, Naf };
/// "binary", "dnnsim_booth", "naf" (for parameter choices and output).
std::string_view termEncodingName(TermEncoding e);
/// Parses a name of termEncodingName; throws Error listing the names.
TermEncoding termEncodingFromName(std::string_view name);
/// Effectual terms of |v|: popcount (Binary), DNNsim's booth-like recoding, or the non-adjacent form's weight.
int effectualTerms(std::int32_t v, TermEncoding encoding);
/// Bit positions of those terms (bit k set = a +-2^k term), for designs that shift by them (Pragmatic, TCLe).
std::uint64_t termPositions(std::int32_t v, TermEncoding encoding);

/// Cycles of a Pragmatic PE's two-stage shifter over its lanes' values (binary one-offsets of |v|):
/// per cycle base = the smallest next offset, every lane whose next offset <= base + 2^firstStageBits - 1
/// consumes it; at least 1.
int twoStageCycles(std::span<const std::int32_t> lanes, int firstStageBits);
/// The same shifter over the lanes' term positions (termPositions masks), e.g. booth-recoded activations.
int twoStageCyclesOfTerms(std::span<const std::uint64_t> termMasks, int firstStageBits);

/// PEs priced at once by twoStageCyclesBatch.
inline constexpr int kShifterBatch = 16;
/// twoStageCyclesOfTerms of kShifterBatch PEs with the same lane count side by side (e.g. a step's columns):
/// termMasks[lane * kShifterBatch + pe]; cycles[pe] gets each PE's cycles (a PE with all-zero masks: 1). The same
/// figures, several times faster: the PEs advance together on 16-bit lanes when every term lies below bit 16.
void twoStageCyclesBatch(std::span<const std::uint64_t> termMasks, int firstStageBits,
                         std::span<int, kShifterBatch> cycles);

} // namespace qs::core
