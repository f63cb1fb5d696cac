// SPDX-License-Identifier: MIT
#pragma once
#include "data/windows.h"
#include "quant/recipe.h"

#include <QWidget>
#include <optional>
#include <quantscope/plugin/view_context.h>

class QComboBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QToolBar;

namespace qs::views {
class ParamForm;
}

namespace qs::gui {

/// The one editor of the current recipe: the weight format (into ViewContext::currentSpec, which views
/// may also set), the transform and the method with their own parameters, activation/KV fake
/// quantization and the evaluation settings, with the teaching text of the chosen format. The toolbar's
/// transform/method/format/granularity combos (addToolBarControls) are a second face of the same
/// fields; the layer rules come from the layer table through the context.
class ParametersPanel : public QWidget {
    Q_OBJECT
public:
    /// A panel over `context` (which outlives it).
    explicit ParametersPanel(plugins::ViewContext* context, QWidget* parent = nullptr);
    ~ParametersPanel() override;

    /// Adds the labelled transform, method, format and granularity combos to `bar`; they follow the
    /// panel and edit it.
    void addToolBarControls(QToolBar* bar);

    /// The recipe of the panel and the context's layer rules; nullopt with `error` when invalid.
    std::optional<core::Recipe> currentRecipe(QString* error = nullptr) const;
    /// Puts `recipe` into the panel (method, transform, format, their parameters, activation/KV
    /// specs) and its layer rules into the context: "Load into form". Fields the recipe does not name
    /// keep their defaults.
    void loadRecipe(const core::Recipe& recipe);
    /// Why the weight spec cannot run, in the form's words; empty when it can.
    QString specError() const;
    /// True when the method is registered and the weight spec valid (what Run ▶ needs of the panel).
    bool isRunnable() const;
    /// True when the current recipe needs calibration data (a calibrated method or transform).
    bool needsCalibration() const;

    /// The evaluation settings (ctx, windows, calib_windows).
    core::EvalOptions evalOptions() const;
    /// Calibration windows of the evaluation form.
    long long calibWindows() const;

    /// Chooses a registered method by name; false when unknown.
    bool setMethod(const QString& name);
    /// The chosen method's name.
    QString method() const;
    /// Chooses the transform applied before the method: a registered transform's name, or empty for
    /// none; false when unknown.
    bool setTransform(const QString& name);
    /// The chosen transform's name, empty for none.
    QString transform() const;

    /// The forms: weight spec (format, granularity, group, sym), method, transform, evaluation.
    views::ParamForm* specForm() const { return m_specForm; }
    views::ParamForm* methodForm() const { return m_methodForm; }
    views::ParamForm* transformForm() const { return m_transformForm; }
    views::ParamForm* evalForm() const { return m_evalForm; }
    /// Activation / KV-cache fake quantization of the recipe ("int8:token"; empty = none).
    QLineEdit* actQuantEdit() const { return m_actQuantEdit; }
    QLineEdit* kvQuantEdit() const { return m_kvQuantEdit; }

signals:
    /// Any field of the recipe changed (method, transform, spec, parameters, rules).
    void recipeChanged();

private:
    QWidget* createEvalBox();
    void onMethodChanged();
    void onTransformChanged();
    void onSpecValueChanged(const QString& name);
    void onCurrentSpecChanged();
    /// Sets the weight-spec form to `spec` (QuantSpec::toJson() keys).
    void applySpec(const nlohmann::json& spec);
    void applyFormatRules();
    void updateExplanation();

    plugins::ViewContext* m_context;
    const core::Registries& m_registries;
    QComboBox* m_transformCombo;
    QComboBox* m_methodCombo;
    QComboBox* m_formatCombo;
    QComboBox* m_granularityCombo;
    views::ParamForm* m_specForm = nullptr;
    views::ParamForm* m_methodForm = nullptr;
    QGroupBox* m_methodBox = nullptr;
    QLabel* m_methodNote = nullptr;
    views::ParamForm* m_transformForm = nullptr;
    QGroupBox* m_transformBox = nullptr;
    QLabel* m_transformNote = nullptr;
    views::ParamForm* m_evalForm = nullptr;
    QLineEdit* m_actQuantEdit = nullptr;
    QLineEdit* m_kvQuantEdit = nullptr;
    QLabel* m_explanation = nullptr;
    bool m_applyingSpec = false; ///< the form is being set from ViewContext::currentSpec()
    /// Granularity and group the user had before a fixed-block format (MX/NV) locked them: restored when
    /// a free format is chosen again.
    std::string m_freeGranularity = "group";
    int m_freeGroup = 128;
    bool m_blockLocked = false;
};

} // namespace qs::gui
