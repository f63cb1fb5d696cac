// SPDX-License-Identifier: MIT
// Sensitivity of a model larger than memory: one decoder layer's float32 weights at a time. Every
// evaluation (a group, or a pair of groups, at candidates) is a residual stream per window that
// branches off the float32 model's stream at the first layer it changes; at each layer, loaded once,
// the layer's groups are quantized and every live stream runs through it (with its own replaced
// weights where it has some). After the last layer each stream is scored against the float32 model.
// Each window's stream meets the same layer functions in the same order as in PrefixEvaluator, so the
// numbers are the same bits as the whole-model measurement.
#include "analysis/sensitivity_parts.h"

#include "analysis/reference_scores.h"
#include "base/error.h"
#include "eval/layer_major.h"
#include "eval/window_scores.h"
#include "nn/causal_lm_grad.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <optional>
#include <set>

namespace qs::core::sensitivity_parts {
namespace {

using Clock = std::chrono::steady_clock;
using Part = std::pair<std::size_t, std::size_t>; // (group, candidate)

// One evaluation: the groups it changes (in layer order) and where its stream starts.
struct Evaluation {
    std::vector<Part> parts;
    int start = 0;
    std::size_t pair = SIZE_MAX; // index into the pair plan, or SIZE_MAX for a single
};

class LayerMajorMeasurement {
public:
    LayerMajorMeasurement(const Model& model, const CalibrationData& set, const MethodRegistries& registries,
                          const SensitivityOptions& options, const JobContext& job)
        : m_model(model), m_options(options), m_job(job), m_quiet{{}, job.cancel},
          m_lm(CausalLm::layerByLayer(model)), m_quantizer(model, registries, options, m_quiet) {
        if (options.candidates.empty()) throw Error("sensitivity: no candidate formats");
        if (set.windows.empty()) throw Error("sensitivity: the sensitivity set holds no window");
        for (const auto& c : options.candidates)
            if (!c.keep) checkLayerMajorRecipe(c.job, registries);
        checkSensitivityWindows(set.windows, m_lm.vocabSize());
        for (const auto& w : set.windows) m_windows.emplace_back(w);
        r = emptyResult(decisionGroups(model, m_lm, options.grouping), options);
        r.layerMajor = true;
        if (options.hawqProbes > 0)
            r.notes.push_back("HAWQ scores left out: their Hessian-vector products run on the whole model, "
                              "and this measurement holds one layer at a time");
        if (options.pairs) m_pairs = choosePairs(r, options);
        planEvaluations();
    }

    SensitivityResult run() {
        const auto start = Clock::now();
        const int layers = m_lm.numLayers();
        const std::size_t n = m_windows.size();
        // A stream is one matrix [ctx, hidden] per window; the float32 model's stream is kept at every
        // layer ((layers + 1) streams) so that later passes can branch off it.
        const std::size_t streamBytes = n * m_windows.front().size() * std::size_t(m_lm.config().hiddenSize) * sizeof(float);
        const std::size_t perPass = std::max<std::size_t>(1, m_options.streamBytes / std::max<std::size_t>(1, streamBytes));
        std::vector<std::size_t> order(m_evals.size());
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return m_evals[a].start < m_evals[b].start; });
        m_scores.resize(m_evals.size());
        m_reference.assign(std::size_t(layers) + 1, std::vector<RowMatrixF>(n));
        m_steps = std::max<long long>(1, static_cast<long long>((order.size() + perPass - 1) / perPass)) * layers + 1;
        std::size_t from = 0;
        r.passes = 0;
        do { // the first pass also runs the float32 model and the proxies, even with nothing to evaluate
            const std::size_t to = std::min(order.size(), from + perPass);
            pass(std::vector<std::size_t>(order.begin() + std::ptrdiff_t(from), order.begin() + std::ptrdiff_t(to)), r.passes == 0);
            ++r.passes;
            from = to;
        } while (from < order.size());
        record();
        if (m_options.gradientScore) gradientScores();
        r.evaluations = static_cast<long long>(m_evals.size());
        r.layerRunsWithoutCache = r.evaluations * layers * static_cast<long long>(n);
        r.peakWeightBytes = m_lm.peakWeightBytes();
        r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        m_job.step(m_steps, m_steps, "done");
        return std::move(r);
    }

private:
    // Singles, then pairs, as the whole-model measurement orders them.
    void planEvaluations() {
        const std::size_t C = r.candidates.size();
        const auto startOf = [&](std::size_t g) { return m_options.prefixCache ? r.groups[g].layer : 0; };
        for (std::size_t g = 0; g < r.groups.size(); ++g)
            for (std::size_t c = 0; c < C; ++c)
                if (!m_options.candidates[c].keep) m_evals.push_back({{{g, c}}, startOf(g), SIZE_MAX});
        for (std::size_t k = 0; k < m_pairs.pairs.size(); ++k) {
            const auto [g, h] = m_pairs.pairs[k]; // g < h: g's layer comes first
            for (std::size_t c = 0; c < C; ++c)
                for (std::size_t d = 0; d < C; ++d)
                    if (!m_options.candidates[c].keep && !m_options.candidates[d].keep)
                        m_evals.push_back({{{g, c}, {h, d}}, startOf(g), k});
        }
    }

