// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace qs::core::sql {

/// An open SQLite connection (RAII). Every failure throws qs::core::Error naming the database file,
/// so a user always learns which file is broken.
class Database {
public:
    /// Opens (and with `create`, creates) `path` read-write with a busy timeout, so two processes (GUI
    /// and CLI) can share one file: writers wait up to `busyTimeoutMs` for each other instead of failing.
    Database(const std::filesystem::path& path, bool create, int busyTimeoutMs = 10000);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Runs one or more statements without results.
    void exec(std::string_view sql);
    /// exec, tried again while SQLite answers "busy" without waiting, up to the busy timeout: it does
    /// so where waiting could deadlock, as when two connections holding read locks both want the
    /// exclusive lock that changing the journal mode takes.
    void execRetryingBusy(std::string_view sql);
    /// The first column of the first row of `sql` as an integer (0 when there is no row).
    std::int64_t queryInt(std::string_view sql);
    /// rowid of the last INSERT on this connection.
    std::int64_t lastInsertId() const;
    /// The raw handle (for Statement).
    sqlite3* handle() const { return m_db; }
    /// The database file.
    const std::filesystem::path& path() const { return m_path; }
    /// Throws Error("<file>: <what>: <sqlite message>") for a non-OK result code.
    [[noreturn]] void fail(const std::string& what) const;

private:
    int tryExec(const std::string& sql, std::string& error);

    sqlite3* m_db = nullptr;
    std::filesystem::path m_path;
    int m_busyTimeoutMs = 0;
};

/// A prepared statement; bind parameters are 1-based, columns 0-based.
class Statement {
public:
    Statement(Database& db, std::string_view sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int i, std::int64_t v);
    Statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
    Statement& bind(int i, double v);
    Statement& bind(int i, std::string_view v);
    Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
    /// Binds NULL when `v` is empty.
    Statement& bind(int i, const std::optional<double>& v);
    Statement& bindNull(int i);

    /// Steps once: true while a row is available, false when done. Throws Error on failure.
    bool step();
    /// Steps to completion (for INSERT/UPDATE), then resets for reuse.
    void run();
    /// Resets the statement and clears bindings.
    void reset();

    bool isNull(int col) const;
    std::int64_t getInt(int col) const;
    double getDouble(int col) const;
    std::string getText(int col) const;
    /// NULL → nullopt.
    std::optional<double> getOptDouble(int col) const;

private:
    Database& m_db;
    sqlite3_stmt* m_stmt = nullptr;
};

/// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted (an exception). IMMEDIATE takes
/// the write lock up front, so a read-then-write check (e.g. "is this run already stored?") cannot
/// race with another process.
class Transaction {
public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Database& m_db;
    bool m_done = false;
};

} // namespace qs::core::sql
