// SPDX-License-Identifier: MIT
#include "sweep_dialog.h"

#include "formats/format_traits.h"
#include "quant/quant_spec.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSaveFile>
#include <QVBoxLayout>
#include <algorithm>
#include <set>

namespace qs::gui {
namespace {

QString qstr(std::string_view s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

QListWidgetItem* addCheckItem(QListWidget* list, const QString& text, const QVariant& data,
                              const QString& tip) {
    auto* item = new QListWidgetItem(text, list);
    item->setData(Qt::UserRole, data);
    item->setToolTip(tip);
    item->setFlags(Qt::ItemIsUserCheckable | Qt::ItemIsEnabled);
    item->setCheckState(Qt::Unchecked);
    return item;
}

QVariantList checkedData(const QListWidget* list) {
    QVariantList out;
    for (int i = 0; i < list->count(); ++i)
        if (list->item(i)->checkState() == Qt::Checked) out.push_back(list->item(i)->data(Qt::UserRole));
    return out;
}

void checkOnly(QListWidget* list, const QVariantList& values) {
    for (int i = 0; i < list->count(); ++i) {
        QListWidgetItem* item = list->item(i);
        const bool on = values.contains(item->data(Qt::UserRole)) && (item->flags() & Qt::ItemIsEnabled);
        item->setCheckState(on ? Qt::Checked : Qt::Unchecked);
    }
}

QVariantList toVariants(const QStringList& l) {
    QVariantList out;
    for (const auto& s : l)
        out.push_back(s);
    return out;
}

QListWidget* makeList(const QString& name) {
    auto* list = new QListWidget;
    list->setObjectName(name);
    list->setSelectionMode(QAbstractItemView::NoSelection);
    list->setMinimumWidth(120);
    return list;
}

} // namespace

nlohmann::json sweepGridJson(const SweepSelection& s, const core::Registries& registries, QString* error) {
    const auto fail = [&](const QString& why) {
        if (error) *error = why;
        return nlohmann::json();
    };
    if (s.methods.isEmpty()) return fail(QObject::tr("Tick at least one method."));
    if (s.formats.isEmpty()) return fail(QObject::tr("Tick at least one format."));
    if (s.granularities.isEmpty()) return fail(QObject::tr("Tick at least one granularity."));
    if (!s.sym && !s.asym) return fail(QObject::tr("Tick symmetric, asymmetric or both."));
    const bool groups = s.granularities.contains(QStringLiteral("group"));
    if (groups && s.groups.isEmpty())
        return fail(QObject::tr("Granularity \"group\" needs at least one group size."));

    nlohmann::json grid = nlohmann::json::object();
    bool calibrated = false;
    const QStringList transforms = s.transforms.isEmpty() ? QStringList{QString()} : s.transforms;
    for (const QString& t : transforms) {
        const core::ModelTransform* transform = registries.transforms.find(t.toStdString());
        if (!t.isEmpty() && !transform) return fail(QObject::tr("Unknown transform \"%1\".").arg(t));
        if (transform) {
            calibrated = calibrated || transform->needsCalibration();
            // One value per parameter (the Parameters dock's), spelled as the CLI's flags.
            for (const auto& p : transform->params()) {
                std::string key = p.name;
                std::replace(key.begin(), key.end(), '_', '-');
                if (!grid.contains(key))
                    grid[key] = nlohmann::json::array({s.transformParams.value(p.name, p.defaultValue)});
            }
        }
        for (const QString& m : s.methods)
            grid["method"].push_back((t.isEmpty() ? m : t + QLatin1Char('+') + m).toStdString());
    }
    for (const QString& m : s.methods)
        if (const core::Quantizer* q = registries.quantizers.find(m.toStdString());
            q && q->needsCalibration())
            calibrated = true;
    for (const QString& f : s.formats)
        grid["format"].push_back(f.toStdString());
    for (const QString& g : s.granularities)
        grid["granularity"].push_back(g.toStdString());
    // Group sizes only act on "group" granularity; elsewhere they would only add duplicate points.
    if (groups)
        for (int g : s.groups)
            grid["group"].push_back(g);
    if (s.sym) grid["asym"].push_back(false);
    if (s.asym) grid["asym"].push_back(true);
    // One value: the whole ordered list of rules, the same for every point.
    if (s.layerRules.is_array() && !s.layerRules.empty()) grid["layer"] = nlohmann::json::array({s.layerRules});
    if (calibrated) {
        if (s.calib.isEmpty())
            return fail(
                QObject::tr("A ticked method needs calibration data: choose it in the toolbar's Data menu."));
        grid["calib"] = nlohmann::json::array({QFileInfo(s.calib).absoluteFilePath().toStdString()});
        grid["calib-windows"] = nlohmann::json::array({s.calibWindows});
    }
    if (error) error->clear();
    return grid;
}

const QList<int>& SweepDialog::groupSizes() {
    static const QList<int> sizes{16, 32, 64, 128, 256};
    return sizes;
}

SweepDialog::SweepDialog(const core::Registries& registries, QWidget* parent)
    : QDialog(parent), m_registries(registries) {
    setObjectName(QStringLiteral("sweepDialog"));
    setWindowTitle(tr("Sweep"));

    m_methods = makeList(QStringLiteral("sweepMethods"));
    for (const core::Quantizer* q : registries.quantizers.all())
        addCheckItem(m_methods, qstr(q->name()).toUpper(), qstr(q->name()), qstr(q->summary()));
    m_transforms = makeList(QStringLiteral("sweepTransforms"));
    addCheckItem(m_transforms, tr("none"), QString(), tr("The method alone"));
    for (const core::ModelTransform* t : registries.transforms.all())
        addCheckItem(m_transforms, qstr(t->name()).toUpper(), qstr(t->name()), qstr(t->summary()));
    m_formats = makeList(QStringLiteral("sweepFormats"));
    for (const auto& f : core::formatTable())
        addCheckItem(m_formats, qstr(f.name), qstr(f.name), qstr(f.summary));
    m_granularities = makeList(QStringLiteral("sweepGranularities"));
    for (const auto& p : core::quantSpecSchema())
        if (p.name == "granularity")
            for (const auto& c : p.choices)
                addCheckItem(m_granularities, qstr(c), qstr(c), {});
    m_groups = makeList(QStringLiteral("sweepGroups"));
    for (int g : groupSizes())
        addCheckItem(m_groups, QString::number(g), g, tr("Weights per scale with granularity \"group\""));
    m_sym = new QCheckBox(tr("Symmetric"));
    m_sym->setObjectName(QStringLiteral("sweepSym"));
    m_asym = new QCheckBox(tr("Asymmetric (zero point)"));
    m_asym->setObjectName(QStringLiteral("sweepAsym"));

    auto* lists = new QGridLayout;
    const auto column = [&](int c, const QString& title, QWidget* w) {
        auto* label = new QLabel(QStringLiteral("<b>%1</b>").arg(title));
        lists->addWidget(label, 0, c);
        lists->addWidget(w, 1, c);
    };
    column(0, tr("Transforms"), m_transforms);
    column(1, tr("Methods"), m_methods);
    column(2, tr("Formats"), m_formats);
    column(3, tr("Granularities"), m_granularities);
    auto* groupCol = new QWidget;
    auto* groupLayout = new QVBoxLayout(groupCol);
    groupLayout->setContentsMargins(0, 0, 0, 0);
    groupLayout->addWidget(m_groups);
    groupLayout->addWidget(m_sym);
    groupLayout->addWidget(m_asym);
    column(4, tr("Group sizes · symmetry"), groupCol);

    m_calibNote = new QLabel;
    m_calibNote->setObjectName(QStringLiteral("sweepCalibrationNote"));
    m_calibNote->setWordWrap(true);
    m_calibNote->hide();
    m_summary = new QLabel;
    m_summary->setObjectName(QStringLiteral("sweepSummary"));
    m_summary->setWordWrap(true);
    m_predictions = new SweepPredictions(registries);

    auto* buttons = new QDialogButtonBox;
    m_run = buttons->addButton(tr("Run sweep"), QDialogButtonBox::AcceptRole);
    m_run->setObjectName(QStringLiteral("runSweepButton"));
    m_save = buttons->addButton(tr("Save grid…"), QDialogButtonBox::ActionRole);
    m_save->setToolTip(tr("Write the grid as JSON for `quantscope-cli sweep --grid`"));
    buttons->addButton(QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_save, &QPushButton::clicked, this, &SweepDialog::chooseSaveGrid);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(lists, 1);
    layout->addWidget(m_calibNote);
    layout->addWidget(m_summary);
    layout->addWidget(m_predictions, 1);
    layout->addWidget(buttons);

    for (QListWidget* l : {m_transforms, m_methods, m_formats, m_granularities, m_groups})
        connect(l, &QListWidget::itemChanged, this, &SweepDialog::update);
    connect(m_sym, &QCheckBox::toggled, this, &SweepDialog::update);
    connect(m_asym, &QCheckBox::toggled, this, &SweepDialog::update);
    connect(m_predictions, &SweepPredictions::predictingChanged, this, &SweepDialog::update);
    connect(this, &QDialog::finished, m_predictions, &SweepPredictions::stop); // no prediction outlives the dialog
    resize(900, 600);
    update();
}

void SweepDialog::setSelection(const SweepSelection& s) {
    m_updating = true;
    m_calib = s.calib;
    m_calibWindows = s.calibWindows;
    // Calibrated methods can only be ticked when there is calibration data to give them; the greyed ones
    // are named in a line under the lists, not only in their tooltips.
    QStringList greyed;
    for (int i = 0; i < m_methods->count(); ++i) {
        QListWidgetItem* item = m_methods->item(i);
        const core::Quantizer* q =
            m_registries.quantizers.find(item->data(Qt::UserRole).toString().toStdString());
        const bool usable = !(q && q->needsCalibration()) || !m_calib.isEmpty();
        item->setFlags(usable ? (Qt::ItemIsUserCheckable | Qt::ItemIsEnabled) : Qt::ItemIsUserCheckable);
        if (!usable) greyed << item->text();
        if (q && q->needsCalibration())
            item->setToolTip(qstr(q->summary()) +
                             (usable ? tr(" — calibrated with %1").arg(QFileInfo(m_calib).fileName())
                                     : tr(" — needs calibration data (toolbar ▸ Data)")));
    }
    // Calibrated transforms likewise.
    for (int i = 1; i < m_transforms->count(); ++i) {
        QListWidgetItem* item = m_transforms->item(i);
        const core::ModelTransform* t =
            m_registries.transforms.find(item->data(Qt::UserRole).toString().toStdString());
        const bool usable = !(t && t->needsCalibration()) || !m_calib.isEmpty();
        item->setFlags(usable ? (Qt::ItemIsUserCheckable | Qt::ItemIsEnabled) : Qt::ItemIsUserCheckable);
        if (!usable) greyed << item->text();
    }
    m_calibNote->setVisible(!greyed.isEmpty());
    m_calibNote->setText(tr("<span style='color:#9a6700'>%1 need calibration data: choose it in the toolbar's "
                            "Data ▸ Calibration data…, then open Sweep… again.</span>")
                             .arg(greyed.join(QStringLiteral(", ")).toHtmlEscaped()));
    m_transformParams = s.transformParams;
    m_layerRules = s.layerRules;
    checkOnly(m_transforms, toVariants(s.transforms.isEmpty() ? QStringList{QString()} : s.transforms));
    checkOnly(m_methods, toVariants(s.methods));
    checkOnly(m_formats, toVariants(s.formats));
    checkOnly(m_granularities, toVariants(s.granularities));
    QVariantList groups;
    for (int g : s.groups)
        groups.push_back(g);
    checkOnly(m_groups, groups);
    m_sym->setChecked(s.sym);
    m_asym->setChecked(s.asym);
    m_updating = false;
    update();
}

SweepSelection SweepDialog::selection() const {
    SweepSelection s;
    for (const auto& v : checkedData(m_methods))
        s.methods << v.toString();
    for (const auto& v : checkedData(m_transforms))
        s.transforms << v.toString();
    s.transformParams = m_transformParams;
    s.layerRules = m_layerRules;
    for (const auto& v : checkedData(m_formats))
        s.formats << v.toString();
    for (const auto& v : checkedData(m_granularities))
        s.granularities << v.toString();
    for (const auto& v : checkedData(m_groups))
        s.groups << v.toInt();
    s.sym = m_sym->isChecked();
    s.asym = m_asym->isChecked();
    s.calib = m_calib;
    s.calibWindows = m_calibWindows;
    return s;
}

nlohmann::json sweepTicksJson(const SweepSelection& s) {
    const auto list = [](const QStringList& l) {
        nlohmann::json a = nlohmann::json::array();
        for (const QString& x : l) a.push_back(x.toStdString());
        return a;
    };
    nlohmann::json groups = nlohmann::json::array();
    for (int g : s.groups) groups.push_back(g);
    return {{"methods", list(s.methods)},     {"transforms", list(s.transforms)},
            {"formats", list(s.formats)},     {"granularities", list(s.granularities)},
            {"groups", groups},               {"sym", s.sym},
            {"asym", s.asym}};
}

SweepSelection withSweepTicks(SweepSelection s, const nlohmann::json& j) {
    if (!j.is_object()) return s;
    const auto list = [&j](const char* key, QStringList& out) {
        if (!j.contains(key) || !j[key].is_array()) return;
        QStringList l;
        for (const auto& x : j[key])
            if (x.is_string()) l << QString::fromStdString(x.get<std::string>());
        out = l;
    };
    list("methods", s.methods);
    list("transforms", s.transforms);
    list("formats", s.formats);
    list("granularities", s.granularities);
    if (j.contains("groups") && j["groups"].is_array()) {
        s.groups.clear();
        for (const auto& g : j["groups"])
            if (g.is_number_integer()) s.groups << g.get<int>();
    }
    if (j.contains("sym") && j["sym"].is_boolean()) s.sym = j["sym"].get<bool>();
    if (j.contains("asym") && j["asym"].is_boolean()) s.asym = j["asym"].get<bool>();
    return s;
}

nlohmann::json SweepDialog::grid() const {
    return sweepGridJson(selection(), m_registries);
}

void SweepDialog::setProjectInfo(ExistingCounter counter, const QString& notRunnableReason) {
    m_counter = std::move(counter);
    m_notRunnable = notRunnableReason;
    update();
}

void SweepDialog::update() {
    if (m_updating) return;
    m_groups->setEnabled(checkedData(m_granularities).contains(QStringLiteral("group")));
    QString error;
    const nlohmann::json g = sweepGridJson(selection(), m_registries, &error);
    m_points = m_valid = m_unique = m_existing = 0;
    QString text;
    if (g.is_null()) {
        text = QStringLiteral("<span style='color:#b00020'>%1</span>").arg(error.toHtmlEscaped());
    } else {
        try {
            const std::vector<core::SweepPoint> points = core::expandGrid(g, m_registries);
            m_points = static_cast<int>(points.size());
            std::set<std::string> keys;
            for (const auto& p : points)
                if (p.recipe) {
                    ++m_valid;
                    keys.insert(p.recipe->canonical());
                }
            m_unique = static_cast<int>(keys.size());
            text = m_points == 1 ? tr("<b>1 point</b>") : tr("<b>%1 points</b>").arg(m_points);
            if (m_valid < m_points)
                text += tr(" · %1 invalid combinations skipped (e.g. asymmetric with a format that has no zero "
                           "point)")
                            .arg(m_points - m_valid);
            if (m_unique < m_valid)
                text += tr(" · %1 the same recipe as another point (e.g. a group size outside group granularity)")
                            .arg(m_valid - m_unique);
            m_existing = m_counter ? m_counter(points) : 0;
            if (m_counter) text += tr(" · %1 already in the project").arg(m_existing);
            text += tr(" · <b>%1 to run</b>").arg(m_unique - m_existing);
        } catch (const std::exception& e) {
            text = QStringLiteral("<span style='color:#b00020'>%1</span>")
                       .arg(QString::fromStdString(e.what()).toHtmlEscaped());
        }
    }
    if (!m_notRunnable.isEmpty())
        text +=
            QStringLiteral("<br><span style='color:#9a6700'>%1</span>").arg(m_notRunnable.toHtmlEscaped());
    m_summary->setText(text);
    m_predictions->setGrid(g);
    m_run->setEnabled(m_unique > 0 && m_notRunnable.isEmpty() && !m_predictions->isPredicting());
    m_save->setEnabled(!g.is_null());
}

bool SweepDialog::saveGrid(const QString& path, QString* error) const {
    const nlohmann::json g = grid();
    if (g.is_null()) {
        if (error) *error = tr("the grid is incomplete");
        return false;
    }
    QSaveFile file(path);
    const QByteArray text = QByteArray::fromStdString(g.dump(2) + "\n");
    if (!file.open(QIODevice::WriteOnly) || file.write(text) != text.size() || !file.commit()) {
        if (error) *error = tr("%1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

void SweepDialog::chooseSaveGrid() {
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Save grid"), QDir::homePath() + QStringLiteral("/grid.json"), tr("Grid JSON (*.json)"));
    if (path.isEmpty()) return;
    QString error;
    if (!saveGrid(path, &error)) QMessageBox::warning(this, tr("Save grid"), error);
}

} // namespace qs::gui
