// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/builtins.h"
#include "quant/model_quantizer.h"
#include "model/model.h"
#include "quant/quant_spec.h"

#include <QObject>
#include <QString>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qs::plugins {

class JobService;

/// The data the user chose for the open model (absolute paths, empty when none): text or token .npy
/// for a language model; for a classifier images, "X.npy" or "FILE.h5:DATASET", and their labels.
struct ChosenData {
    QString evaluation;
    QString calibration;
    QString labels;
    bool operator==(const ChosenData&) const = default;
};

/// A plan being chosen elsewhere (the Mixed-precision dialog's budget slider), for views that draw
/// it live (the Pareto view): the solver's predicted frontier across the budget range and the current
/// plan, each point (bits per weight of the decision groups, predicted change of the held-out
/// log-perplexity ln(ppl / ppl_fp32), i.e. of the mean NLL).
struct PlanPreview {
    QString name; ///< legend entry, e.g. "clado plan (predicted)"
    std::vector<std::pair<double, double>> frontier;
    std::optional<std::pair<double, double>> current;
    bool operator==(const PlanPreview&) const = default;
};

/// What every view shares: the services (the engine's registries, the job service the Jobs dock
/// shows, the chosen data) and the state — the open model, its layer statistics, the current
/// quantization result, the current recipe's spec and layer rules, the open project, and one
/// selection (layer, run, format) that every view follows. Lives in the GUI thread; setters emit only
/// on change.
class ViewContext : public QObject {
    Q_OBJECT
public:
    /// An empty context (no model) over `registries`, which must outlive it.
    explicit ViewContext(const core::Registries& registries, QObject* parent = nullptr);
    ~ViewContext() override;

    /// The engine's methods, transforms and formats (the window's, extensions included).
    const core::Registries& registries() const { return m_registries; }
    /// Where views start long work: one job at a time, shown in the Jobs dock with progress and cancel.
    JobService* jobs() const { return m_jobs; }

    /// The evaluation, calibration and label data chosen for the open model.
    const ChosenData& data() const { return m_data; }
    /// Sets the chosen data; emits dataChanged when it differs.
    void setData(const ChosenData& data);

    /// The open model, null when none.
    const std::shared_ptr<const core::Model>& model() const { return m_model; }
    /// Replaces the model; clears layers, quantization result, layer rules and selection (emitting
    /// their signals).
    void setModel(std::shared_ptr<const core::Model> model);

    /// Statistics of every weight, in the model's file order (empty until inspected).
    const std::vector<core::LayerReport>& layers() const { return m_layers; }
    /// Sets the layer statistics of the current model; emits layersChanged.
    void setLayers(std::vector<core::LayerReport> layers);
    /// The report of a weight by name, nullptr when absent.
    const core::LayerReport* findLayer(const QString& name) const;

    /// The latest quantization result; while a run is in progress it holds the layers done so far.
    const std::optional<core::ModelQuantResult>& quantResult() const { return m_quantResult; }
    /// True when quantResult() is a finished run (false while layers are still arriving).
    bool isQuantResultComplete() const { return m_quantResult && m_quantComplete; }
    /// Starts a partial result for `job` (clears the previous one); emits quantResultChanged.
    void beginQuantResult(const core::QuantJob& job);
    /// Adds one finished layer to the partial result; emits layerResultAdded.
    void addLayerResult(const core::LayerQuantResult& layer);
    /// Sets (or with nullopt clears) the finished result; emits quantResultChanged.
    void setQuantResult(std::optional<core::ModelQuantResult> result);
    /// The quantization result of a weight by name, nullptr when it has none.
    const core::LayerQuantResult* layerResult(const QString& name) const;

    /// Name of the selected weight, empty when none.
    const QString& selectedLayer() const { return m_selectedLayer; }
    /// Selects a weight by name (empty clears); emits selectedLayerChanged when it changes.
    void setSelectedLayer(const QString& name);

