// SPDX-License-Identifier: MIT
// One recipe evaluated on one model and its data, stored as a project run: the single path behind the
// GUI's Evaluate and every point of a sweep, for language models (perplexity) and ONNX classifiers
// (accuracy).
#pragma once
#include "experiment/builtins.h"
#include "base/job.h"
#include "quant/model_quantizer.h"
#include "quant/recipe.h"
#include "eval/classifier_eval.h"
#include "eval/residual_cache.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "store/project.h"
#include "tensor/tensor.h"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace qs::core {

class CausalLm;

/// What recipes are evaluated on.
struct RecipeRunTarget {
    std::shared_ptr<const Model> model;
    /// Language model: text or token .npy. Classifier (.onnx): images, "X.npy" or "FILE.h5:DATASET".
    std::string data;
    /// Classifier only: one integer label per image, "Y.npy" or "FILE.h5:DATASET".
    std::string labels;
    EvalOptions eval;         ///< language model: ctx and windows
    std::int64_t batch = 256; ///< classifier: images per forward pass (does not change the result)
    std::string commandLine;  ///< provenance of the runs stored
};

/// Calibration data offered to a recipe; used only when the recipe needs it. Language model: text or
/// token .npy for calibrated methods and transforms (`windows` windows of ctx tokens). Classifier:
/// images whose max |x| per layer input fix static activation scales (without it activation
/// quantization is dynamic, per batch).
struct RecipeCalibration {
    std::string path;
    long long windows = 128;
};

/// What evaluating one recipe found.
struct RecipeRunOutcome {
    std::string label;               ///< "rtn int4 asym group 32"
    std::string recipe;              ///< canonical recipe JSON
    std::string evalSettings;        ///< canonical eval-settings JSON the run is keyed by
    std::string status = "finished"; ///< or "failed" (only with RecipeRunner::run's storeFailures)
    std::string error;               ///< why a failed run failed
    RunMetrics metrics; ///< LM: perplexity, reference perplexity, KLD, top-1; classifier: accuracy, top-1
                        ///< = argmax agreement with fp32; both: bits/weight, model bytes
    std::optional<double> referenceAccuracy; ///< classifier: fp32 accuracy of the same images
    double modelBitsPerWeight = 0;
    double seconds = 0;
    std::int64_t runId = 0;          ///< stored run, 0 without a project
    std::int64_t referenceRunId = 0; ///< the fp32 run of these settings, 0 without a project
    bool reused = false; ///< the project already had this run: its stored figures, nothing recomputed

    /// candidate - reference perplexity (0 when either is missing).
    double deltaPerplexity() const;
};

/// Evaluation settings as the canonical JSON text language-model runs are keyed by.
std::string evalSettingsKey(const EvalOptions& eval, const std::string& calib, long long calibWindows);

/// An eval-settings key (evalSettingsKey, recipeRunSettingsKey) in words, for reports and tables:
/// "context 128 tokens · all windows · calibration calib.txt, 128 windows"; a key it cannot read is
/// returned as it is.
std::string evalSettingsText(const std::string& key);

/// True when `model` is evaluated as an image classifier (an .onnx graph) rather than a language model.
bool isClassifierModel(const Model& model);

/// The eval-settings key of `recipe`'s run on `target`: calibration belongs to it only when the recipe
/// uses calibration (LM: a calibrated method or transform; classifier: activation quantization).
std::string recipeRunSettingsKey(const RecipeRunTarget& target, const Recipe& recipe,
                                 const RecipeCalibration& calib, const Registries& registries);

/// The histogram of (quantized - stored) values of one quantized weight (stored layout), over ±its
/// largest error, as every stored run keeps per layer.
Histogram quantizationErrorHistogram(const Model& model, const std::string& name, const std::vector<float>& quantized);

/// The layer rows of a quantized model and their error histograms (by weight name, from
/// quantizationErrorHistogram) added to `run`, as every stored run has them.
void addQuantizedLayers(const ModelQuantResult& q, const std::map<std::string, Histogram>& errorHistograms, NewRun& run);

/// Evaluates recipes on one target and stores their runs (with the fp32 reference run of the same
/// settings) in one project. The data are read (and, with a project, model and data registered by
/// content hash) once, in the constructor. run() may be called from several threads at once.
class RecipeRunner {
public:
    /// Reads the data; `project` may be null (nothing stored, nothing reused). Throws Error naming the
    /// file for unreadable or mismatched data (e.g. a classifier without labels), Cancelled.
    RecipeRunner(RecipeRunTarget target, const Registries& registries, Project* project,
                 const JobContext& ctx);
    ~RecipeRunner();
    RecipeRunner(const RecipeRunner&) = delete;
    RecipeRunner& operator=(const RecipeRunner&) = delete;

