// SPDX-License-Identifier: MIT
#pragma once
#include <QByteArray>
#include <QString>
#include <ostream>

/// Lets GoogleTest print QStrings as text.
inline void PrintTo(const QString& s, std::ostream* os) {
    *os << '"' << s.toStdString() << '"';
}

namespace qs::test {

/// Creates the process's QApplication once: offscreen platform unless one is set, a private 0700
/// XDG_RUNTIME_DIR, and QSettings in a temporary directory so tests never touch the user's.
void ensureApp();

/// QS_FIXTURES_DIR "/tinyllama-bpe512".
QString fixtureModel();

/// QS_TEST_OUTPUT_DIR "/gui/<Suite>.<Test>" for the running test, created when missing.
QString outputDir();

/// The bytes of a file, empty when it cannot be read.
QByteArray readFile(const QString& path);

} // namespace qs::test
