# SPDX-License-Identifier: MIT
# One function per artifact kind, so adding a test or a view is three lines.

# Precompiled headers. Eigen, nlohmann/json and the standard library are about a third of an engine
# file's compile time, Qt and QCustomPlot about half of a view's: each target parses them once.
set(QS_PCH_CORE <Eigen/Dense> <nlohmann/json.hpp> <algorithm> <cmath> <cstdint> <filesystem> <fstream>
    <functional> <map> <memory> <optional> <random> <sstream> <stdexcept> <string> <unordered_map> <vector>)
set(QS_PCH_QT ${QS_PCH_CORE} <QtWidgets> <qcustomplot.h>)

# qs_add_test(NAME SOURCES ... [LIBS ...] [LABELS ...])
# A GoogleTest executable registered with ctest; tests find the fixtures via QS_FIXTURES_DIR
# and write what they produce under QS_TEST_OUTPUT_DIR.
function(qs_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE GTest::gtest_main GTest::gmock ${ARG_LIBS})
  # Helpers every test binary may use (e.g. the built-in registries, built once).
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/common)
  target_compile_definitions(${name} PRIVATE
    QS_FIXTURES_DIR="${QS_FIXTURES_DIR}"
    QS_TEST_OUTPUT_DIR="${CMAKE_BINARY_DIR}/test-output"
    QS_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    QS_BIN_DIR="${CMAKE_BINARY_DIR}/bin"
    QS_LIB_DIR="${CMAKE_BINARY_DIR}/lib")
  target_precompile_headers(${name} PRIVATE <gtest/gtest.h> ${QS_PCH_CORE})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${ARG_LABELS}"
               ENVIRONMENT "QT_QPA_PLATFORM=offscreen;OMP_WAIT_POLICY=PASSIVE")
endfunction()

# qs_add_view_plugin(NAME SOURCES ... [LIBS ...] [MODULE])
# A view plugin: a static library linked into the GUI (built-ins), or with MODULE
# a shared object loaded at run time with QPluginLoader (external plugins).
function(qs_add_view_plugin name)
  cmake_parse_arguments(ARG "MODULE" "" "SOURCES;LIBS" ${ARGN})
  if(ARG_MODULE)
    add_library(${name} MODULE ${ARG_SOURCES})
    set_target_properties(${name} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib/quantscope/plugins PREFIX ""
      INSTALL_RPATH "$ORIGIN/../../../${CMAKE_INSTALL_LIBDIR}")
    # The GUI looks for plugins in <bindir>/../lib/quantscope/plugins (a fixed "lib").
    install(TARGETS ${name} LIBRARY DESTINATION lib/quantscope/plugins)
  else()
    add_library(${name} STATIC ${ARG_SOURCES})
    target_compile_definitions(${name} PRIVATE QT_STATICPLUGIN)
    # A view is a few files: it reuses qs_view_pch's precompiled header, built with the same flags.
    if("quantscope_view_common" IN_LIST ARG_LIBS)
      target_precompile_headers(${name} REUSE_FROM qs_view_pch)
    endif()
  endif()
  target_link_libraries(${name} PUBLIC quantscope_plugin_api ${ARG_LIBS})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
endfunction()
