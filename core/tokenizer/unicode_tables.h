// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <cstdint>

// Raw Unicode Character Database tables, generated into unicode_tables.cpp by gen_unicode_tables.py.
// Use the functions of unicode.h instead of these.
namespace qs::core::unicode_tables {

/// An inclusive code point range [first, last].
struct CodeRange {
    std::uint32_t first;
    std::uint32_t last;
};
/// A run of code points sharing one non-zero canonical combining class.
struct CombiningClassRun {
    std::uint32_t first;
    std::uint32_t last;
    std::uint8_t ccc;
};
/// A canonical decomposition: `cp` -> `first` (+ `second` when non-zero), one level deep.
struct Decomposition {
    std::uint32_t cp;
    std::uint32_t first;
    std::uint32_t second;
};
/// A primary composite: `first` + `second` -> `composite`, sorted by (first, second).
struct Composition {
    std::uint32_t first;
    std::uint32_t second;
    std::uint32_t composite;
};

extern const CodeRange kLetters[];
extern const std::size_t kLettersCount;
extern const CodeRange kNumbers[];
extern const std::size_t kNumbersCount;
extern const CodeRange kWhiteSpace[];
extern const std::size_t kWhiteSpaceCount;
extern const CombiningClassRun kCombiningClasses[];
extern const std::size_t kCombiningClassesCount;
extern const Decomposition kDecompositions[];
extern const std::size_t kDecompositionsCount;
extern const Composition kCompositions[];
extern const std::size_t kCompositionsCount;

} // namespace qs::core::unicode_tables
