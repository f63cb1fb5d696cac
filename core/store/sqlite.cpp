// SPDX-License-Identifier: MIT
#include "store/sqlite.h"

#include "base/error.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace qs::core::sql {

Database::Database(const std::filesystem::path& path, bool create, int busyTimeoutMs)
    : m_path(path), m_busyTimeoutMs(busyTimeoutMs) {
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &m_db, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string msg = m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
        sqlite3_close(m_db);
        m_db = nullptr;
        throw Error(path.string() + ": cannot open: " + msg);
    }
    sqlite3_extended_result_codes(m_db, 1);
    sqlite3_busy_timeout(m_db, busyTimeoutMs);
}

Database::~Database() { sqlite3_close_v2(m_db); }

void Database::fail(const std::string& what) const {
    throw Error(m_path.string() + ": " + what + ": " + sqlite3_errmsg(m_db));
}

// sqlite3_exec's result code; on failure, `error` holds the message naming the file and statement.
int Database::tryExec(const std::string& sql, std::string& error) {
    char* err = nullptr;
    const int rc = sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) error = m_path.string() + ": " + (err ? err : sqlite3_errmsg(m_db)) + " (in '" + sql.substr(0, 60) + "')";
    sqlite3_free(err);
    return rc;
}

void Database::exec(std::string_view sql) {
    std::string error;
    if (tryExec(std::string(sql), error) != SQLITE_OK) throw Error(error);
}

void Database::execRetryingBusy(std::string_view sql) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(m_busyTimeoutMs);
    const std::string s(sql);
    std::string error;
    for (int pause = 1;; pause = std::min(pause * 2, 50)) {
        const int rc = tryExec(s, error);
        if (rc == SQLITE_OK) return;
        if ((rc & 0xFF) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) throw Error(error);
        std::this_thread::sleep_for(std::chrono::milliseconds(pause)); // the other connection finishes
    }
}

std::int64_t Database::queryInt(std::string_view sql) {
    Statement st(*this, sql);
    return st.step() ? st.getInt(0) : 0;
}

std::int64_t Database::lastInsertId() const { return sqlite3_last_insert_rowid(m_db); }

Statement::Statement(Database& db, std::string_view sql) : m_db(db) {
    if (sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &m_stmt, nullptr) != SQLITE_OK)
        db.fail("cannot prepare '" + std::string(sql.substr(0, 60)) + "'");
}

Statement::~Statement() { sqlite3_finalize(m_stmt); }

Statement& Statement::bind(int i, std::int64_t v) {
    if (sqlite3_bind_int64(m_stmt, i, v) != SQLITE_OK) m_db.fail("bind");
    return *this;
}
Statement& Statement::bind(int i, double v) {
    if (sqlite3_bind_double(m_stmt, i, v) != SQLITE_OK) m_db.fail("bind");
    return *this;
}
Statement& Statement::bind(int i, std::string_view v) {
    if (sqlite3_bind_text(m_stmt, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
        m_db.fail("bind");
    return *this;
}
Statement& Statement::bind(int i, const std::optional<double>& v) { return v ? bind(i, *v) : bindNull(i); }
Statement& Statement::bindNull(int i) {
    if (sqlite3_bind_null(m_stmt, i) != SQLITE_OK) m_db.fail("bind");
    return *this;
}

bool Statement::step() {
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    m_db.fail("query failed");
}

void Statement::run() {
    while (step()) {
    }
    reset();
}

void Statement::reset() {
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

bool Statement::isNull(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }
std::int64_t Statement::getInt(int col) const { return sqlite3_column_int64(m_stmt, col); }
double Statement::getDouble(int col) const { return sqlite3_column_double(m_stmt, col); }
std::string Statement::getText(int col) const {
    const auto* p = sqlite3_column_text(m_stmt, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, col)))
             : std::string();
}
std::optional<double> Statement::getOptDouble(int col) const {
    if (isNull(col)) return std::nullopt;
    return getDouble(col);
}

Transaction::Transaction(Database& db) : m_db(db) { m_db.exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
    if (!m_done) sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}
void Transaction::commit() {
    m_db.exec("COMMIT");
    m_done = true;
}

} // namespace qs::core::sql
