// SPDX-License-Identifier: MIT
#include "store/project.h"

#include "store/sqlite.h"
#include "base/error.h"
#include "io/file_util.h"
#include "io/hdf5_file.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <unistd.h>

namespace qs::core {
namespace {

constexpr const char* kTables[] = {"models", "datasets", "recipes", "provenance", "runs", "layer_results"};

// The current layout (version 2) without the runs table's metric columns, which addMetricColumns adds from
// the run-metric table. Older versions are brought here by Project::migrate.
constexpr const char* kSchema = R"sql(
CREATE TABLE models(id INTEGER PRIMARY KEY, path TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
                    architecture TEXT, parameters INTEGER);
CREATE TABLE datasets(id INTEGER PRIMARY KEY, path TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, tokens INTEGER);
CREATE TABLE recipes(id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE, label TEXT);
CREATE TABLE provenance(id INTEGER PRIMARY KEY, program_version TEXT, host TEXT, date TEXT, command_line TEXT);
CREATE TABLE runs(id INTEGER PRIMARY KEY AUTOINCREMENT,
                  recipe_id INTEGER NOT NULL REFERENCES recipes(id),
                  model_id INTEGER NOT NULL REFERENCES models(id),
                  dataset_id INTEGER NOT NULL REFERENCES datasets(id),
                  eval_settings TEXT NOT NULL,
                  status TEXT NOT NULL CHECK(status IN ('finished', 'failed')),
                  error TEXT, started_at TEXT, finished_at TEXT, seconds REAL,
                  arrays_file TEXT, provenance_id INTEGER REFERENCES provenance(id));
CREATE TABLE layer_results(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                           name TEXT NOT NULL, rows INTEGER, cols INTEGER, bits_per_weight REAL,
                           mse REAL, sqnr_db REAL, max_abs_error REAL, h5_path TEXT,
                           PRIMARY KEY(run_id, name));
CREATE UNIQUE INDEX runs_finished_once ON runs(recipe_id, model_id, dataset_id, eval_settings)
    WHERE status = 'finished';
)sql";

// Version 1 -> 2: new metric columns, HDF5 pointers, provenance, and one finished run per key
// (duplicates a v1 file may hold are dropped, keeping the oldest).
constexpr const char* kMigrate1To2 = R"sql(
ALTER TABLE runs ADD COLUMN kld_p99 REAL;
ALTER TABLE runs ADD COLUMN top1_agreement REAL;
ALTER TABLE runs ADD COLUMN accuracy REAL;
ALTER TABLE runs ADD COLUMN model_bytes REAL;
ALTER TABLE runs ADD COLUMN arrays_file TEXT;
ALTER TABLE runs ADD COLUMN provenance_id INTEGER REFERENCES provenance(id);
ALTER TABLE layer_results ADD COLUMN max_abs_error REAL;
ALTER TABLE layer_results ADD COLUMN h5_path TEXT;
CREATE TABLE provenance(id INTEGER PRIMARY KEY, program_version TEXT, host TEXT, date TEXT, command_line TEXT);
DELETE FROM layer_results WHERE run_id IN (SELECT r.id FROM runs r WHERE r.status = 'finished' AND EXISTS (
    SELECT 1 FROM runs o WHERE o.status = 'finished' AND o.recipe_id = r.recipe_id AND o.model_id = r.model_id
    AND o.dataset_id = r.dataset_id AND o.eval_settings = r.eval_settings AND o.id < r.id));
DELETE FROM runs WHERE status = 'finished' AND EXISTS (
    SELECT 1 FROM runs o WHERE o.status = 'finished' AND o.recipe_id = runs.recipe_id AND o.model_id = runs.model_id
    AND o.dataset_id = runs.dataset_id AND o.eval_settings = runs.eval_settings AND o.id < runs.id);
CREATE UNIQUE INDEX runs_finished_once ON runs(recipe_id, model_id, dataset_id, eval_settings)
    WHERE status = 'finished';
)sql";

// The stored metrics of the table, in its order: one REAL column of runs each (added to older
// projects by addMetricColumns, so a new metric needs no migration of its own).
std::vector<const RunMetric*> storedMetrics() {
    std::vector<const RunMetric*> out;
    for (const auto& m : runMetricTable())
        if (m.field) out.push_back(&m);
    return out;
}

