// SPDX-License-Identifier: MIT
// Empty: qs_view_pch only builds the built-in views' precompiled header (views/CMakeLists.txt).
