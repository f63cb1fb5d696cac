// SPDX-License-Identifier: MIT
// The experiment store: one SQLite file per project plus a folder of per-run HDF5 array files.
#pragma once
#include "store/run_arrays.h"
#include "store/run_metrics.h"

#include <Eigen/Core>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace qs::core {

namespace sql {
class Database;
}

/// A model as the project knows it: identified by the hash of its content (a moved model is the same).
struct ModelRecord {
    std::int64_t id = 0;
    std::string path;
    std::string hash;
    std::string architecture;
    std::int64_t parameters = 0;
};

/// Evaluation data, identified by content hash.
struct DatasetRecord {
    std::int64_t id = 0;
    std::string path;
    std::string hash;
    std::int64_t tokens = 0;
};

/// Where and when a set of runs was made.
struct ProvenanceRecord {
    std::int64_t id = 0;
    std::string programVersion, host, date, commandLine;
};

/// Result figures of a run; NULL in the database when absent (e.g. accuracy of a language model).

/// One row of layer_results. sqnrDb is nullopt for an exact layer (infinite SQNR).
struct LayerResultRecord {
    std::string name;
    std::int64_t rows = 0, cols = 0;
    double bitsPerWeight = 0, mse = 0, maxAbsError = 0;
    std::optional<double> sqnrDb;
    std::string h5Path; ///< the layer's error histogram inside the run's array file
};

/// A run as stored. `evalSettings` and `recipe` are canonical JSON texts (compare them as strings).
struct RunRecord {
    std::int64_t id = 0;
    std::int64_t recipeId = 0, modelId = 0, datasetId = 0, provenanceId = 0;
    std::string recipe;       ///< canonical recipe JSON ("{}" = the fp32 reference)
    std::string recipeLabel;  ///< "rtn int4 asym group 32"
    std::string evalSettings; ///< canonical JSON {"ctx", "windows", ["calib", "calib_windows"]}
    std::string status;       ///< "finished" or "failed"
    std::string error;        ///< why a failed run failed
    std::string startedAt, finishedAt; ///< ISO 8601 UTC
    double seconds = 0;
    RunMetrics metrics;
    std::string arraysFile; ///< file name inside Project::arraysDir(); empty when none

    /// Everything above as JSON (recipe and eval settings parsed).
    nlohmann::json toJson() const;
};

/// A stored analysis (sensitivity, ...): what produced it and what it found. JSON fields are texts.
struct AnalysisRecord {
    std::int64_t id = 0;
    std::string kind;                  ///< the analysis's registry name
    std::int64_t modelId = 0, datasetId = 0, provenanceId = 0;
    std::string settings;              ///< canonical JSON: the validated parameters and the data windows
    std::string manifest;              ///< JSON: model and data hashes, token counts, seed, program version
    std::string summary;               ///< JSON: the analysis's summary
    std::string startedAt, finishedAt; ///< ISO 8601 UTC
    double seconds = 0;
    std::string arraysFile; ///< file name inside Project::arraysDir(); empty when none

    /// Everything above as JSON (settings, manifest and summary parsed).
    nlohmann::json toJson() const;
};

/// What a finished analysis hands to the store.
struct NewAnalysis {
    std::string kind;
    std::int64_t modelId = 0, datasetId = 0, provenanceId = 0;
    std::string settings, manifest, summary;
    std::string startedAt, finishedAt;
    double seconds = 0;
    std::vector<std::pair<std::string, std::string>> rows; ///< (label, JSON values): one per layer or group
    std::map<std::string, Eigen::MatrixXd> arrays;         ///< written to the analysis's HDF5 file
    /// When set, this analysis file (of another project) is copied byte for byte instead of `arrays`.
    std::filesystem::path arraysFrom;
};

