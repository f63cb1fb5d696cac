// SPDX-License-Identifier: MIT
#include "common/param_form.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSignalBlocker>
#include <QSpinBox>
#include <climits>
#include <cmath>

namespace qs::views {
namespace {

QString tooltipFor(const core::ParamSpec& spec) {
    QString tip = QString::fromStdString(spec.help);
    QString flag = QStringLiteral("--") + QString::fromStdString(spec.name);
    tip += QStringLiteral("\n(%1, default %2)").arg(flag, QString::fromStdString(spec.defaultValue.dump()));
    return tip;
}

bool hasRange(const core::ParamSpec& spec) {
    return spec.min <= spec.max;
}

// Shows 0.01 and 99.9 rather than 0.010000 and 99.900000, while keeping six decimals of input.
class CompactDoubleSpinBox : public QDoubleSpinBox {
public:
    using QDoubleSpinBox::QDoubleSpinBox;
    QString textFromValue(double value) const override {
        QString s = locale().toString(value, 'f', decimals());
        const QChar point = locale().decimalPoint().front();
        if (s.contains(point)) {
            while (s.endsWith(QLatin1Char('0')))
                s.chop(1);
            if (s.endsWith(point)) s.chop(1);
        }
        s.remove(locale().groupSeparator());
        return s;
    }
};

} // namespace

ParamForm::ParamForm(QWidget* parent) : QWidget(parent), m_layout(new QFormLayout(this)) {
    m_layout->setContentsMargins(0, 0, 0, 0);
    m_layout->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
}

QWidget* ParamForm::createEditor(const core::ParamSpec& spec) {
    const QString name = QString::fromStdString(spec.name);
    QWidget* editor = nullptr;
    switch (spec.type) {
    case core::ParamType::Int: {
        auto* box = new QSpinBox(this);
        const double lo = hasRange(spec) ? std::max(spec.min, double(INT_MIN)) : double(INT_MIN);
        const double hi = hasRange(spec) ? std::min(spec.max, double(INT_MAX)) : double(INT_MAX);
        box->setRange(static_cast<int>(lo), static_cast<int>(hi));
        box->setKeyboardTracking(false);
        connect(box, &QSpinBox::valueChanged, this, [this, name] { emit valueChanged(name); });
        editor = box;
        break;
    }
    case core::ParamType::Float: {
        auto* box = new CompactDoubleSpinBox(this);
        box->setDecimals(6);
        if (hasRange(spec)) {
            box->setRange(spec.min, spec.max);
            if (spec.max > spec.min)
                box->setSingleStep(std::pow(10.0, std::floor(std::log10((spec.max - spec.min) / 100.0))));
        } else {
            box->setRange(-1e12, 1e12);
        }
        box->setKeyboardTracking(false);
        connect(box, &QDoubleSpinBox::valueChanged, this, [this, name] { emit valueChanged(name); });
        editor = box;
        break;
    }
    case core::ParamType::Bool: {
        auto* box = new QCheckBox(this);
        connect(box, &QCheckBox::toggled, this, [this, name] { emit valueChanged(name); });
        editor = box;
        break;
    }
    case core::ParamType::Choice: {
        auto* box = new QComboBox(this);
        for (const auto& c : spec.choices)
            box->addItem(QString::fromStdString(c));
        connect(box, &QComboBox::currentIndexChanged, this, [this, name] { emit valueChanged(name); });
        editor = box;
        break;
    }
    case core::ParamType::Text: {
        auto* line = new QLineEdit(this);
        connect(line, &QLineEdit::editingFinished, this, [this, name] { emit valueChanged(name); });
        editor = line;
        break;
    }
    }
    editor->setObjectName(QStringLiteral("param_") + name);
    editor->setToolTip(tooltipFor(spec));
    return editor;
}

void ParamForm::setSchema(const core::ParamSchema& schema, const nlohmann::json& values) {
    while (m_layout->rowCount() > 0)
        m_layout->removeRow(0);
    m_editors.clear();
    m_schema = schema;
    for (const auto& spec : m_schema) {
        QWidget* editor = createEditor(spec);
        const QString text = QString::fromStdString(spec.label.empty() ? spec.name : spec.label);
        auto* label = new QLabel(text + QLatin1Char(':'), this);
        label->setToolTip(editor->toolTip());
        label->setBuddy(editor);
        m_layout->addRow(label, editor);
        m_editors.push_back(editor);
        const QSignalBlocker block(editor);
        setValue(QString::fromStdString(spec.name), spec.defaultValue);
        if (values.is_object() && values.contains(spec.name))
            setValue(QString::fromStdString(spec.name), values.at(spec.name));
    }
}

nlohmann::json ParamForm::values() const {
    nlohmann::json out = nlohmann::json::object();
    for (std::size_t i = 0; i < m_schema.size(); ++i) {
        const auto& spec = m_schema[i];
        QWidget* w = m_editors[i];
        switch (spec.type) {
        case core::ParamType::Int:
            out[spec.name] = static_cast<QSpinBox*>(w)->value();
            break;
        case core::ParamType::Float:
            out[spec.name] = static_cast<QDoubleSpinBox*>(w)->value();
            break;
        case core::ParamType::Bool:
            out[spec.name] = static_cast<QCheckBox*>(w)->isChecked();
            break;
        case core::ParamType::Choice:
            out[spec.name] = static_cast<QComboBox*>(w)->currentText().toStdString();
            break;
        case core::ParamType::Text:
            out[spec.name] = static_cast<QLineEdit*>(w)->text().toStdString();
            break;
        }
    }
    return out;
}

void ParamForm::setValue(const QString& name, const nlohmann::json& value) {
    for (std::size_t i = 0; i < m_schema.size(); ++i) {
        const auto& spec = m_schema[i];
        if (QString::fromStdString(spec.name) != name) continue;
        QWidget* w = m_editors[i];
        switch (spec.type) {
        case core::ParamType::Int:
            if (value.is_number()) static_cast<QSpinBox*>(w)->setValue(value.get<int>());
            break;
        case core::ParamType::Float:
            if (value.is_number()) static_cast<QDoubleSpinBox*>(w)->setValue(value.get<double>());
            break;
        case core::ParamType::Bool:
            if (value.is_boolean()) static_cast<QCheckBox*>(w)->setChecked(value.get<bool>());
            break;
        case core::ParamType::Choice:
            if (value.is_string()) {
                auto* box = static_cast<QComboBox*>(w);
                const int idx = box->findText(QString::fromStdString(value.get<std::string>()));
                if (idx >= 0) box->setCurrentIndex(idx);
            }
            break;
        case core::ParamType::Text:
            if (value.is_string()) static_cast<QLineEdit*>(w)->setText(QString::fromStdString(value.get<std::string>()));
            break;
        }
        return;
    }
}

QWidget* ParamForm::editor(const QString& name) const {
    for (std::size_t i = 0; i < m_schema.size(); ++i)
        if (QString::fromStdString(m_schema[i].name) == name) return m_editors[i];
    return nullptr;
}

} // namespace qs::views
