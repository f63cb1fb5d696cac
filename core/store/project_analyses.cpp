// SPDX-License-Identifier: MIT
// The project's analyses: one row per analysis (what produced it, its summary), its per-group rows,
// and its arrays in an HDF5 file beside the runs' files.
#include "store/analysis_arrays.h"
#include "store/project.h"
#include "store/sqlite.h"

#include "base/error.h"
#include "io/file_util.h"

namespace qs::core {
namespace {

const char* const kColumns = "id, kind, model_id, dataset_id, IFNULL(provenance_id, 0), settings, manifest, summary, "
                             "IFNULL(started_at, ''), IFNULL(finished_at, ''), IFNULL(seconds, 0), IFNULL(arrays_file, '')";

AnalysisRecord readRecord(const sql::Statement& st) {
    AnalysisRecord a;
    a.id = st.getInt(0);
    a.kind = st.getText(1);
    a.modelId = st.getInt(2);
    a.datasetId = st.getInt(3);
    a.provenanceId = st.getInt(4);
    a.settings = st.getText(5);
    a.manifest = st.getText(6);
    a.summary = st.getText(7);
    a.startedAt = st.getText(8);
    a.finishedAt = st.getText(9);
    a.seconds = st.getDouble(10);
    a.arraysFile = st.getText(11);
    return a;
}

} // namespace

nlohmann::json AnalysisRecord::toJson() const {
    return {{"id", id},
            {"kind", kind},
            {"model_id", modelId},
            {"dataset_id", datasetId},
            {"provenance_id", provenanceId},
            {"settings", nlohmann::json::parse(settings, nullptr, false)},
            {"manifest", nlohmann::json::parse(manifest, nullptr, false)},
            {"summary", nlohmann::json::parse(summary, nullptr, false)},
            {"started_at", startedAt},
            {"finished_at", finishedAt},
            {"seconds", seconds},
            {"arrays_file", arraysFile}};
}

void Project::addAnalysisTables() {
    auto& db = *m_db;
    if (db.queryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'analyses'") > 0) return;
    sql::Transaction tx(db);
    db.exec(R"(
CREATE TABLE IF NOT EXISTS analyses(
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    model_id INTEGER NOT NULL REFERENCES models(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    provenance_id INTEGER REFERENCES provenance(id),
    settings TEXT NOT NULL,
    manifest TEXT NOT NULL,
    summary TEXT NOT NULL,
    started_at TEXT, finished_at TEXT, seconds REAL,
    arrays_file TEXT,
    UNIQUE(kind, model_id, dataset_id, settings));
CREATE TABLE IF NOT EXISTS plans(
    id INTEGER PRIMARY KEY,
    analysis_id INTEGER NOT NULL REFERENCES analyses(id),
    run_id INTEGER NOT NULL REFERENCES runs(id),
    method TEXT NOT NULL,
    budget REAL NOT NULL,
    unit TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    UNIQUE(analysis_id, method, budget, unit));
CREATE TABLE IF NOT EXISTS analysis_rows(
    analysis_id INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    label TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY(analysis_id, row));
)");
    tx.commit();
}

std::optional<std::int64_t> Project::storeAnalysis(const NewAnalysis& a) {
    std::lock_guard lock(m_mutex);
    sql::Transaction tx(*m_db);
    sql::Statement dup(*m_db, "SELECT id FROM analyses WHERE kind = ? AND model_id = ? AND dataset_id = ? AND settings = ?");
    dup.bind(1, a.kind).bind(2, a.modelId).bind(3, a.datasetId).bind(4, a.settings);
    if (dup.step()) return std::nullopt;
    sql::Statement ins(*m_db, "INSERT INTO analyses(kind, model_id, dataset_id, provenance_id, settings, manifest, "
                              "summary, started_at, finished_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, a.kind).bind(2, a.modelId).bind(3, a.datasetId);
    if (a.provenanceId) ins.bind(4, a.provenanceId); else ins.bindNull(4);
    ins.bind(5, a.settings).bind(6, a.manifest).bind(7, a.summary).bind(8, a.startedAt).bind(9, a.finishedAt);
    ins.bind(10, a.seconds);
    ins.run();
    const std::int64_t id = m_db->lastInsertId();
    if (!a.arrays.empty() || !a.arraysFrom.empty()) {
        // Renamed into place before COMMIT: a committed row never points at a missing file.
        const std::string file = "analysis-" + std::to_string(id) + ".h5";
        std::filesystem::create_directories(arraysDir());
        if (!a.arraysFrom.empty())
            copyFileAtomically(a.arraysFrom, arraysDir() / file);
        else
            writeAnalysisArrays(arraysDir() / file, a.arrays);
        sql::Statement(*m_db, "UPDATE analyses SET arrays_file = ? WHERE id = ?").bind(1, file).bind(2, id).run();
    }
    sql::Statement row(*m_db, "INSERT INTO analysis_rows(analysis_id, row, label, value_json) VALUES (?, ?, ?, ?)");
    for (std::size_t i = 0; i < a.rows.size(); ++i) {
        row.bind(1, id).bind(2, static_cast<std::int64_t>(i)).bind(3, a.rows[i].first).bind(4, a.rows[i].second);
        row.run();
    }
    tx.commit();
    return id;
}

std::optional<AnalysisRecord> Project::findAnalysis(const std::string& kind, std::int64_t modelId,
                                                    std::int64_t datasetId, const std::string& settings) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, std::string("SELECT ") + kColumns +
                                 " FROM analyses WHERE kind = ? AND model_id = ? AND dataset_id = ? AND settings = ?");
    st.bind(1, kind).bind(2, modelId).bind(3, datasetId).bind(4, settings);
    if (!st.step()) return std::nullopt;
    return readRecord(st);
}

std::vector<AnalysisRecord> Project::analyses() {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, std::string("SELECT ") + kColumns + " FROM analyses ORDER BY id");
    std::vector<AnalysisRecord> out;
    while (st.step()) out.push_back(readRecord(st));
    return out;
}

std::optional<AnalysisRecord> Project::analysis(std::int64_t id) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, std::string("SELECT ") + kColumns + " FROM analyses WHERE id = ?");
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return readRecord(st);
}