    // One walk over the layers for the evaluations `batch` (sorted by start); the first walk starts at
    // layer 0 and also runs the float32 model, takes the proxies and scores the reference.
    void pass(const std::vector<std::size_t>& batch, bool first) {
        const int layers = m_lm.numLayers();
        const std::size_t n = m_windows.size();
        const int from = first || batch.empty() ? 0 : m_evals[batch.front()].start;
        std::vector<std::vector<RowMatrixF>> streams(batch.size());
        if (first)
            m_reference[0] = embedWindows(m_lm, m_windows, m_quiet);
        for (int l = from; l < layers; ++l) {
            m_job.step(static_cast<long long>(r.passes) * layers + l, m_steps,
                       "pass " + std::to_string(r.passes + 1) + ": layer " + std::to_string(l + 1) + "/" +
                           std::to_string(layers) + ", " + std::to_string(batch.size()) + " evaluations");
            m_lm.loadLayer(l);
            std::map<Part, WeightSet> weights = quantizeLayer(l, batch, first);
            if (first) {
                m_reference[std::size_t(l) + 1] = m_reference[std::size_t(l)];
                runLayerOnStreams(m_lm, l, m_reference[std::size_t(l) + 1], m_quiet);
            }
            const auto t = Clock::now();
            for (std::size_t i = 0; i < batch.size(); ++i) {
                const Evaluation& e = m_evals[batch[i]];
                if (e.start > l) break; // sorted by start: the rest start later
                if (e.start == l) streams[i] = m_reference[std::size_t(l)];
                WeightSet replaced;
                for (const Part& p : e.parts)
                    if (r.groups[p.first].layer == l)
                        for (const auto& [name, values] : weights.at(p)) replaced[name] = values;
                std::optional<CausalLm> variant; // shares the layer's other weights
                if (!replaced.empty()) variant.emplace(m_lm, std::move(replaced));
                const CausalLm& lm = variant ? *variant : m_lm;
                std::vector<RowMatrixF>& stream = streams[i];
                runLayerOnStreams(lm, l, stream, m_quiet);
                r.layerRuns += static_cast<long long>(n);
            }
            r.evaluateSeconds += std::chrono::duration<double>(Clock::now() - t).count();
            m_lm.releaseLayer(l);
            dropLayerPages(m_model, l);
        }
        const auto t = Clock::now();
        if (first) scoreReference();
        for (std::size_t i = 0; i < batch.size(); ++i) {
            m_scores[batch[i]] = score(streams[i]);
            streams[i].clear();
        }
        r.evaluateSeconds += std::chrono::duration<double>(Clock::now() - t).count();
    }

    // Layer l's groups at each candidate the batch needs (the first pass: every candidate, with the
    // proxies). Calibrated candidates take the layer's statistics from the float32 stream entering it.
    std::map<Part, WeightSet> quantizeLayer(int l, const std::vector<std::size_t>& batch, bool first) {
        std::set<Part> needed;
        for (std::size_t i : batch)
            for (const Part& p : m_evals[i].parts)
                if (r.groups[p.first].layer == l) needed.insert(p);
        std::map<Part, WeightSet> out;
        if (!first && (needed.empty() || !m_quantizer.calibrated())) {
            for (const Part& p : needed) out[p] = m_quantizer.quantize(r.groups[p.first], p.second);
            return out;
        }
        m_quantizer.enterLayer(m_lm, l, m_reference[std::size_t(l)]);
        for (std::size_t g = 0; g < r.groups.size(); ++g) {
            if (r.groups[g].layer != l) continue;
            for (std::size_t c = 0; c < r.candidates.size(); ++c) {
                if (!first) {
                    if (needed.count({g, c})) out[{g, c}] = m_quantizer.quantize(r.groups[g], c);
                    continue;
                }
                WeightSet q = m_quantizer.quantizeWithProxies(r, g, c);
                if (needed.count({g, c})) out[{g, c}] = std::move(q);
            }
        }
        return out;
    }

