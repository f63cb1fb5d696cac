// SPDX-License-Identifier: MIT
#include "parameters_panel.h"

#include "command_line.h"
#include "common/param_form.h"
#include "quant/quant_spec.h"

#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QSignalBlocker>
#include <QStandardItemModel>
#include <QToolBar>
#include <QVBoxLayout>

namespace qs::gui {
namespace {

QString qstr(std::string_view s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

QString methodTitle(const QString& name) {
    return name.toUpper();
}

// Fills a combo with a Choice parameter's values of a schema.
void fillChoices(QComboBox* combo, const core::ParamSchema& schema, const std::string& name) {
    for (const auto& spec : schema)
        if (spec.name == name)
            for (const auto& c : spec.choices)
                combo->addItem(QString::fromStdString(c));
}

} // namespace

ParametersPanel::ParametersPanel(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context), m_registries(context->registries()),
      m_transformCombo(new QComboBox(this)), m_methodCombo(new QComboBox(this)),
      m_formatCombo(new QComboBox(this)), m_granularityCombo(new QComboBox(this)) {
    setObjectName(QStringLiteral("parametersPanel"));
    // Transforms change the basis before the method quantizes ("rotate+gptq"): none or one registered.
    m_transformCombo->setObjectName(QStringLiteral("transformCombo"));
    m_transformCombo->addItem(tr("none"), QString());
    m_transformCombo->setItemData(0, tr("Quantize the weights as they are"), Qt::ToolTipRole);
    for (const core::ModelTransform* t : m_registries.transforms.all()) {
        QString tip = qstr(t->summary());
        if (t->needsCalibration()) tip += tr(" — needs calibration data (toolbar ▸ Data)");
        m_transformCombo->addItem(methodTitle(qstr(t->name())), qstr(t->name()));
        m_transformCombo->setItemData(m_transformCombo->count() - 1, tip, Qt::ToolTipRole);
    }
    m_methodCombo->setObjectName(QStringLiteral("methodCombo"));
    auto* methodModel = new QStandardItemModel(m_methodCombo);
    for (const core::Quantizer* q : m_registries.quantizers.all()) {
        auto* item = new QStandardItem(methodTitle(qstr(q->name())));
        item->setData(qstr(q->name()), Qt::UserRole);
        item->setToolTip(qstr(q->summary()));
        if (q->needsCalibration())
            item->setToolTip(qstr(q->summary()) + tr(" — needs calibration data (toolbar ▸ Data)"));
        methodModel->appendRow(item);
    }
    m_methodCombo->setModel(methodModel);
    m_formatCombo->setObjectName(QStringLiteral("formatCombo"));
    for (const auto& f : core::formatTable()) {
        m_formatCombo->addItem(qstr(f.name));
        m_formatCombo->setItemData(m_formatCombo->count() - 1, qstr(f.summary), Qt::ToolTipRole);
    }
    m_granularityCombo->setObjectName(QStringLiteral("granularityCombo"));
    fillChoices(m_granularityCombo, core::quantSpecSchema(), "granularity");

    auto* layout = new QVBoxLayout(this);
    auto* specBox = new QGroupBox(tr("Weight format"), this);
    auto* specLayout = new QVBoxLayout(specBox);
    m_specForm = new views::ParamForm(specBox);
    m_specForm->setObjectName(QStringLiteral("specForm"));
    m_specForm->setSchema(core::quantSpecSchema(), defaultSpecValues());
    specLayout->addWidget(m_specForm);
    m_transformBox = new QGroupBox(tr("Transform"), this);
    m_transformBox->setObjectName(QStringLiteral("transformBox"));
    auto* transformLayout = new QVBoxLayout(m_transformBox);
    m_transformForm = new views::ParamForm(m_transformBox);
    m_transformForm->setObjectName(QStringLiteral("transformForm"));
    m_transformNote = new QLabel(m_transformBox);
    m_transformNote->setWordWrap(true);
    transformLayout->addWidget(m_transformNote);
    transformLayout->addWidget(m_transformForm);
    m_methodBox = new QGroupBox(tr("Method"), this);
    auto* methodLayout = new QVBoxLayout(m_methodBox);
    m_methodForm = new views::ParamForm(m_methodBox);
    m_methodForm->setObjectName(QStringLiteral("methodForm"));
    m_methodNote = new QLabel(m_methodBox);
    m_methodNote->setWordWrap(true);
    methodLayout->addWidget(m_methodNote);
    methodLayout->addWidget(m_methodForm);
    m_explanation = new QLabel(this);
    m_explanation->setObjectName(QStringLiteral("explanation"));
    m_explanation->setWordWrap(true);
    m_explanation->setTextFormat(Qt::RichText);
    m_explanation->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_explanation->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Minimum);
    layout->addWidget(specBox);
    layout->addWidget(m_transformBox);
    layout->addWidget(m_methodBox);
    layout->addWidget(createEvalBox());
    layout->addWidget(m_explanation);
    layout->addStretch(1);

