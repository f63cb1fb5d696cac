// SPDX-License-Identifier: MIT
// Refusals a new user meets, offscreen: a greyed action says why in its tooltip and in the banner above
// the Parameters dock, in the window's words, with the click that fixes it; a format that fixes a field
// sets and locks it instead of refusing the recipe.
#include "experiment_controller.h"
#include "common/param_form.h"
#include "parameters_panel.h"
#include "window_test.h"

#include <QAction>
#include <QComboBox>
#include <QLabel>
#include <QPushButton>

namespace {

using namespace qs;

const QString kCalib = QStringLiteral(QS_FIXTURES_DIR "/corpus/calib.txt");
const QString kTest = QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt");

class RefusalsTest : public test::WindowTest {
protected:
    gui::ExperimentController* experiments() const { return m_window->experiments(); }
    gui::ParametersPanel* panel() const { return m_window->parameters(); }
    bool bannerShown() const { return !experiments()->refusalBanner()->isHidden(); }
};

TEST_F(RefusalsTest, CalibratedMethodWithoutDataSaysWhyAndOffersTheFix) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    experiments()->setCalibrationData({});
    experiments()->setEvaluationData(kTest);
    ASSERT_TRUE(panel()->setMethod(QStringLiteral("gptq")));
    QAction* run = experiments()->runAction();
    EXPECT_FALSE(run->isEnabled());
    EXPECT_TRUE(run->toolTip().contains(QStringLiteral("needs calibration data"))) << run->toolTip().toStdString();
    EXPECT_FALSE(experiments()->evaluateAction()->isEnabled());
    ASSERT_TRUE(bannerShown());
    EXPECT_TRUE(experiments()->refusalText()->text().contains(QStringLiteral("gptq"), Qt::CaseInsensitive))
        << experiments()->refusalText()->text().toStdString();
    EXPECT_FALSE(experiments()->refusalFix()->isHidden());
    EXPECT_EQ(experiments()->refusalFix()->text(), QStringLiteral("Choose calibration data…"));
    // Choosing the data (what the button's dialog does) lifts the refusal at once.
    experiments()->setCalibrationData(kCalib);
    EXPECT_TRUE(run->isEnabled());
    EXPECT_TRUE(experiments()->evaluateAction()->isEnabled());
    EXPECT_FALSE(bannerShown());
    EXPECT_FALSE(run->toolTip().contains(QStringLiteral("unavailable")));
}

TEST_F(RefusalsTest, EvaluateWithoutDataNamesTheDataMenu) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    experiments()->setEvaluationData({});
    EXPECT_TRUE(experiments()->runAction()->isEnabled()); // Run ▶ needs no evaluation data
    EXPECT_FALSE(experiments()->evaluateAction()->isEnabled());
    EXPECT_FALSE(experiments()->sweepAction()->isEnabled());
    ASSERT_TRUE(bannerShown());
    EXPECT_TRUE(experiments()->refusalText()->text().contains(QStringLiteral("evaluation data")));
    EXPECT_EQ(experiments()->refusalFix()->text(), QStringLiteral("Choose evaluation data…"));
    experiments()->setEvaluationData(kTest);
    EXPECT_TRUE(experiments()->evaluateAction()->isEnabled());
    EXPECT_FALSE(bannerShown());
}

TEST_F(RefusalsTest, FixedBlockFormatsSetAndLockTheirFields) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    experiments()->setEvaluationData(kTest);
    views::ParamForm* spec = panel()->specForm();
    spec->setValue(QStringLiteral("granularity"), "group");
    spec->setValue(QStringLiteral("group"), 64);
    spec->setValue(QStringLiteral("sym"), false);
    auto* granularityCombo = m_window->findChild<QComboBox*>(QStringLiteral("granularityCombo"));
    ASSERT_NE(granularityCombo, nullptr);
    for (const char* format : {"mxfp4", "nvfp4"}) {
        // Through the toolbar, as a user picks it.
        m_window->findChild<QComboBox*>(QStringLiteral("formatCombo"))->setCurrentText(QLatin1String(format));
        const nlohmann::json v = spec->values();
        EXPECT_EQ(v.value("sym", false), true) << format;
        EXPECT_EQ(v.value("granularity", ""), "block") << format; // what the engine runs, shown
        EXPECT_EQ(v.value("group", 0), format == std::string("mxfp4") ? 32 : 16) << format;
        EXPECT_FALSE(spec->editor(QStringLiteral("sym"))->isEnabled()) << format;
        EXPECT_TRUE(spec->editor(QStringLiteral("sym"))->toolTip().contains(QStringLiteral("no zero point")));
        EXPECT_FALSE(spec->editor(QStringLiteral("granularity"))->isEnabled());
        EXPECT_FALSE(granularityCombo->isEnabled());
        EXPECT_EQ(granularityCombo->currentText(), QStringLiteral("block"));
        EXPECT_TRUE(experiments()->runAction()->isEnabled()) << format << ": set, not refused";
        EXPECT_FALSE(bannerShown());
    }
    // A free format again: the user's own granularity and group come back, unlocked.
    m_window->findChild<QComboBox*>(QStringLiteral("formatCombo"))->setCurrentText(QStringLiteral("int4"));
    const nlohmann::json v = spec->values();
    EXPECT_EQ(v.value("granularity", ""), "group");
    EXPECT_EQ(v.value("group", 0), 64);
    EXPECT_TRUE(spec->editor(QStringLiteral("sym"))->isEnabled());
    EXPECT_TRUE(spec->editor(QStringLiteral("granularity"))->isEnabled());
    EXPECT_TRUE(granularityCombo->isEnabled());
    EXPECT_TRUE(spec->editor(QStringLiteral("group"))->isEnabled());
}

} // namespace