std::vector<std::pair<std::string, std::string>> Project::analysisRows(std::int64_t id) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, "SELECT label, value_json FROM analysis_rows WHERE analysis_id = ? ORDER BY row");
    st.bind(1, id);
    std::vector<std::pair<std::string, std::string>> out;
    while (st.step()) out.emplace_back(st.getText(0), st.getText(1));
    return out;
}

std::int64_t Project::storePlan(const PlanRecord& p) {
    std::lock_guard lock(m_mutex);
    sql::Statement(*m_db, "INSERT INTO plans(analysis_id, run_id, method, budget, unit, plan_json) VALUES (?, ?, ?, ?, ?, ?) "
                          "ON CONFLICT(analysis_id, method, budget, unit) DO UPDATE SET run_id = excluded.run_id, "
                          "plan_json = excluded.plan_json")
        .bind(1, p.analysisId)
        .bind(2, p.runId)
        .bind(3, p.method)
        .bind(4, p.budget)
        .bind(5, p.unit)
        .bind(6, p.plan)
        .run();
    sql::Statement st(*m_db, "SELECT id FROM plans WHERE analysis_id = ? AND method = ? AND budget = ? AND unit = ?");
    st.bind(1, p.analysisId).bind(2, p.method).bind(3, p.budget).bind(4, p.unit);
    return st.step() ? st.getInt(0) : 0;
}

std::vector<PlanRecord> Project::plans() {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, "SELECT id, analysis_id, run_id, method, budget, unit, plan_json FROM plans ORDER BY id");
    std::vector<PlanRecord> out;
    while (st.step())
        out.push_back({st.getInt(0), st.getInt(1), st.getInt(2), st.getText(3), st.getDouble(4), st.getText(5),
                       st.getText(6)});
    return out;
}

std::map<std::string, Eigen::MatrixXd> Project::analysisArrays(std::int64_t id) {
    const auto record = analysis(id);
    if (!record) throw Error(m_path.string() + ": no analysis " + std::to_string(id));
    if (record->arraysFile.empty()) return {};
    return readAnalysisArrays(arraysDir() / record->arraysFile);
}

} // namespace qs::core