    // ModelOpt's gradient score from one layer-major backward pass of the float32 model (the same
    // batches and observer calls as the whole-model measurement's lossGradient, so the same sums).
    // When the backward half loads a layer (its second load), its groups are quantized at every
    // candidate, calibrated ones from the float32 stream entering it, and held while it is in.
    void gradientScores() {
        std::map<Part, WeightSet> held;
        std::set<int> seen;
        GradientScorer scorer(r, m_model, m_options, [&](std::size_t g, std::size_t c) { return held.at({g, c}); });
        const LayerLoader loader = [&](CausalLm& lm, int l) {
            lm.loadLayer(l);
            held.clear();
            if (seen.insert(l).second) return; // the forward half needs no candidate
            if (m_quantizer.calibrated()) m_quantizer.enterLayer(lm, l, m_reference[std::size_t(l)]);
            for (std::size_t g = 0; g < r.groups.size(); ++g)
                if (r.groups[g].layer == l)
                    for (std::size_t c = 0; c < r.candidates.size(); ++c)
                        if (!m_options.candidates[c].keep) held[{g, c}] = m_quantizer.quantize(r.groups[g], c);
            dropLayerPages(m_model, l);
        };
        GradOptions o;
        o.linearObserver = [&](const std::string& name, const float* x, std::int64_t rows, std::int64_t in,
                               const float* dy, std::int64_t out) { scorer.add(name, x, rows, in, dy, out); };
        const JobContext progress{[&](long long, long long, const std::string& what) { m_job.step(m_steps - 1, m_steps, what); },
                                  m_job.cancel};
        lossGradientLayerMajor(m_lm, m_windows, 1, [](const std::string&, std::vector<float>) {}, loader, o, progress);
    }

    // A stream's last hidden states (empty: the float32 model's own) scored against the float32 model,
    // as PrefixEvaluator::evaluate scores.
    PerturbedScores score(const std::vector<RowMatrixF>& stream) {
        const std::vector<RowMatrixF>& last = m_reference.back();
        return scoreAgainstReference(
            m_lm, m_windows, last, m_referenceLogits,
            [&](std::size_t begin, std::size_t end) {
                std::vector<RowMatrixF> logits;
                for (std::size_t k = begin; k < end; ++k) logits.push_back(m_lm.logits(stream.empty() ? last[k] : stream[k]));
                return logits;
            },
            m_quiet);
    }

    // The reference logits (kept under PrefixEvaluator's limit) and the float32 model scored against itself.
    void scoreReference() {
        m_referenceLogits = keptReferenceLogits(m_lm, m_reference.back(), PrefixEvaluator::Options{}.logitBytesLimit, m_quiet);
        r.reference = score({});
        r.scoredTokens = static_cast<std::int64_t>(m_windows.size()) * static_cast<std::int64_t>(m_windows.front().size() - 1);
    }

    void record() {
        PairRecorder recorder(r);
        for (std::size_t i = 0; i < m_evals.size(); ++i) { // singles come first, so pairs find them
            const Evaluation& e = m_evals[i];
            const PerturbedScores& s = m_scores[i];
            if (e.pair == SIZE_MAX) {
                const auto [g, c] = e.parts.front();
                r.deltaLoss[g][c] = s.nll - r.reference.nll;
                r.kld[g][c] = s.kld;
                r.top1[g][c] = s.top1;
            } else {
                recorder.record(e.parts[0].first, e.parts[0].second, e.parts[1].first, e.parts[1].second, s,
                                e.pair >= m_pairs.farFrom);
            }
        }
        recorder.finish();
    }

    const Model& m_model;
    const SensitivityOptions& m_options;
    const JobContext& m_job;
    const JobContext m_quiet;
    CausalLm m_lm;
    GroupQuantizer m_quantizer;
    std::vector<std::span<const std::int32_t>> m_windows;
    PairPlan m_pairs;
    std::vector<Evaluation> m_evals;
    std::vector<PerturbedScores> m_scores;           // per evaluation
    std::vector<std::vector<RowMatrixF>> m_reference; // [layer][window]: the float32 stream entering each layer
    std::vector<RowMatrixF> m_referenceLogits;        // per window, empty when over the limit
    long long m_steps = 1; // progress: layer walks of all passes, and the scoring
    SensitivityResult r;
};

} // namespace

SensitivityResult measureLayerMajor(const Model& model, const CalibrationData& set, const MethodRegistries& registries,
                                    const SensitivityOptions& options, const JobContext& job) {
    return LayerMajorMeasurement(model, set, registries, options, job).run();
}

} // namespace qs::core::sensitivity_parts