const std::string& runColumns() {
    static const std::string cols = [] {
        std::string s = "r.id, r.recipe_id, r.model_id, r.dataset_id, IFNULL(r.provenance_id, 0), c.json, "
                        "IFNULL(c.label, ''), r.eval_settings, r.status, IFNULL(r.error, ''), IFNULL(r.started_at, ''), "
                        "IFNULL(r.finished_at, ''), IFNULL(r.seconds, 0), IFNULL(r.arrays_file, '')";
        for (const RunMetric* m : storedMetrics()) s += ", r." + std::string(m->key);
        return s + " FROM runs r JOIN recipes c ON c.id = r.recipe_id";
    }();
    return cols;
}
constexpr int kFirstMetricColumn = 14;

RunRecord readRun(const sql::Statement& st) {
    RunRecord r;
    r.id = st.getInt(0);
    r.recipeId = st.getInt(1);
    r.modelId = st.getInt(2);
    r.datasetId = st.getInt(3);
    r.provenanceId = st.getInt(4);
    r.recipe = st.getText(5);
    r.recipeLabel = st.getText(6);
    r.evalSettings = st.getText(7);
    r.status = st.getText(8);
    r.error = st.getText(9);
    r.startedAt = st.getText(10);
    r.finishedAt = st.getText(11);
    r.seconds = st.getDouble(12);
    r.arraysFile = st.getText(13);
    int column = kFirstMetricColumn;
    for (const RunMetric* m : storedMetrics()) r.metrics.*(m->field) = st.getOptDouble(column++);
    return r;
}

// Sort keys map to columns; a fixed list keeps user text out of the SQL.
const std::vector<std::pair<std::string, std::string>>& sortColumns() {
    static const std::vector<std::pair<std::string, std::string>> cols = [] {
        std::vector<std::pair<std::string, std::string>> c{{"id", "r.id"}};
        for (const auto& m : runMetricTable())
            c.emplace_back(std::string(m.key), m.field ? "r." + std::string(m.key) : std::string(m.sql));
        for (const char* k : {"seconds", "started_at", "finished_at", "status"}) c.emplace_back(k, "r." + std::string(k));
        c.emplace_back("recipe", "c.label");
        return c;
    }();
    return cols;
}

nlohmann::json opt(const std::optional<double>& v) {
    return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

} // namespace

nlohmann::json RunRecord::toJson() const {
    nlohmann::json j{{"id", id},
                     {"recipe", nlohmann::json::parse(recipe, nullptr, false)},
                     {"recipe_label", recipeLabel},
                     {"model_id", modelId},
                     {"dataset_id", datasetId},
                     {"eval_settings", nlohmann::json::parse(evalSettings, nullptr, false)},
                     {"status", status},
                     {"started_at", startedAt},
                     {"finished_at", finishedAt},
                     {"seconds", seconds},
                     {"arrays_file", arraysFile}};
    for (const auto& m : runMetricTable()) j[std::string(m.key)] = opt(metricValue(m, metrics));
    if (!error.empty()) j["error"] = error;
    return j;
}

std::unique_ptr<Project> Project::open(const std::filesystem::path& path, bool create) {
    return std::unique_ptr<Project>(new Project(path, create));
}

Project::Project(const std::filesystem::path& path, bool create) : m_path(path) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    if (!exists && !create) throw Error(path.string() + ": no such project file");
    if (exists) {
        if (std::filesystem::is_directory(path, ec)) throw Error(path.string() + ": is a directory, not a project file");
        // Check the header ourselves: SQLite only notices a foreign file at the first query, and its
        // message ("file is not a database") does not say which file.
        std::ifstream f(path, std::ios::binary);
        if (!f) throw Error(path.string() + ": cannot read the project file");
        std::array<char, 16> head{};
        f.read(head.data(), head.size());
        const auto got = f.gcount();
        if (got > 0 && (got < 16 || std::memcmp(head.data(), "SQLite format 3\0", 16) != 0))
            throw Error(path.string() + ": not a QuantScope project (not an SQLite database)");
    }
    m_db = std::make_unique<sql::Database>(path, create);
    initialize(create);
}

Project::~Project() = default;

std::filesystem::path Project::arraysDir() const { return m_path.string() + ".runs"; }