    /// The weight quantization spec the user has chosen (format, granularity, group, symmetry, scale
    /// rule). The main window's Parameters form and the views edit this one value; a default
    /// QuantSpec until someone sets it.
    const core::QuantSpec& currentSpec() const { return m_currentSpec; }
    /// Sets the chosen spec; emits currentSpecChanged when any of its fields differs.
    void setCurrentSpec(const core::QuantSpec& spec);

    /// The per-layer rules of the current recipe: a JSON array of rule objects in the recipe's "layers"
    /// shape ({"match": glob, "keep": true} or {"match", "format", ...}), in order (later ones win).
    /// The layer table edits them; the main window puts them into every recipe it runs.
    const nlohmann::json& layerRules() const { return m_layerRules; }
    /// Replaces the rules (an array); emits layerRulesChanged when they differ.
    void setLayerRules(nlohmann::json rules);

    /// The open experiment project (a .qsproj file), empty when none.
    const QString& projectPath() const { return m_projectPath; }
    /// Opens (or with an empty path closes) a project; clears the selected run; emits projectChanged.
    void setProjectPath(const QString& path);
    /// Tells the views that runs were added to the open project (e.g. by a sweep); emits projectRunsChanged.
    void notifyProjectRunsChanged();

    /// Id of the selected run of the open project, 0 when none (SQLite ids start at 1).
    qint64 selectedRunId() const { return m_selectedRunId; }
    /// Selects a run by id (0 clears); emits selectedRunChanged when it changes.
    void setSelectedRunId(qint64 id);
    /// Asks the window to put stored run `id`'s recipe into its Parameters panel ("Load into form");
    /// emits recipeLoadRequested.
    void requestRecipeLoad(qint64 id) { emit recipeLoadRequested(id); }

    /// The plan being chosen, none when no one is choosing.
    const std::optional<PlanPreview>& planPreview() const { return m_planPreview; }
    /// Sets (or with nullopt clears) the plan being chosen; emits planPreviewChanged when it differs.
    void setPlanPreview(std::optional<PlanPreview> preview);

signals:
    /// The chosen data changed (read it with data()).
    void dataChanged();
    /// A model was opened or closed.
    void modelChanged();
    /// The layer statistics were replaced.
    void layersChanged();
    /// The quantization result was started, finished or cleared.
    void quantResultChanged();
    /// One more layer of a running quantization is done.
    void layerResultAdded(const QString& name);
    /// The one shared selection changed.
    void selectedLayerChanged(const QString& name);
    /// The chosen quantization spec changed (read it with currentSpec()).
    void currentSpecChanged();
    /// The per-layer rules changed (read them with layerRules()).
    void layerRulesChanged();
    /// Another project was opened, or the project was closed.
    void projectChanged(const QString& path);
    /// Runs were added to (or changed in) the open project.
    void projectRunsChanged();
    /// The selected run changed (0: none).
    void selectedRunChanged(qint64 id);
    /// A view asked for run `id`'s recipe in the Parameters panel.
    void recipeLoadRequested(qint64 id);
    /// The plan being chosen changed or was cleared (read it with planPreview()).
    void planPreviewChanged();

private:
    void reindexResult();

    const core::Registries& m_registries;
    JobService* m_jobs;
    ChosenData m_data;
    std::shared_ptr<const core::Model> m_model;
    std::vector<core::LayerReport> m_layers;
    std::unordered_map<std::string, std::size_t> m_layerIndex;
    std::optional<core::ModelQuantResult> m_quantResult;
    bool m_quantComplete = false;
    std::unordered_map<std::string, std::size_t> m_resultIndex;
    QString m_selectedLayer;
    core::QuantSpec m_currentSpec;
    nlohmann::json m_layerRules = nlohmann::json::array();
    QString m_projectPath;
    qint64 m_selectedRunId = 0;
    std::optional<PlanPreview> m_planPreview;
};

} // namespace qs::plugins