    /// True for an .onnx classifier (accuracy), false for a language model (perplexity).
    bool isClassifier() const { return m_classifier; }
    /// recipeRunSettingsKey for this target.
    std::string settingsKey(const Recipe& recipe, const RecipeCalibration& calib) const;
    /// The stored fp32 run of these settings, evaluating and storing it now when the project lacks it.
    /// Needs a project.
    RunRecord ensureReference(const JobContext& ctx);
    /// Evaluates `recipe` against fp32 on the same data. With a project: a finished run of the same
    /// model, data, settings and recipe is returned as it is (`reused`); otherwise the fp32 reference
    /// run (when missing) and the recipe's run are stored, each in one transaction after all computing
    /// is done, so a cancel stores nothing. A failure throws Error, or with `storeFailures` is stored
    /// as a "failed" run and returned. Progress: quantized layers, then evaluation steps, one scale.
    RecipeRunOutcome run(const Recipe& recipe, const RecipeCalibration& calib, const JobContext& ctx,
                         bool storeFailures = false);
    /// Computes the fp32 model's logits of every window once, on the first evaluation, and compares
    /// every later recipe with them instead of rerunning fp32 (half the forward passes of a sweep),
    /// while they take at most `byteLimit`. Results are the same bit for bit.
    void keepReferenceLogits(std::size_t byteLimit) { m_referenceLogitsLimit = byteLimit; }
    /// Language models: keeps the residual streams entering decoder layers, at most `byteLimit` bytes,
    /// so that a later recipe whose layers below L compute what an earlier recipe's did (or, with
    /// keepReferenceLogits, the fp32 model's) starts at layer L. Recipes with transforms always start
    /// at the embedding. Results are the same bit for bit. 0 (the default) keeps none.
    void keepResidualStreams(std::size_t byteLimit);
    /// Decoder-layer runs (one layer over one window) the language-model evaluations made, and those
    /// they would have made without kept streams.
    struct LayerRuns {
        long long made = 0, withoutCache = 0;
    };
    LayerRuns layerRuns() const { return {m_layerRuns.load(), m_layerRunsWithoutCache.load()}; }

private:
    struct Figures;
    std::optional<RunRecord> findRun(const std::string& evalKey, const std::string& recipe) const;
    std::string referenceKey() const;
    Figures evaluate(const Recipe& recipe, const RecipeCalibration& calib, const JobContext& ctx,
                     NewRun& run);
    void computeReferenceLogits(const JobContext& ctx);
    std::size_t streamBytesPerLayer() const; // every window's residual stream entering one layer
    std::int64_t storeReference(const Figures& f, std::int64_t provenanceId, const std::string& startedAt);
    NewRun referenceRun(double seconds) const;
    std::int64_t provenance();

    RecipeRunTarget m_target;
    const Registries& m_registries;
    Project* m_project;
    bool m_classifier = false;
    std::int64_t m_modelId = 0, m_datasetId = 0, m_provenanceId = 0;
    std::mutex m_mutex; // guards m_provenanceId and the calibration cache
    // Language model
    std::vector<std::int32_t> m_tokens;
    std::unique_ptr<const CausalLm> m_reference;
    std::map<std::string, CalibrationData> m_lmCalibration; // by path + windows, loaded once
    std::size_t m_referenceLogitsLimit = 0;
    std::once_flag m_referenceLogitsOnce;
    std::vector<RowMatrixF> m_referenceLogits; // per window, when kept
    double m_referenceLogitsSeconds = 0;
    std::unique_ptr<ResidualCache> m_residuals; // when keepResidualStreams
    std::atomic<long long> m_layerRuns{0}, m_layerRunsWithoutCache{0};
    // Classifier
    std::optional<Tensor> m_images;
    std::vector<std::int64_t> m_labels;
    std::map<std::string, std::vector<RangeStats>> m_actRanges; // by calibration path, measured once
    long long m_evalSteps = 0;                                  // windows or images
};

/// The GUI's Evaluate in one call: a RecipeRunner over `target` and one run() of `recipe`.
RecipeRunOutcome evaluateRecipe(const RecipeRunTarget& target, const Recipe& recipe,
                                const RecipeCalibration& calib, const Registries& registries,
                                Project* project, const JobContext& ctx);

} // namespace qs::core