void Project::initialize(bool create) {
    auto& db = *m_db;
    std::int64_t appId = 0, version = 0, tables = 0;
    try {
        // One read transaction: another process may be creating the schema right now, and three separate
        // reads could see its tables but not yet its application id.
        db.exec("BEGIN");
        try {
            appId = db.queryInt("PRAGMA application_id");
            version = db.queryInt("PRAGMA user_version");
            tables = db.queryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table'");
        } catch (...) {
            db.exec("ROLLBACK");
            throw;
        }
        db.exec("COMMIT");
    } catch (const Error& e) {
        throw Error(m_path.string() + ": not a readable QuantScope project (" + e.what() + ")");
    }
    if (appId == 0 && tables == 0) {
        if (!create) throw Error(m_path.string() + ": an empty database, not a QuantScope project");
        sql::Transaction tx(db); // WAL comes after: a journal mode cannot change inside a transaction
        // Re-check under the write lock: another process may have created the schema meanwhile.
        if (db.queryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table'") == 0) {
            db.exec(kSchema);
            // The metric columns in the same transaction, so no process ever sees runs without them.
            for (const RunMetric* m : storedMetrics()) db.exec("ALTER TABLE runs ADD COLUMN " + std::string(m->key) + " REAL");
            db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
            db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
        }
        tx.commit();
        appId = db.queryInt("PRAGMA application_id");
        version = db.queryInt("PRAGMA user_version");
    }
    if (appId != kApplicationId) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "0x%08llx", static_cast<unsigned long long>(appId));
        throw Error(m_path.string() + ": an SQLite database but not a QuantScope project (application_id " + buf +
                    ", expected 0x5153504a)");
    }
    if (version > kSchemaVersion)
        throw Error(m_path.string() + ": project schema version " + std::to_string(version) +
                    " was written by a newer QuantScope (this one reads up to " + std::to_string(kSchemaVersion) + ")");
    if (version < 1) throw Error(m_path.string() + ": project has no schema version (damaged file)");
    if (version < kSchemaVersion) migrate(static_cast<int>(version));
    addMetricColumns();
    addSettingsTable();
    addAnalysisTables();
    for (const char* t : kTables) {
        sql::Statement st(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
        st.bind(1, t);
        if (!st.step() || st.getInt(0) == 0)
            throw Error(m_path.string() + ": damaged QuantScope project: table '" + std::string(t) + "' is missing");
    }
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA synchronous = NORMAL"); // WAL + NORMAL: durable against a killed process
    if (db.queryInt("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 0)
        db.execRetryingBusy("PRAGMA journal_mode = WAL"); // several processes may open a new project at once
}

void Project::addMetricColumns() {
    auto& db = *m_db;
    std::vector<std::string> missing;
    for (const RunMetric* m : storedMetrics()) {
        sql::Statement st(db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = ?");
        st.bind(1, std::string(m->key));
        if (st.step() && st.getInt(0) == 0) missing.emplace_back(m->key);
    }
    if (missing.empty()) return;
    sql::Transaction tx(db);
    for (const auto& key : missing) {
        // Another process may have added it between the check and the write lock.
        sql::Statement st(db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = ?");
        st.bind(1, key);
        if (st.step() && st.getInt(0) == 0) db.exec("ALTER TABLE runs ADD COLUMN " + key + " REAL");
    }
    tx.commit();
}

void Project::addSettingsTable() {
    auto& db = *m_db;
    if (db.queryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'settings'") > 0) return;
    sql::Transaction tx(db);
    db.exec("CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    tx.commit();
}

std::optional<std::string> Project::setting(const std::string& key) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, "SELECT value FROM settings WHERE key = ?");
    st.bind(1, key);
    if (!st.step()) return std::nullopt;
    return st.getText(0);
}

void Project::setSetting(const std::string& key, const std::string& value) {
    std::lock_guard lock(m_mutex);
    sql::Statement(*m_db, "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(1, key)
        .bind(2, value)
        .run();
}

void Project::migrate(int from) {
    auto& db = *m_db;
    sql::Transaction tx(db);
    // Another process may have migrated between our version check and the write lock.
    int v = static_cast<int>(db.queryInt("PRAGMA user_version"));
    if (v < from) v = from;
    if (v == 1) {
        db.exec(kMigrate1To2);
        v = 2;
    }
    db.exec("PRAGMA user_version = " + std::to_string(v));
    tx.commit();
}

std::int64_t Project::ensureModel(const ModelRecord& m) {
    std::lock_guard lock(m_mutex);
    sql::Transaction tx(*m_db);
    sql::Statement find(*m_db, "SELECT id FROM models WHERE hash = ?");
    find.bind(1, m.hash);
    std::int64_t id = 0;
    if (find.step()) {
        id = find.getInt(0);
        sql::Statement(*m_db, "UPDATE models SET path = ? WHERE id = ?").bind(1, m.path).bind(2, id).run();
    } else {
        sql::Statement(*m_db, "INSERT INTO models(path, hash, architecture, parameters) VALUES (?, ?, ?, ?)")
            .bind(1, m.path)
            .bind(2, m.hash)
            .bind(3, m.architecture)
            .bind(4, m.parameters)
            .run();
        id = m_db->lastInsertId();
    }
    tx.commit();
    return id;
}

std::int64_t Project::ensureDataset(const DatasetRecord& d) {
    std::lock_guard lock(m_mutex);
    sql::Transaction tx(*m_db);
    sql::Statement find(*m_db, "SELECT id FROM datasets WHERE hash = ?");
    find.bind(1, d.hash);
    std::int64_t id = 0;
    if (find.step()) {
        id = find.getInt(0);
        sql::Statement(*m_db, "UPDATE datasets SET path = ? WHERE id = ?").bind(1, d.path).bind(2, id).run();
    } else {
        sql::Statement(*m_db, "INSERT INTO datasets(path, hash, tokens) VALUES (?, ?, ?)")
            .bind(1, d.path)
            .bind(2, d.hash)
            .bind(3, d.tokens)
            .run();
        id = m_db->lastInsertId();
    }
    tx.commit();
    return id;
}

std::int64_t Project::insertProvenance(const ProvenanceRecord& p) {
    sql::Statement(*m_db, "INSERT INTO provenance(program_version, host, date, command_line) VALUES (?, ?, ?, ?)")
        .bind(1, p.programVersion)
        .bind(2, p.host)
        .bind(3, p.date)
        .bind(4, p.commandLine)
        .run();
    return m_db->lastInsertId();
}

std::int64_t Project::addProvenance(const std::string& commandLine) {
    std::lock_guard lock(m_mutex);
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    ProvenanceRecord p;
    p.programVersion = QS_VERSION;
    p.host = host;
    p.date = isoTimeNow();
    p.commandLine = commandLine;
    return insertProvenance(p);
}

std::int64_t Project::ensureProvenance(const ProvenanceRecord& p) {
    std::lock_guard lock(m_mutex);
    sql::Transaction tx(*m_db);
    sql::Statement find(*m_db, "SELECT id FROM provenance WHERE IFNULL(program_version, '') = ? AND IFNULL(host, '') = ? "
                               "AND IFNULL(date, '') = ? AND IFNULL(command_line, '') = ? ORDER BY id LIMIT 1");
    find.bind(1, p.programVersion).bind(2, p.host).bind(3, p.date).bind(4, p.commandLine);
    if (find.step()) return find.getInt(0); // rolled back (nothing written) by the destructor
    const std::int64_t id = insertProvenance(p);
    tx.commit();
    return id;
}

std::set<std::string> Project::finishedRecipes(std::int64_t modelId, std::int64_t datasetId,
                                               const std::string& evalSettings) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, "SELECT c.json FROM runs r JOIN recipes c ON c.id = r.recipe_id WHERE r.status = "
                             "'finished' AND r.model_id = ? AND r.dataset_id = ? AND r.eval_settings = ?");
    st.bind(1, modelId).bind(2, datasetId).bind(3, evalSettings);
    std::set<std::string> out;
    while (st.step()) out.insert(st.getText(0));
    return out;
}

std::int64_t Project::ensureRecipe(const std::string& json, const std::string& label) {
    sql::Statement(*m_db, "INSERT OR IGNORE INTO recipes(json, label) VALUES (?, ?)").bind(1, json).bind(2, label).run();
    sql::Statement st(*m_db, "SELECT id FROM recipes WHERE json = ?");
    st.bind(1, json);
    if (!st.step()) throw Error(m_path.string() + ": recipe row vanished");
    return st.getInt(0);
}

std::optional<std::int64_t> Project::storeRun(const NewRun& run) {
    std::lock_guard lock(m_mutex);
    sql::Transaction tx(*m_db); // holds the write lock: the duplicate check and the insert are one step
    const std::int64_t recipeId = ensureRecipe(run.recipe, run.recipeLabel);
    if (run.status == "finished") {
        sql::Statement dup(*m_db, "SELECT id FROM runs WHERE status = 'finished' AND recipe_id = ? AND model_id = ? "
                                  "AND dataset_id = ? AND eval_settings = ?");
        dup.bind(1, recipeId).bind(2, run.modelId).bind(3, run.datasetId).bind(4, run.evalSettings);
        if (dup.step()) return std::nullopt; // rolled back by the destructor
    }
    std::string columns = "recipe_id, model_id, dataset_id, eval_settings, status, error, started_at, finished_at, "
                          "seconds, provenance_id",
                values = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?";
    for (const RunMetric* m : storedMetrics()) columns += ", " + std::string(m->key), values += ", ?";
    sql::Statement ins(*m_db, "INSERT INTO runs(" + columns + ") VALUES (" + values + ")");
    ins.bind(1, recipeId).bind(2, run.modelId).bind(3, run.datasetId).bind(4, run.evalSettings).bind(5, run.status);
    if (run.error.empty()) ins.bindNull(6); else ins.bind(6, run.error);
    ins.bind(7, run.startedAt).bind(8, run.finishedAt).bind(9, run.seconds);
    if (run.provenanceId) ins.bind(10, run.provenanceId); else ins.bindNull(10);
    int column = 11;
    for (const RunMetric* m : storedMetrics()) ins.bind(column++, run.metrics.*(m->field));
    ins.run();
    const std::int64_t id = m_db->lastInsertId();

    if (!run.arrays.layers.empty() || !run.arraysFrom.empty()) {
        // Written and renamed into place before COMMIT: a committed row never points at a missing file.
        const std::string file = "run-" + std::to_string(id) + ".h5";
        std::filesystem::create_directories(arraysDir());
        if (!run.arraysFrom.empty())
            copyFileAtomically(run.arraysFrom, arraysDir() / file);
        else
            writeRunArrays(arraysDir() / file, run.arrays);
        sql::Statement(*m_db, "UPDATE runs SET arrays_file = ? WHERE id = ?").bind(1, file).bind(2, id).run();
    }
    sql::Statement lay(*m_db, "INSERT INTO layer_results(run_id, name, rows, cols, bits_per_weight, mse, sqnr_db, "
                              "max_abs_error, h5_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& l : run.layers) {
        lay.bind(1, id).bind(2, l.name).bind(3, l.rows).bind(4, l.cols).bind(5, l.bitsPerWeight).bind(6, l.mse);
        lay.bind(7, l.sqnrDb && std::isfinite(*l.sqnrDb) ? l.sqnrDb : std::nullopt);
        lay.bind(8, l.maxAbsError).bind(9, l.h5Path);
        lay.run();
    }
    tx.commit();
    return id;
}

std::vector<RunRecord> Project::runs(const std::string& sortKey, bool descending) {
    std::string column;
    for (const auto& [k, c] : sortColumns())
        if (k == sortKey) column = c;
    if (column.empty()) {
        std::string keys;
        for (const auto& [k, c] : sortColumns()) keys += (keys.empty() ? "" : ", ") + k;
        throw Error("unknown sort key '" + sortKey + "' (one of: " + keys + ")");
    }
    std::lock_guard lock(m_mutex);
    // NULLs (e.g. failed runs) last either way.
    sql::Statement st(*m_db, "SELECT " + runColumns() + " ORDER BY (" + column + ") IS NULL, " + column +
                                 (descending ? " DESC" : " ASC") + ", r.id");
    std::vector<RunRecord> out;
    while (st.step()) out.push_back(readRun(st));
    return out;
}

std::optional<RunRecord> Project::run(std::int64_t id) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, "SELECT " + runColumns() + " WHERE r.id = ?");
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return readRun(st);
}

std::vector<LayerResultRecord> Project::layers(std::int64_t runId) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, "SELECT name, rows, cols, bits_per_weight, mse, sqnr_db, IFNULL(max_abs_error, 0), "
                             "IFNULL(h5_path, '') FROM layer_results WHERE run_id = ? ORDER BY rowid");
    st.bind(1, runId);
    std::vector<LayerResultRecord> out;
    while (st.step()) {
        LayerResultRecord l;
        l.name = st.getText(0);
        l.rows = st.getInt(1);
        l.cols = st.getInt(2);
        l.bitsPerWeight = st.getDouble(3);
        l.mse = st.getDouble(4);
        l.sqnrDb = st.getOptDouble(5);
        l.maxAbsError = st.getDouble(6);
        l.h5Path = st.getText(7);
        out.push_back(std::move(l));
    }
    return out;
}

