// SPDX-License-Identifier: MIT
#pragma once
#include "formats/format_traits.h"

#include <span>

namespace qs::core {

/// The 16 NF4 code values of QLoRA (Dettmers et al. 2023): quantiles of N(0,1) normalised to [-1, 1]
/// with an exact zero.
std::span<const float> nf4Codebook();

/// Absmax-scaled code book formats: scale = amax, x' = nearest code(x / scale) * scale. The apply
/// kernels run over many runs (ApplyRunsFn); the table's apply is applyOneRun of them.
ScaleParams absmaxFit(const FormatTraits& f, const RangeStats& run, const RangeStats& tensor, const ElementOptions& o);
/// absmaxFit of many runs from their amaxes (FitAmaxRunsFn).
void absmaxFitRuns(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                   const ElementOptions& o, ScaleParams* out);
void nf4ApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                  const ScaleParams* params, const ElementOptions& o);

/// log2: sign + (k-1)-bit exponent code; magnitudes scale * 2^-j, j = 0..2^(k-1)-2, and zero.
/// The exponent is rounded in the log domain, as power-of-two quantizers do: exactly (t rounds up a
/// level when its mantissa exceeds sqrt(2)), decided on the float's bits, not by libm's log2.
void log2ApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                   const ScaleParams* params, const ElementOptions& o);

/// SULQ (shift-uniform-log2, I&S-ViT): t = |x| / scale, q = clamp(rhe(-log2(t + eta) / s), 0, 2^(k-1)-1),
/// t' = 2^(-q s) - eta, with shift eta = 2^-8 and step s chosen so the last code is exactly zero; the
/// rounding is exact (t + eta compared with each half-way point 2^(-(q + 1/2) s); ties to the even q).
void sulqApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                   const ScaleParams* params, const ElementOptions& o);
/// The SULQ magnitude levels for k bits (descending from ~1 to 0).
std::vector<float> sulqLevels(int bits);

} // namespace qs::core