    connect(m_methodCombo, &QComboBox::currentIndexChanged, this, &ParametersPanel::onMethodChanged);
    connect(m_transformCombo, &QComboBox::currentIndexChanged, this, &ParametersPanel::onTransformChanged);
    // The toolbar's format and granularity are a second editor of the form's fields.
    connect(m_formatCombo, &QComboBox::currentTextChanged, this,
            [this](const QString& v) { m_specForm->setValue(QStringLiteral("format"), v.toStdString()); });
    connect(m_granularityCombo, &QComboBox::currentTextChanged, this, [this](const QString& v) {
        m_specForm->setValue(QStringLiteral("granularity"), v.toStdString());
    });
    connect(m_specForm, &views::ParamForm::valueChanged, this, &ParametersPanel::onSpecValueChanged);
    for (views::ParamForm* f : {m_methodForm, m_transformForm, m_evalForm})
        connect(f, &views::ParamForm::valueChanged, this, &ParametersPanel::recipeChanged);
    for (QLineEdit* e : {m_actQuantEdit, m_kvQuantEdit})
        connect(e, &QLineEdit::textChanged, this, &ParametersPanel::recipeChanged);
    // The form edits the one shared spec; a view that picks a format there moves the form.
    connect(m_context, &plugins::ViewContext::currentSpecChanged, this, &ParametersPanel::onCurrentSpecChanged);
    connect(m_context, &plugins::ViewContext::selectedLayerChanged, this, &ParametersPanel::updateExplanation);
    // Layer rules set in the layer table are part of the recipe.
    connect(m_context, &plugins::ViewContext::layerRulesChanged, this, [this] {
        updateExplanation();
        emit recipeChanged();
    });
    onSpecValueChanged(QStringLiteral("format"));
    onSpecValueChanged(QStringLiteral("granularity"));
    onMethodChanged();
    onTransformChanged();
}

ParametersPanel::~ParametersPanel() = default;

QWidget* ParametersPanel::createEvalBox() {
    auto* box = new QGroupBox(tr("Evaluation"), this);
    box->setObjectName(QStringLiteral("evalBox"));
    auto* boxLayout = new QVBoxLayout(box);
    m_evalForm = new views::ParamForm(box);
    m_evalForm->setObjectName(QStringLiteral("evalForm"));
    m_evalForm->setSchema(core::evalOptionsSchema()); // declared once in the core (data/windows.h)
    boxLayout->addWidget(m_evalForm);
    auto* hooks = new QFormLayout;
    m_actQuantEdit = new QLineEdit(box);
    m_actQuantEdit->setObjectName(QStringLiteral("actQuantEdit"));
    m_actQuantEdit->setPlaceholderText(tr("none (e.g. int8:token)"));
    m_actQuantEdit->setToolTip(tr("Activation fake quantization of every Linear input: "
                                  "FORMAT[:token|tensor|channel|group|block][:N][:sym|asym]. A classifier "
                                  "(Conv/Gemm inputs): int8:tensor, static scales from the calibration "
                                  "images when given, else per batch"));
    m_kvQuantEdit = new QLineEdit(box);
    m_kvQuantEdit->setObjectName(QStringLiteral("kvQuantEdit"));
    m_kvQuantEdit->setPlaceholderText(tr("none (e.g. int8:token)"));
    m_kvQuantEdit->setToolTip(tr("KV-cache fake quantization, same form as activations"));
    hooks->addRow(tr("Activations"), m_actQuantEdit);
    hooks->addRow(tr("KV cache"), m_kvQuantEdit);
    boxLayout->addLayout(hooks);
    return box;
}

void ParametersPanel::addToolBarControls(QToolBar* bar) {
    const auto labelled = [&](const QString& text, QComboBox* combo) {
        auto* label = new QLabel(text, bar);
        label->setContentsMargins(6, 0, 2, 0);
        bar->addWidget(label);
        bar->addWidget(combo); // the toolbar takes the combo from the panel (its parent until then)
    };
    labelled(tr("Transform"), m_transformCombo);
    labelled(tr("Method"), m_methodCombo);
    labelled(tr("Format"), m_formatCombo);
    labelled(tr("Granularity"), m_granularityCombo);
}

// ---------------------------------------------------------------------------------------------
// The recipe

std::optional<core::Recipe> ParametersPanel::currentRecipe(QString* error) const {
    try {
        core::QuantJob job;
        job.method = method().toStdString();
        job.spec = core::QuantSpec::fromJson(m_specForm->values());
        job.methodParams = m_methodForm->values();
        if (const QString t = transform(); !t.isEmpty())
            job.transforms.push_back({t.toStdString(), m_transformForm->values()});
        nlohmann::json j = job.toJson();
        if (!m_context->layerRules().empty()) j["layers"] = m_context->layerRules(); // set in the layer table
        if (const QString a = m_actQuantEdit->text().trimmed(); !a.isEmpty())
            j["activation"] = core::hookSpecFromString(a.toStdString(), "activations").toJson();
        if (const QString kv = m_kvQuantEdit->text().trimmed(); !kv.isEmpty())
            j["kv_cache"] = core::hookSpecFromString(kv.toStdString(), "KV cache").toJson();
        return core::recipeFromJson(j, m_registries, "recipe");
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return std::nullopt;
    }
}

void ParametersPanel::loadRecipe(const core::Recipe& recipe) {
    const core::QuantJob& job = recipe.job;
    if (recipe.quantizeWeights) {
        setMethod(QString::fromStdString(job.method));
        setTransform(job.transforms.empty() ? QString() : QString::fromStdString(job.transforms.front().name));
        if (!job.transforms.empty())
            for (const auto& [key, value] : job.transforms.front().params.items())
                m_transformForm->setValue(QString::fromStdString(key), value);
        for (const auto& [key, value] : job.methodParams.items())
            m_methodForm->setValue(QString::fromStdString(key), value);
        applySpec(job.spec.toJson());
        // The stored rules are canonical (every field filled): the table shows what each one changes.
        nlohmann::json j = job.toJson();
        const nlohmann::json rules = j.contains("layers") ? j["layers"] : nlohmann::json::array();
        j.erase("layers");
        m_context->setLayerRules(core::conciseRules(rules, j));
    } else {
        m_context->setLayerRules(nlohmann::json::array());
    }
    m_actQuantEdit->setText(recipe.activation ? QString::fromStdString(core::hookSpecText(*recipe.activation))
                                              : QString());
    m_kvQuantEdit->setText(recipe.kvCache ? QString::fromStdString(core::hookSpecText(*recipe.kvCache))
                                          : QString());
    emit recipeChanged();
}

QString ParametersPanel::specError() const {
    try {
        (void)core::QuantSpec::fromJson(m_specForm->values());
        return {};
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
}

bool ParametersPanel::isRunnable() const {
    return m_registries.quantizers.find(method().toStdString()) && specError().isEmpty();
}

bool ParametersPanel::needsCalibration() const {
    const std::optional<core::Recipe> recipe = currentRecipe();
    return recipe && core::recipeNeedsCalibration(*recipe, m_registries);
}

core::EvalOptions ParametersPanel::evalOptions() const {
    return core::evalOptionsFromJson(m_evalForm->values(), "evaluation");
}

long long ParametersPanel::calibWindows() const {
    return m_evalForm->values().value("calib_windows", 128LL);
}

// ---------------------------------------------------------------------------------------------
// Method and transform

bool ParametersPanel::setMethod(const QString& name) {
    for (int i = 0; i < m_methodCombo->count(); ++i)
        if (m_methodCombo->itemData(i, Qt::UserRole).toString() == name) {
            m_methodCombo->setCurrentIndex(i);
            return true;
        }
    return false;
}

QString ParametersPanel::method() const {
    return m_methodCombo->currentData(Qt::UserRole).toString();
}

bool ParametersPanel::setTransform(const QString& name) {
    const int i = m_transformCombo->findData(name);
    if (i < 0) return false;
    m_transformCombo->setCurrentIndex(i);
    return true;
}

QString ParametersPanel::transform() const {
    return m_transformCombo->currentData().toString();
}

void ParametersPanel::onTransformChanged() {
    const QString name = transform();
    const core::ModelTransform* t = m_registries.transforms.find(name.toStdString());
    if (!t) {
        m_transformForm->setSchema({});
        m_transformBox->setTitle(tr("Transform: none"));
        m_transformNote->setText(tr("The method quantizes the weights in their own basis. A transform "
                                    "(toolbar ▸ Transform) rotates or rescales them first."));
    } else {
        m_transformBox->setTitle(tr("Transform: %1").arg(methodTitle(name)));
        m_transformForm->setSchema(t->params());
        QString note = qstr(t->summary());
        if (t->needsCalibration()) note += tr(" Needs calibration data (toolbar ▸ Data).");
        m_transformNote->setText(note);
    }
    emit recipeChanged();
}

void ParametersPanel::onMethodChanged() {
    const QString name = method();
    const core::Quantizer* q = m_registries.quantizers.find(name.toStdString());
    if (!q) {
        m_methodForm->setSchema({});
        m_methodBox->setTitle(tr("Method"));
        m_methodNote->setText(tr("No quantization method is registered."));
    } else {
        m_methodBox->setTitle(tr("Method: %1").arg(methodTitle(name)));
        m_methodForm->setSchema(q->params());
        QString note = qstr(q->summary());
        if (m_methodForm->isEmpty()) note += tr(". It has no parameters of its own.");
        m_methodNote->setText(note);
    }
    updateExplanation();
    emit recipeChanged();
}

// ---------------------------------------------------------------------------------------------
// The weight spec

void ParametersPanel::applyFormatRules() {
    const nlohmann::json v = m_specForm->values();
    const core::FormatTraits* f = core::findFormat(v.value("format", ""));
    if (!f) return;
    const QString name = qstr(f->name);
    const bool fixed = f->fixedBlock != 0;
    m_applyingSpec = true;
    // A format that fixes a field sets it (and locks it) rather than refusing the recipe.
    if (!f->allowsAsymmetric) m_specForm->setValue(QStringLiteral("sym"), true);
    if (f->kind != core::FormatKind::Integer) m_specForm->setValue(QStringLiteral("full_range"), false);
    if (fixed) {
        m_specForm->setValue(QStringLiteral("granularity"), "block");
        m_specForm->setValue(QStringLiteral("group"), f->fixedBlock);
    } else if (v.value("granularity", "") == "block") { // left by a fixed-block format: the user's own back
        m_specForm->setValue(QStringLiteral("granularity"), m_freeGranularity);
        m_specForm->setValue(QStringLiteral("group"), m_freeGroup);
    }
    m_applyingSpec = false;
    m_blockLocked = fixed;
    const auto lock = [this](const char* field, bool locked, const QString& why) {
        if (QWidget* e = m_specForm->editor(QLatin1String(field))) {
            e->setEnabled(!locked);
            e->setToolTip(locked ? why : QString());
        }
    };
    lock("sym", !f->allowsAsymmetric, tr("%1 has no zero point: its elements are symmetric (set by the format)").arg(name));
    lock("full_range", f->kind != core::FormatKind::Integer, tr("Full range applies to INT formats only"));
    const QString block = tr("%1 shares one scale per block of %2 elements (set by the format)").arg(name).arg(f->fixedBlock);
    lock("granularity", fixed, block);
    m_granularityCombo->setEnabled(!fixed);
    m_granularityCombo->setToolTip(fixed ? block : QString());
    if (fixed) lock("group", true, block);
}

void ParametersPanel::onSpecValueChanged(const QString& name) {
    if (m_applyingSpec) return; // onCurrentSpecChanged / loadRecipe update once all fields are set
    if (name == QLatin1String("format")) applyFormatRules();
    const nlohmann::json v = m_specForm->values();
    if (name == QLatin1String("format")) {
        const QSignalBlocker block(m_formatCombo);
        m_formatCombo->setCurrentText(QString::fromStdString(v.value("format", "")));
    }
    if (name == QLatin1String("granularity") || name == QLatin1String("format")) {
        const QString g = QString::fromStdString(v.value("granularity", ""));
        {
            const QSignalBlocker block(m_granularityCombo);
            m_granularityCombo->setCurrentText(g);
        }
        if (QWidget* group = m_specForm->editor(QStringLiteral("group")); group && !m_blockLocked) {
            group->setEnabled(g == QLatin1String("group"));
            group->setToolTip(g == QLatin1String("group") ? QString() : tr("Only group granularity has a group size"));
        }
    }
    if (!m_blockLocked && v.value("granularity", "") != "block") {
        m_freeGranularity = v.value("granularity", "group");
        m_freeGroup = v.value("group", 128);
    }
    try {
        m_context->setCurrentSpec(core::QuantSpec::fromJson(v));
    } catch (const std::exception&) {
        // An invalid combination (shown in the explanation) is not shared with the views.
    }
    updateExplanation();
    emit recipeChanged();
}

void ParametersPanel::onCurrentSpecChanged() {
    if (m_applyingSpec) return;
    const nlohmann::json wanted = m_context->currentSpec().toJson();
    try {
        if (core::QuantSpec::fromJson(m_specForm->values()).toJson() == wanted) return;
    } catch (const std::exception&) {
        // The form holds an invalid combination: overwrite it.
    }
    applySpec(wanted);
}

void ParametersPanel::applySpec(const nlohmann::json& spec) {
    // Every field at once, then what follows from them (format rules, toolbar, shared spec) once. An MX/NV
    // spec's group is its block; the user's own group comes back with a free format (applyFormatRules).
    m_applyingSpec = true;
    for (const auto& [key, value] : spec.items())
        m_specForm->setValue(QString::fromStdString(key), value);
    m_applyingSpec = false;
    onSpecValueChanged(QStringLiteral("format"));
    onSpecValueChanged(QStringLiteral("granularity"));
}

void ParametersPanel::updateExplanation() {
    const nlohmann::json v = m_specForm->values();
    QString html;
    if (const core::FormatTraits* f = core::findFormat(v.value("format", ""))) {
        html +=
            QStringLiteral("<p><b>%1</b> — %2</p><p>%3</p>")
                .arg(qstr(f->name), qstr(f->summary).toHtmlEscaped(), qstr(f->explanation).toHtmlEscaped());
    }
    const QString error = specError();
    if (const auto n = m_context->layerRules().size(); n > 0)
        html += tr("<p>%n layer rule(s) override this default for some weights: see the Assignment column "
                   "of the layer table (right-click rows to change them).</p>",
                   nullptr, static_cast<int>(n));
    if (!error.isEmpty()) {
        html += QStringLiteral("<p style='color:#b00020'>%1</p>").arg(error.toHtmlEscaped());
    } else if (const core::LayerReport* layer = m_context->findLayer(m_context->selectedLayer());
               layer && layer->info.quantizable) {
        const auto spec = core::QuantSpec::fromJson(v);
        const auto rows = layer->info.matrixRows(), cols = layer->info.matrixCols();
        html += tr("<p>%1 on <i>%2</i> (%3 × %4): <b>%5 bits per weight</b>, scales and zero points "
                   "included.</p>")
                    .arg(QString::fromStdString(spec.label()).toHtmlEscaped(),
                         QString::fromStdString(layer->info.name).toHtmlEscaped())
                    .arg(rows)
                    .arg(cols)
                    .arg(spec.bitsPerWeight(rows, cols), 0, 'f', 3);
    }
    m_explanation->setText(html);
}

} // namespace qs::gui