ModelRecord Project::model(std::int64_t id) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, "SELECT id, path, hash, IFNULL(architecture, ''), IFNULL(parameters, 0) FROM models WHERE id = ?");
    st.bind(1, id);
    if (!st.step()) throw Error(m_path.string() + ": no model with id " + std::to_string(id));
    return {st.getInt(0), st.getText(1), st.getText(2), st.getText(3), st.getInt(4)};
}

DatasetRecord Project::dataset(std::int64_t id) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, "SELECT id, path, hash, IFNULL(tokens, 0) FROM datasets WHERE id = ?");
    st.bind(1, id);
    if (!st.step()) throw Error(m_path.string() + ": no dataset with id " + std::to_string(id));
    return {st.getInt(0), st.getText(1), st.getText(2), st.getInt(3)};
}

ProvenanceRecord Project::provenance(std::int64_t id) {
    std::lock_guard lock(m_mutex);
    sql::Statement st(*m_db, "SELECT id, IFNULL(program_version, ''), IFNULL(host, ''), IFNULL(date, ''), "
                             "IFNULL(command_line, '') FROM provenance WHERE id = ?");
    st.bind(1, id);
    if (!st.step()) throw Error(m_path.string() + ": no provenance with id " + std::to_string(id));
    return {st.getInt(0), st.getText(1), st.getText(2), st.getText(3), st.getText(4)};
}

