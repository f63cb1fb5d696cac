// SPDX-License-Identifier: MIT
#pragma once
// The backward pass of CausalLm: the gradient of the evaluation protocol's loss with respect to
// every floating-point weight, and the loss's first and second derivatives along a direction.
#include "base/job.h"
#include "nn/causal_lm.h"

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace qs::core {

/// How the backward pass runs (never what it computes: the numbers depend only on the inputs).
struct GradOptions {
    /// Windows are processed in batches of at most this many tokens (at least one window each);
    /// the activations of one batch are held at a time. Fixed, never derived from the thread count,
    /// so that results are identical at any thread count.
    long long batchTokens = 2048;
    /// Checkpointing: keep only each decoder layer's input during the forward pass and recompute the
    /// layer's inside before its backward step (about one more forward pass; activation memory drops
    /// to the residual stream of every layer plus one layer's inside).
    bool recompute = false;
    /// Every operation in float64 (weights upcast exactly; Eigen's products, several times slower):
    /// reference-grade figures and finite-difference checks. Default: float32, as the forward pass.
    bool float64 = false;
    /// Sees, in the float32 backward pass, each decoder Linear's input x [rows, in] and the loss's
    /// gradient with respect to its output dy [rows, out] (one call per Linear per batch, rows = the
    /// batch's tokens), by the weight's stored name: output-gradient scores such as ModelOpt's.
    std::function<void(const std::string& weight, const float* x, std::int64_t rows, std::int64_t in, const float* dy,
                       std::int64_t out)>
        linearObserver;
};

/// One floating-point weight the forward pass reads: its stored name and number of values. A tied
/// head is the embedding (one entry).
struct DifferentiableWeight {
    std::string name;
    std::int64_t size = 0;
};

/// The weights lossGradient differentiates, in model order (embedding, positions, each layer's norms
/// and Linears with their biases, final norm, untied head).
std::vector<DifferentiableWeight> differentiableWeights(const CausalLm& lm);

/// The loss L = mean next-token NLL over the scored tokens of `windows` (each its own sequence,
/// positions 0..n-1; the token at position i is scored when i >= scoreFrom, from the logits at i-1),
/// and dL/dW for every differentiable weight, in its stored layout (GPT-2 Conv1D [in, out]).
struct LossGradient {
    double loss = 0;
    long long tokensScored = 0;
    std::vector<std::string> names;             ///< differentiableWeights order
    std::vector<std::vector<float>> gradients;  ///< one per name
    std::size_t peakActivationBytes = 0;        ///< activations held at once (one batch)
    double seconds = 0;

    /// The gradient of `name`; throws Error when it has none.
    const std::vector<float>& gradient(const std::string& name) const;
};

/// The backward pass through `lm` as it stands: its weights (a quantized model's are the quantized
/// ones, so this is dL/dŴ, the straight-through gradient) and its activation / KV-cache fake
/// quantization hooks, which pass gradients straight through inside each run's clipping range and
/// cut them where the grid clipped (SaturationBounds; dynamic min/max ranges clip nothing). Throws Error for windows of unequal
/// length or shorter than scoreFrom + 1, a token outside the vocabulary, a layer not loaded, or
/// a site transform without its adjoint (ForwardHooks::siteTransformTranspose), or float64 with
/// online transforms. Site transforms (rotations, ResQ bases) pass gradients back through their
/// adjoint; a transform's own site and KV quantizers pass them straight through. Progress per
/// batch; cancellable.
LossGradient lossGradient(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                          const GradOptions& options = {}, const JobContext& job = {});

/// Receives one weight's finished gradient (stored name, stored layout) from lossGradientLayerMajor.
using GradientSink = std::function<void(const std::string& name, std::vector<float> gradient)>;
/// Brings decoder layer `layer`'s weights into `lm` for lossGradientLayerMajor (empty: lm.loadLayer),
/// e.g. quantized with a recipe (CausalLm::loadLayer's replaced weights). Called twice per layer.
using LayerLoader = std::function<void(CausalLm& lm, int layer)>;

/// lossGradient one decoder layer's float32 weights at a time, for models larger than memory (a
/// layerByLayer() model; any other is run the same way without loading). Every window is embedded;
/// each layer is loaded, every batch's residual stream runs through it and its input is kept, and
/// it is released; the head gives the loss and the gradient of the last stream; then from the last
/// layer down each layer is loaded again, recomputes its inside from the kept input, passes the
/// gradient down and hands its weights' gradients to `onGradient` before it is released; the
/// embedding's, final norm's and head's come last. The same operations in the same order as
/// lossGradient, so the same bits, except a tied embedding, whose head and input parts are summed
/// in another order when there are several batches. Returns the loss, tokens and peak activation
/// bytes (names and gradients empty). Memory: every layer's input for every window (layers x
/// windows x ctx x hidden floats) plus one batch's inside of one layer, one layer's weights and
/// gradients, and the resident embedding, final norm and head with their gradients. float32 only
/// (float64 is an Error); the same other errors as lossGradient; progress per layer; cancellable.
LossGradient lossGradientLayerMajor(CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                                    const GradientSink& onGradient, const LayerLoader& loader = {},
                                    const GradOptions& options = {}, const JobContext& job = {});

/// A direction in weight space: values by weight name, in the stored layout; weights not named are 0.
using WeightDirection = std::map<std::string, std::vector<float>>;

/// The loss along W + t·v at t = 0: its value, first derivative g·v and second derivative vᵀHv.
struct DirectionalCurvature {
    double loss = 0;
    double dirDeriv = 0;  ///< g·v
    double curvature = 0; ///< vᵀHv
    long long tokensScored = 0;
    /// H·v per differentiable weight (differentiableWeights order) when asked for, else empty.
    std::vector<std::string> names;
    std::vector<std::vector<float>> hessianVector;
    double seconds = 0;
};

/// g·v and vᵀHv exactly, by forward-over-reverse differentiation: the backward pass runs on dual
/// numbers W + ε·v, so every quantity carries its derivative along v, and the gradient's is H·v
/// (Pearlmutter's R-operator). One pass costs about three float passes; no step size, no
/// cancellation error. Same rules and errors as lossGradient, plus Error for a direction naming a
/// weight the model does not differentiate or of the wrong size.
DirectionalCurvature curvatureAlong(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows,
                                    int scoreFrom, const WeightDirection& v, bool keepHessianVector = false,
                                    const GradOptions& options = {}, const JobContext& job = {});

/// L(W + t·v): the loss with every weight moved along `v` (the backward pass's forward half, so in
/// float64 with options.float64: slices and finite differences). Same errors as curvatureAlong.
double lossAlong(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows, int scoreFrom,
                 const WeightDirection& v, double t, const GradOptions& options = {}, const JobContext& job = {});

} // namespace qs::core
