// SPDX-License-Identifier: MIT
// Per-layer rules from the layer table, offscreen: the rules the CLI spells as --layer flags, set
// through the table's filter and selection, give the same recipe key and the same numbers as
// shared/fixtures/tinyllama-bpe512/recipe_mixed.json evaluated by the core directly.
#include "quant/model_quantizer.h"
#include "quant/recipe.h"
#include "eval/perplexity.h"
#include "data/token_data.h"
#include "layer_table_model.h"
#include "layer_table_view.h"
#include "nn/causal_lm.h"
#include "common/param_form.h"
#include "runs_model.h"
#include "runs_view.h"
#include "store/project.h"
#include "window_test.h"

#include <QItemSelectionModel>
#include <QLineEdit>
#include <QMenu>
#include <QTableView>
#include <fstream>

namespace {

using namespace qs;

const QString kTestText = QStringLiteral(QS_FIXTURES_DIR "/corpus/test.txt");

class LayerRulesGuiTest : public test::WindowTest {
protected:
    views::LayerTableView* table() const {
        return qobject_cast<views::LayerTableView*>(m_window->view(QStringLiteral("layer_table")));
    }
    // The recipe's default as the Parameters dock sets it: RTN int4 asym group 32.
    void chooseDefault() {
        ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("rtn")));
        m_window->parameters()->specForm()->setValue(QStringLiteral("format"), "int4");
        m_window->parameters()->specForm()->setValue(QStringLiteral("granularity"), "group");
        m_window->parameters()->specForm()->setValue(QStringLiteral("group"), 32);
        m_window->parameters()->specForm()->setValue(QStringLiteral("sym"), false);
    }
    // Adds GLOB=SPEC through the table's filter, as a user types it.
    bool addRule(const QString& glob, const QString& spec) {
        table()->filterEdit()->setText(glob);
        const bool ok = table()->addRuleForFilter(spec);
        table()->filterEdit()->clear();
        return ok;
    }
    QString assignmentOf(const QString& name) const {
        auto* model = table()->tableModel();
        return model->index(model->rowOf(name), views::LayerTableModel::Assignment).data().toString();
    }
};

TEST_F(LayerRulesGuiTest, FilterRulesGiveTheCliKeyAndTheReferenceNumbers) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    chooseDefault();
    EXPECT_FALSE(addRule(QStringLiteral("*.mlp.dwn_proj"), QStringLiteral("int8"))); // matches nothing
    EXPECT_FALSE(addRule(QStringLiteral("*.mlp.*"), QStringLiteral("mxfp4:asym")));  // MX has no zero point
    ASSERT_TRUE(addRule(QStringLiteral("*.mlp.down_proj"), QStringLiteral("int8:channel:sym")));
    ASSERT_TRUE(addRule(QStringLiteral("model.layers.0.*"), QStringLiteral("keep")));
    EXPECT_EQ(assignmentOf(QStringLiteral("model.layers.0.mlp.down_proj.weight")), QStringLiteral("keep"));
    EXPECT_EQ(assignmentOf(QStringLiteral("model.layers.2.mlp.down_proj.weight")), QStringLiteral("int8:channel:sym"));
    EXPECT_EQ(assignmentOf(QStringLiteral("model.layers.2.mlp.up_proj.weight")), QStringLiteral("default"));
    EXPECT_EQ(assignmentOf(QStringLiteral("model.embed_tokens.weight")), QStringLiteral("—"));

    const nlohmann::json file = nlohmann::json::parse(std::ifstream(QS_FIXTURES_DIR "/tinyllama-bpe512/recipe_mixed.json"));
    const core::Recipe want = core::recipeFromJson(file, m_registries, "recipe_mixed.json");
    const std::optional<core::Recipe> got = m_window->parameters()->currentRecipe();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->canonical(), want.canonical());

    // Evaluate stores the run under that key with the numbers of a direct core evaluation.
    const QString project = freshProject(QStringLiteral("layer_rules.qsproj"));
    ASSERT_TRUE(m_window->experiments()->openProject(project, true));
    m_window->experiments()->setEvaluationData(kTestText);
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 4);
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(m_window->experiments()->lastEvaluation()) << log();
    auto store = core::Project::open(project.toStdString(), false);
    const auto run = store->run(m_window->experiments()->lastEvaluation()->runId);
    ASSERT_TRUE(run);
    EXPECT_EQ(run->recipe, want.canonical());

    const auto model = core::openModel(test::fixtureModel().toStdString());
    std::string source;
    const auto tokens = core::readTokenData(kTestText.toStdString(), model->path(), source);
    const core::CausalLm reference(*model);
    const core::ModelQuantResult q = core::quantizeModel(*model, m_registries, want.job, {}, true);
    const core::CausalLm candidate(reference, q.weights);
    const core::PerplexityResult direct = core::evaluatePerplexity(candidate, tokens, {128, 4}, {});
    ASSERT_TRUE(run->metrics.perplexity);
    EXPECT_DOUBLE_EQ(*run->metrics.perplexity, direct.perplexity);
    ASSERT_TRUE(run->metrics.bitsPerWeight);
    EXPECT_DOUBLE_EQ(*run->metrics.bitsPerWeight, q.bitsPerWeight);
}