RunArrays Project::runArrays(std::int64_t runId) {
    const auto r = run(runId);
    if (!r) throw Error(m_path.string() + ": no run with id " + std::to_string(runId));
    if (r->arraysFile.empty()) throw Error(m_path.string() + ": run " + std::to_string(runId) + " has no arrays");
    return readRunArrays(arraysDir() / r->arraysFile);
}

std::string contentHash(const std::filesystem::path& path) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(path)) {
        for (const auto& e : std::filesystem::directory_iterator(path)) {
            const std::string n = e.path().filename().string();
            if (e.is_regular_file() && (n.ends_with(".safetensors") || n.ends_with(".json") || n == "tokenizer.model"))
                files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
    } else {
        files.push_back(path);
    }
    // 64-bit FNV-1a over 8-byte words (an identity check, not a cryptographic hash).
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&](std::uint64_t w) { h = (h ^ w) * 1099511628211ull; };
    std::vector<char> buf(1 << 20);
    for (const auto& f : files) {
        for (char c : f.filename().string()) mix(static_cast<unsigned char>(c));
        std::ifstream in(f, std::ios::binary);
        if (!in) throw Error(f.string() + ": cannot read (for its content hash)");
        std::uint64_t total = 0;
        while (in) {
            in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
            const auto n = static_cast<std::size_t>(in.gcount());
            std::size_t i = 0;
            for (; i + 8 <= n; i += 8) {
                std::uint64_t w;
                std::memcpy(&w, buf.data() + i, 8);
                mix(w);
            }
            for (; i < n; ++i) mix(static_cast<unsigned char>(buf[i]));
            total += n;
        }
        mix(total);
    }
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

std::string absolutePath(const std::filesystem::path& p) {
    return std::filesystem::absolute(p).lexically_normal().string();
}

std::string absoluteSpec(const std::string& spec) {
    if (!isHdf5Spec(spec)) return absolutePath(spec);
    const auto [file, dataset] = splitHdf5Spec(spec);
    return absolutePath(file) + ":" + dataset;
}

std::string specHash(const std::string& spec) {
    if (!isHdf5Spec(spec)) return contentHash(spec);
    const auto [file, dataset] = splitHdf5Spec(spec);
    return contentHash(file) + ":" + dataset;
}

std::string isoTimeNow() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

} // namespace qs::core
