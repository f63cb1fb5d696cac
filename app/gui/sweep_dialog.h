// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/builtins.h"
#include "experiment/sweep.h"
#include "sweep_predictions.h"

#include <QDialog>
#include <QList>
#include <QString>
#include <QStringList>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

class QCheckBox;
class QDialogButtonBox;
class QLabel;
class QListWidget;
class QPushButton;

namespace qs::gui {

/// What the sweep dialog's check lists hold.
struct SweepSelection {
    QStringList methods;    ///< registry names
    QStringList transforms; ///< transform names applied before each method; "" = none (empty list: none)
    nlohmann::json transformParams = nlohmann::json::object(); ///< transform parameters (the window's form)
    QStringList formats;                                       ///< format table names
    QStringList granularities;                                 ///< quantSpecSchema() granularity choices
    QList<int> groups; ///< group sizes (used with granularity "group" only)
    bool sym = true, asym = false;
    /// The current recipe's per-layer rules ("layers" objects); every point of the grid keeps them.
    nlohmann::json layerRules = nlohmann::json::array();
    QString calib; ///< calibration data, added when a calibrated method is ticked
    long long calibWindows = 128;
};

/// The ticks of a selection as JSON (methods, transforms, formats, granularities, groups, sym, asym), to
/// remember them between dialogs; the recipe's own state (rules, transform parameters, calibration) is
/// not part of it.
nlohmann::json sweepTicksJson(const SweepSelection& selection);
/// `base` with the ticks of `ticks` (sweepTicksJson's shape; unknown or ill-typed fields are ignored).
SweepSelection withSweepTicks(SweepSelection base, const nlohmann::json& ticks);

/// The grid JSON that core::expandGrid and the CLI's `sweep --grid` take: {"method": [...] (each
/// ticked transform chained before each method, "rotate+gptq"; the transforms' parameters as one-value
/// lists),
/// "format": [...], "granularity": [...], "group": [...] (only with "group" granularity),
/// "asym": [false, true], "calib"/"calib-windows" (only with a calibrated method)}. Empty when a
/// list that must hold something is empty; `error` then says which.
nlohmann::json sweepGridJson(const SweepSelection& selection, const core::Registries& registries,
                             QString* error = nullptr);

/// Sweep… : check lists of methods (registry), formats (format table), granularities, group sizes and
/// symmetry → a grid, its number of points (valid / invalid) and how many the project already has;
/// predictions of its recipes and a run order. "Save grid…" writes the JSON for the CLI; accepting
/// ("Run sweep") leaves running to the caller.
class SweepDialog : public QDialog {
    Q_OBJECT
public:
    /// Counts the points the open project already holds (finished runs of the same keys).
    using ExistingCounter = std::function<int(const std::vector<core::SweepPoint>&)>;

    /// A dialog over the methods of `registries` (must outlive it).
    explicit SweepDialog(const core::Registries& registries, QWidget* parent = nullptr);

    /// Ticks exactly the given items (the window's current choice, or a test's).
    void setSelection(const SweepSelection& selection);
    /// The ticked items.
    SweepSelection selection() const;
    /// sweepGridJson(selection()); empty when the selection is incomplete.
    nlohmann::json grid() const;
    /// Sets how existing runs are counted (none: not shown) and whether running is possible (a reason
    /// when not, e.g. "no evaluation data").
    void setProjectInfo(ExistingCounter counter, const QString& notRunnableReason);

    /// Points of the grid, valid points and points already in the project (after the last update).
    int pointCount() const { return m_points; }
    int validCount() const { return m_valid; }
    /// Distinct recipes among the valid points (two points can quantize the same way, e.g. a group size
    /// with channel granularity): what would run.
    int uniqueCount() const { return m_unique; }
    int existingCount() const { return m_existing; }
    /// The "N points · ..." line.
    QLabel* summaryLabel() const { return m_summary; }
    /// The line naming the methods and transforms greyed for want of calibration data (hidden when none).
    QLabel* calibrationNote() const { return m_calibNote; }
    /// The check lists, for tests and keyboard users.
    QListWidget* methodList() const { return m_methods; }
    QListWidget* transformList() const { return m_transforms; }
    QListWidget* formatList() const { return m_formats; }
    QListWidget* granularityList() const { return m_granularities; }
    QListWidget* groupList() const { return m_groups; }
    QCheckBox* symBox() const { return m_sym; }
    QCheckBox* asymBox() const { return m_asym; }
    /// The "Run sweep" button.
    QPushButton* runButton() const { return m_run; }
    /// Predictions of the grid's recipes and the run order they give (Run waits while predicting).
    SweepPredictions* predictions() const { return m_predictions; }

    /// Writes grid() (pretty JSON) to `path`; false with `error` when the grid is empty or the write fails.
    bool saveGrid(const QString& path, QString* error = nullptr) const;

    /// Group sizes offered.
    static const QList<int>& groupSizes();

private:
    void update();
    void chooseSaveGrid();

    const core::Registries& m_registries;
    QListWidget* m_methods = nullptr;
    QListWidget* m_transforms = nullptr;
    nlohmann::json m_transformParams = nlohmann::json::object();
    nlohmann::json m_layerRules = nlohmann::json::array(); ///< the window's, kept by every point
    QListWidget* m_formats = nullptr;
    QListWidget* m_granularities = nullptr;
    QListWidget* m_groups = nullptr;
    QCheckBox* m_sym = nullptr;
    QCheckBox* m_asym = nullptr;
    QLabel* m_calibNote = nullptr;
    QLabel* m_summary = nullptr;
    SweepPredictions* m_predictions = nullptr;
    QPushButton* m_run = nullptr;
    QPushButton* m_save = nullptr;
    QString m_calib;
    long long m_calibWindows = 128;
    ExistingCounter m_counter;
    QString m_notRunnable;
    int m_points = 0, m_valid = 0, m_unique = 0, m_existing = 0;
    bool m_updating = false;
};

} // namespace qs::gui