TEST_F(LayerRulesGuiTest, SelectedRowsGetTheirOwnRulesAndRunShowsTheirBits) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    chooseDefault();
    auto* view = table();
    auto* model = view->tableModel();
    auto* selection = view->tableView()->selectionModel();
    const auto select = [&](const QStringList& names) {
        selection->clearSelection();
        for (const QString& n : names)
            selection->select(view->proxyModel()->mapFromSource(model->index(model->rowOf(n), 0)),
                              QItemSelectionModel::Select | QItemSelectionModel::Rows);
    };
    const QString q0 = QStringLiteral("model.layers.3.self_attn.q_proj.weight");
    const QString k0 = QStringLiteral("model.layers.3.self_attn.k_proj.weight");
    select({q0, k0, QStringLiteral("model.norm.weight")}); // the norm is not quantizable: no rule for it
    view->setRuleForSelection(QStringLiteral("keep"));
    ASSERT_EQ(m_window->viewContext()->layerRules().size(), 2u);
    view->setRuleForSelection(QStringLiteral("int8:channel")); // replaces their own rules
    ASSERT_EQ(m_window->viewContext()->layerRules().size(), 2u);
    EXPECT_EQ(assignmentOf(q0), QStringLiteral("int8:channel"));

    ASSERT_TRUE(m_window->experiments()->runQuantization());
    ASSERT_TRUE(waitIdle()) << log();
    const auto* r = m_window->viewContext()->layerResult(q0);
    ASSERT_TRUE(r);
    // int8 per channel, asymmetric as the default: an fp16 scale and an 8-bit zero point per row.
    EXPECT_DOUBLE_EQ(r->bitsPerWeight, 8.0 + 24.0 / 192);
    select({k0});
    view->setRuleForSelection({}); // back to the default
    EXPECT_EQ(m_window->viewContext()->layerRules().size(), 1u);
    EXPECT_EQ(assignmentOf(k0), QStringLiteral("default"));
}

// "Load into form" on a Runs row puts the stored recipe back into the Parameters panel and the layer
// table: the form then gives the very key the run was stored under (default, rules, activation/KV specs).
TEST_F(LayerRulesGuiTest, LoadIntoFormRoundTripsAStoredRunsRecipe) {
    ASSERT_NO_FATAL_FAILURE(openAndWait(test::fixtureModel()));
    chooseDefault();
    ASSERT_TRUE(addRule(QStringLiteral("*.mlp.down_proj"), QStringLiteral("int8:channel:sym")));
    ASSERT_TRUE(addRule(QStringLiteral("model.layers.0.*"), QStringLiteral("keep")));
    m_window->parameters()->actQuantEdit()->setText(QStringLiteral("int8:token:sym:p99.9"));
    m_window->parameters()->kvQuantEdit()->setText(QStringLiteral("int4:group:16:asym"));
    ASSERT_TRUE(m_window->experiments()->openProject(freshProject(QStringLiteral("load_into_form.qsproj")), true));
    m_window->experiments()->setEvaluationData(kTestText);
    m_window->parameters()->evalForm()->setValue(QStringLiteral("windows"), 1);
    ASSERT_TRUE(m_window->experiments()->evaluate());
    ASSERT_TRUE(waitIdle()) << log();
    ASSERT_TRUE(m_window->experiments()->lastEvaluation()) << log();
    const qint64 id = m_window->experiments()->lastEvaluation()->runId;
    const auto stored = m_window->experiments()->project()->run(id);
    ASSERT_TRUE(stored);

    // Change everything the run set.
    ASSERT_TRUE(m_window->parameters()->setMethod(QStringLiteral("rtn")));
    m_window->parameters()->specForm()->setValue(QStringLiteral("format"), "int8");
    m_window->parameters()->specForm()->setValue(QStringLiteral("granularity"), "channel");
    m_window->viewContext()->setLayerRules(nlohmann::json::array());
    m_window->parameters()->actQuantEdit()->clear();
    m_window->parameters()->kvQuantEdit()->clear();
    ASSERT_NE(m_window->parameters()->currentRecipe()->canonical(), stored->recipe);

    auto* runs = qobject_cast<views::RunsView*>(m_window->view(QStringLiteral("runs")));
    ASSERT_TRUE(runs);
    const auto proxyRow = [&](qint64 run) {
        return runs->proxy()->mapFromSource(runs->model()->index(runs->model()->rowOf(run), 0));
    };
    QMenu menu;
    QAction* load = runs->loadIntoFormAction(&menu, proxyRow(id));
    ASSERT_TRUE(load->isEnabled());
    load->trigger();
    const auto loaded = m_window->parameters()->currentRecipe();
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->canonical(), stored->recipe);
    EXPECT_EQ(m_window->viewContext()->layerRules().size(), 2u);
    EXPECT_EQ(assignmentOf(QStringLiteral("model.layers.2.mlp.down_proj.weight")), QStringLiteral("int8:channel:sym"));

    // The fp32 reference has no recipe the form could hold: the action says so instead of acting.
    QMenu other;
    QAction* reference = runs->loadIntoFormAction(&other, proxyRow(m_window->experiments()->lastEvaluation()->referenceRunId));
    EXPECT_FALSE(reference->isEnabled());
    EXPECT_TRUE(reference->text().contains(QStringLiteral("fp32")));
}

} // namespace
