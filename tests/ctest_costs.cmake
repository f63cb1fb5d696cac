# SPDX-License-Identifier: MIT
# Included by ctest after the discovered tests (tests/CMakeLists.txt). The tests that take half a minute
# or more in Release, longest first: ctest -j starts the costliest first (only the order matters). A name
# that a build lacks is ignored.
set(_qs_long_tests
  QatFixture.Int2BeatsGptqGivenTheSameCalibrationText
  CliLowMemory.CalibratedTransformsEqualTheWholeModelPath
  CliMixedPrecision.BudgetsRespectedCladoNoWorseThanUniformAndStoredOnce
  LlamaCpp.PerplexityOfEachExportEqualsOurPrediction
  CliPredict.LeaveOneOutBeatsTheMeanAndUnseenRecipesAreRanked
  LlamaCpp.KlDivergenceAgainstLlamaCppsBaseFile
  ResqModel.GptqOnePassAcrossTheSplit
  LayerMajor.CalibratedMethodsEqualTheLayerSequentialPath
  GradTransforms.ThroughQuantizationTheLossIsTheForwardPasses)
set(_qs_cost 1000)
foreach(_qs_test IN LISTS _qs_long_tests)
  set_tests_properties("${_qs_test}" PROPERTIES COST ${_qs_cost})
  math(EXPR _qs_cost "${_qs_cost} - 10")
endforeach()
