// SPDX-License-Identifier: MIT
// One layer as the accelerator cost models see it: its loop bounds and the integer codes its
// multipliers would be fed (weights as quantized, activations as captured on calibration data).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qs::core {

/// Convolutions slide windows over an input map; fully-connected layers (Linear, Gemm, MatMul)
/// multiply M input rows (tokens, batch items) by the weight.
enum class LayerShape { Conv, FullyConnected };

/// Integer codes of one operand and how a multiplier reads them.
struct OperandCodes {
    std::vector<std::int32_t> codes; ///< see CostLayer for the layout
    int bits = 16;                   ///< the operand's width B (sign bit included when signed)
    bool isSigned = true;            ///< codes may be negative (two's complement / sign-magnitude)
    std::string format = "int16";    ///< the format it came from ("int4", "fp8_e4m3", "native" ...)
    /// Codes are the value's fixed-point equivalent: integers for INT formats, value / smallest grid
    /// step for float grids. False for code books (NF4): nearest fixed-point integer, approximate.
    bool exact = true;
};

/// A conv layer: input [M images][C][NY][NX] (unpadded; zero outside), weights [F][C/groups][KY][KX],
/// output [M][F][OY][OX] with OX = (NX + 2*pad - KX) / stride + 1.
/// A fully-connected layer: input [M][C], weights [F][C]; KX = KY = NX = NY = OX = OY = 1.
struct CostLayer {
    std::string name; ///< the weight's name without ".weight"
    LayerShape shape = LayerShape::FullyConnected;
    std::int64_t C = 0; ///< input channels / features
    std::int64_t F = 0; ///< filters / output features
    std::int64_t M = 1; ///< images (conv) or input rows (FC)
    int KX = 1, KY = 1, stride = 1, pad = 0, groups = 1;
    int NX = 1, NY = 1, OX = 1, OY = 1;
    OperandCodes weights;     ///< [F][C/groups][KY][KX]
    OperandCodes activations; ///< [M][C][NY][NX]; may be empty for models that need no values
    /// Stored bits per weight with scales, zero points and code books (the quantizer's exact count).
    double weightStoredBits = 16;
    /// Stored bits per activation value with its scales (KV cache and traffic models).
    double activationStoredBits = 16;

    /// Multiply-accumulates of the layer.
    std::int64_t macs() const { return M * OX * OY * F * (C / groups) * KX * KY; }
    /// Weight code of filter f, channel c (within its group), kernel position (ky, kx).
    std::int32_t weight(std::int64_t f, std::int64_t c, int ky = 0, int kx = 0) const {
        return weights.codes[static_cast<std::size_t>(((f * (C / groups) + c) * KY + ky) * KX + kx)];
    }
    /// Activation code of image/row m, channel c, input position (y, x); 0 in the padding.
    std::int32_t activation(std::int64_t m, std::int64_t c, int y = 0, int x = 0) const {
        if (y < 0 || x < 0 || y >= NY || x >= NX) return 0;
        return activations.codes[static_cast<std::size_t>(((m * C + c) * NY + y) * NX + x)];
    }
    /// Activation code feeding output window (oy, ox) of image m at kernel position (ky, kx), channel c.
    std::int32_t windowActivation(std::int64_t m, std::int64_t c, int oy, int ox, int ky, int kx) const {
        return activation(m, c, oy * stride + ky - pad, ox * stride + kx - pad);
    }
};

} // namespace qs::core