/// A mixed-precision plan chosen from an analysis and the run that evaluated it.
struct PlanRecord {
    std::int64_t id = 0, analysisId = 0, runId = 0;
    std::string method; ///< the solver: clado, ilp, additive, greedy, uniform
    double budget = 0;
    std::string unit;   ///< bpw or bytes
    std::string plan;   ///< JSON: the plan (choices, predicted loss change, solver figures)
};

/// What a finished (or failed) run hands to the store.
struct NewRun {
    std::string recipe; ///< canonical JSON
    std::string recipeLabel;
    std::int64_t modelId = 0, datasetId = 0, provenanceId = 0;
    std::string evalSettings; ///< canonical JSON
    std::string status = "finished";
    std::string error;
    std::string startedAt, finishedAt;
    double seconds = 0;
    RunMetrics metrics;
    std::vector<LayerResultRecord> layers;
    /// Written to the run's own HDF5 file when it has layers.
    RunArrays arrays;
    /// When set, this run file (of another project) is copied byte for byte instead of `arrays`.
    std::filesystem::path arraysFrom;
};

/// A QuantScope project: `P.qsproj` (SQLite, WAL, foreign keys, application_id 'QSPJ', schema version
/// in PRAGMA user_version) and `P.qsproj.runs/run-<id>.h5` (one HDF5 file per run, see run_arrays.h).
///
/// Concurrency and crash safety: a run is stored in ONE transaction when it is done (storeRun), after
/// its arrays file was written and renamed into place, so a killed process leaves every earlier run
/// intact and no half run (at most an orphan array file that the next run with that id replaces).
/// Several processes (GUI and CLI) may use one project at once: WAL lets readers run beside a writer,
/// and writers wait up to 10 s for each other. One Project object may be used from several threads
/// (calls are serialized by a mutex).
///
/// Errors: a missing file (when not creating), a file that is not SQLite, an SQLite database of another
/// application, a project from a newer QuantScope or with missing tables throw Error naming the file.
class Project {
public:
    /// Current schema version. History: 1 = first layout (runs without KLD p99 / top-1 / accuracy /
    /// model bytes / arrays, layers without max error / HDF5 path, no provenance); 2 = this one.
    static constexpr int kSchemaVersion = 2;
    /// PRAGMA application_id of project files: 'QSPJ'.
    static constexpr std::int32_t kApplicationId = 0x5153504A;

    /// Opens a project; with `create` a missing (or empty) file becomes a new project. Older schema
    /// versions are migrated in place (in one transaction).
    static std::unique_ptr<Project> open(const std::filesystem::path& path, bool create);
    ~Project();

    /// The SQLite file.
    const std::filesystem::path& path() const { return m_path; }
    /// Folder of the per-run HDF5 array files (P.qsproj.runs).
    std::filesystem::path arraysDir() const;

    /// Id of the model with this hash, inserting it (or updating its path when it moved).
    std::int64_t ensureModel(const ModelRecord& m);
    /// Id of the dataset with this hash, inserting it (or updating its path).
    std::int64_t ensureDataset(const DatasetRecord& d);
    /// Records who/where/when; returns its id (runs point to it).
    std::int64_t addProvenance(const std::string& commandLine);
    /// Id of a provenance row with exactly these fields (all but id), inserting it when absent: what
    /// merging projects uses to keep who/where/when of each copied run.
    std::int64_t ensureProvenance(const ProvenanceRecord& p);

    /// Canonical recipes that already have a finished run for this model, dataset and eval settings.
    std::set<std::string> finishedRecipes(std::int64_t modelId, std::int64_t datasetId,
                                          const std::string& evalSettings);
    /// Stores a run in one transaction (recipe row, run row, layer rows; arrays file first). Returns
    /// nullopt without storing when a finished run of the same recipe/model/dataset/settings already
    /// exists (another process was faster), so a resumed or concurrent sweep never duplicates a run.
    std::optional<std::int64_t> storeRun(const NewRun& run);

