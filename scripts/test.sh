#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The one test command: builds what changed and runs every test with ctest; then builds the Qt-free
# core and its unit tests under AddressSanitizer + UBSan (clang) and runs those too (the end-to-end tests
# drive the same code through the CLI; under ASan they would double the CI time for little extra
# coverage), then fuzzes every file reader for a minute in that same build (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
# Each stage's minutes in the log: CI has 90 on 2 cores, and growth shows here before it fails.
t0=$(date +%s) && last=$t0
stage_done() {
  local now && now=$(date +%s)
  printf 'test.sh: %s took %d:%02d (total %d:%02d)\n' "$1" $(((now - last) / 60)) $(((now - last) % 60)) \
    $(((now - t0) / 60)) $(((now - t0) % 60))
  last=$now
}
scripts/build.sh
stage_done "Release build"
ctest --test-dir build --output-on-failure -j 2
stage_done "Release ctest"
# The .deb: built by cpack, validated, installed with apt-get and run on the demo (scripts/deb-test.sh).
if [ "${QS_SKIP_DEB:-0}" != "1" ]; then
  scripts/deb-test.sh
  stage_done ".deb check"
fi
# A real single-node Slurm runs a 4-task sweep array and its merge (packaging/slurm), compared with one
# process run for run (about a minute); QS_SKIP_SLURM=1 leaves it out.
if [ "${QS_SKIP_SLURM:-0}" != "1" ]; then
  scripts/slurm-test.sh build
  stage_done "Slurm check"
fi
if [ "${QS_SKIP_ASAN:-0}" != "1" ]; then
  scripts/configure-asan.sh
  cmake --build build-asan -j "$(nproc)" --target qs_core_tests
  stage_done "ASan build"
  # The whole-model cases (fixture perplexities over every window, through transforms, GPTQ/AWQ/DGQ)
  # take 0.5-6 minutes each under ASan; the unit tests and the small whole-model cases left in (layer
  # by layer, one window) exercise the same code on small inputs.
  heavy="ResqModel|RotationModel|RotateModel|SmoothQuantModel|GptqModel|GptqFixture|FixtureQuantLogits"
  heavy+="|RtnPerplexity|Perplexity.Fp32MatchesReference|Kld.QuantizedModelAgainstFp32|ActPercentile.Dgq"
  heavy+="|LayerMajor.(Calibrated|OtherRtn|RtnInt4|ActivationAndKv|Fp32Perplexity)"
  heavy+="|TransformedStats.(SmoothQuant|ReadsTheCache|HadamardRotation)"
  heavy+="|QatFixture|Qat.AfterRotations|GradFixture.Float64|GradFixture.CurvatureAlong|GradTransforms.(TransformedFloat|ThroughQuantization)"
  heavy+="|Sensitivity.PrefixCacheAndThreadCountChangeNoBit|SensitivityLayerMajor.EqualsTheWholeModel|LayerRulesModel.FixtureRecipePerplexity|QuantizerConformance.QuantizesEveryWeightOfTheFixture/(gptvq|awq)"
  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions="$PWD/tests/fuzz/lsan.supp" \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j 2 -L core -E "$heavy"
  stage_done "ASan ctest"
  # The same build runs the file readers' fuzz harnesses (issue 11): a minute each.
  QS_FUZZ_SEED="${QS_FUZZ_SEED:-1}" scripts/fuzz.sh 60
  stage_done "fuzzing"
fi
