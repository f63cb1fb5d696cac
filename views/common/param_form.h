// SPDX-License-Identifier: MIT
#pragma once
#include "base/param_schema.h"

#include <QWidget>
#include <nlohmann/json.hpp>
#include <vector>

class QFormLayout;

namespace qs::views {

/// A form built generically from a ParamSchema: a QSpinBox per Int, a QDoubleSpinBox per Float,
/// a QCheckBox per Bool and a QComboBox per Choice, ranges from min/max, tooltips from help.
/// Adding a parameter to a registry entry adds its field here without touching GUI code.
class ParamForm : public QWidget {
    Q_OBJECT
public:
    /// An empty form.
    explicit ParamForm(QWidget* parent = nullptr);

    /// Rebuilds the fields for `schema`; values come from `values` where given, else the defaults.
    void setSchema(const core::ParamSchema& schema, const nlohmann::json& values = nlohmann::json::object());
    /// The schema shown.
    const core::ParamSchema& schema() const { return m_schema; }
    /// Current values, one key per parameter, typed as the schema says.
    nlohmann::json values() const;
    /// Sets one field (ignored when the name is unknown or the value does not fit the type).
    void setValue(const QString& name, const nlohmann::json& value);
    /// The editor widget of a parameter, nullptr when unknown.
    QWidget* editor(const QString& name) const;
    /// True when the schema has no parameters.
    bool isEmpty() const { return m_schema.empty(); }

signals:
    /// A field was edited (by the user or through setValue).
    void valueChanged(const QString& name);

private:
    QWidget* createEditor(const core::ParamSpec& spec);

    core::ParamSchema m_schema;
    std::vector<QWidget*> m_editors;
    QFormLayout* m_layout;
};

} // namespace qs::views