    /// Every run, ordered by `sortKey` (a RunRecord JSON key: id, perplexity, kld_mean, bits_per_weight,
    /// seconds, ...; unknown keys throw Error), ascending unless `descending`.
    std::vector<RunRecord> runs(const std::string& sortKey = "id", bool descending = false);
    /// One run; nullopt when absent.
    std::optional<RunRecord> run(std::int64_t id);
    /// A run's layer rows in model order.
    std::vector<LayerResultRecord> layers(std::int64_t runId);
    /// The model / dataset / provenance rows (throw Error when absent).
    ModelRecord model(std::int64_t id);
    DatasetRecord dataset(std::int64_t id);
    ProvenanceRecord provenance(std::int64_t id);
    /// A value the tools keep with the project (e.g. the GUI's Sweep dialog ticks, "gui.sweep_ticks");
    /// nullopt when never set.
    std::optional<std::string> setting(const std::string& key);
    /// Sets (replaces) a kept value.
    void setSetting(const std::string& key, const std::string& value);
    /// Stores an analysis in one transaction (its arrays file renamed into place first). Returns nullopt
    /// without storing when one of the same kind, model, dataset and settings exists.
    std::optional<std::int64_t> storeAnalysis(const NewAnalysis& analysis);
    /// The analysis of this kind, model, dataset and settings; nullopt when none.
    std::optional<AnalysisRecord> findAnalysis(const std::string& kind, std::int64_t modelId, std::int64_t datasetId,
                                               const std::string& settings);
    /// Every stored analysis, oldest first.
    std::vector<AnalysisRecord> analyses();
    /// One analysis; nullopt when absent.
    std::optional<AnalysisRecord> analysis(std::int64_t id);
    /// An analysis's rows (label, JSON values) in stored order.
    std::vector<std::pair<std::string, std::string>> analysisRows(std::int64_t id);
    /// An analysis's HDF5 arrays (empty when it has none); throws Error naming a missing or bad file.
    std::map<std::string, Eigen::MatrixXd> analysisArrays(std::int64_t id);
    /// Records that `method` chose the recipe of run `runId` from analysis `analysisId` under a budget
    /// (the same plan recorded again replaces the earlier row). Returns its id.
    std::int64_t storePlan(const PlanRecord& plan);
    /// Every plan, in the order stored.
    std::vector<PlanRecord> plans();
    /// A run's HDF5 arrays; throws Error naming the file when it is missing or unreadable (the SQLite
    /// data stays usable).
    RunArrays runArrays(std::int64_t runId);

private:
    /// Inserts one provenance row (the caller holds m_mutex) and returns its id.
    std::int64_t insertProvenance(const ProvenanceRecord& p);
    explicit Project(const std::filesystem::path& path, bool create);
    void initialize(bool create);
    void migrate(int from);
    /// Adds a REAL column to runs for each stored run metric the file lacks (older projects).
    void addMetricColumns();
    /// Adds the settings table to a project that lacks it (older projects; older versions ignore it).
    void addSettingsTable();
    /// Adds the analyses tables to a project that lacks them (older versions ignore them).
    void addAnalysisTables();
    std::int64_t ensureRecipe(const std::string& json, const std::string& label);

    std::filesystem::path m_path;
    std::unique_ptr<sql::Database> m_db;
    std::mutex m_mutex;
};

/// Content hash of a model or data path (a directory: its config, weights and tokenizer files; a file:
/// its bytes) as 16 hex digits. Throws Error naming an unreadable file.
std::string contentHash(const std::filesystem::path& path);

/// `p` absolute and lexically normal: the text models and data are recorded by.
std::string absolutePath(const std::filesystem::path& p);
/// A data spec ("X.npy", text, or "FILE.h5:DATASET") with the file part made absolute.
std::string absoluteSpec(const std::string& spec);
/// The content hash of a data spec; an HDF5 dataset is its file's hash plus its name (two datasets of
/// one file are two data sets).
std::string specHash(const std::string& spec);

/// Current UTC time as ISO 8601 ("2024-05-01T12:00:00Z").
std::string isoTimeNow();

} // namespace qs::core
