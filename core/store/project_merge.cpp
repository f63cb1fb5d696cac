// SPDX-License-Identifier: MIT
#include "store/project_merge.h"

#include "base/error.h"

#include <map>
#include <memory>
#include <tuple>

namespace qs::core {
namespace {

std::string join(const std::set<std::string>& items) {
    if (items.empty()) return "none";
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
    return out;
}

// Throws when `got` (of `source`) was made on other models, data or settings than `want` (of `ref`).
void checkSame(const ProjectSignature& want, const std::string& ref, const ProjectSignature& got,
               const std::string& source) {
    const auto differ = [&](const char* what, const std::set<std::string>& w, const std::set<std::string>& g) {
        if (w == g) return;
        throw Error("merge: " + source + " was made on " + what + " " + join(g) + ", but " + ref + " on " + what + " " +
                    join(w) + "; merge only the shards of one sweep (same model, data and eval settings), or pass "
                    "--allow-different to merge them anyway");
    };
    differ("model", want.models, got.models);
    differ("data", want.datasets, got.datasets);
    differ("fp32 eval settings", want.referenceSettings, got.referenceSettings);
}

// Run identity across projects: recipe, model and data (by hash) and eval settings.
using RunKey = std::tuple<std::string, std::string, std::string, std::string>;

struct SourceIds {
    std::map<std::int64_t, std::int64_t> models, datasets, provenance, runs, analyses;
};

} // namespace

ProjectSignature projectSignature(Project& project) {
    ProjectSignature s;
    std::set<std::int64_t> models, datasets;
    for (const auto& r : project.runs()) {
        models.insert(r.modelId);
        datasets.insert(r.datasetId);
        if (r.recipe == "{}" && r.status == "finished") s.referenceSettings.insert(r.evalSettings);
    }
    for (const auto& a : project.analyses()) {
        models.insert(a.modelId);
        datasets.insert(a.datasetId);
    }
    for (const auto id : models) {
        const ModelRecord m = project.model(id);
        s.models.insert(m.hash + " (" + m.path + ")");
    }
    for (const auto id : datasets) {
        const DatasetRecord d = project.dataset(id);
        s.datasets.insert(d.hash + " (" + d.path + ")");
    }
    return s;
}

nlohmann::json MergeSourceSummary::toJson() const {
    return {{"path", path},
            {"runs_added", runsAdded},
            {"runs_duplicate", runsDuplicate},
            {"analyses_added", analysesAdded},
            {"analyses_duplicate", analysesDuplicate},
            {"plans_added", plansAdded},
            {"plans_duplicate", plansDuplicate}};
}

nlohmann::json MergeSummary::toJson() const {
    nlohmann::json list = nlohmann::json::array();
    MergeSourceSummary total;
    for (const auto& s : sources) {
        list.push_back(s.toJson());
        total.runsAdded += s.runsAdded, total.runsDuplicate += s.runsDuplicate;
        total.analysesAdded += s.analysesAdded, total.analysesDuplicate += s.analysesDuplicate;
        total.plansAdded += s.plansAdded, total.plansDuplicate += s.plansDuplicate;
    }
    nlohmann::json j = total.toJson();
    j.erase("path");
    j["sources"] = list;
    return j;
}

MergeSummary mergeProjects(Project& into, const std::vector<std::filesystem::path>& sources,
                           const MergeOptions& options, const JobContext& ctx) {
    if (sources.empty()) throw Error("merge: no source projects given");
    // Open and check every source before writing anything: a refused merge changes nothing.
    std::vector<std::unique_ptr<Project>> open;
    ProjectSignature ref = projectSignature(into);
    std::string refName = into.path().string();
    if (ref.empty()) refName.clear();
    for (const auto& path : sources) {
        std::error_code ec;
        if (std::filesystem::equivalent(path, into.path(), ec))
            throw Error("merge: " + path.string() + " is the destination project itself");
        auto src = Project::open(path, false);
        const ProjectSignature sig = projectSignature(*src);
        if (!options.allowDifferent && !sig.empty()) {
            if (refName.empty()) {
                ref = sig;
                refName = path.string();
            } else {
                checkSame(ref, refName, sig, path.string());
            }
        }
        for (const auto& r : src->runs())
            if (!r.arraysFile.empty() && !std::filesystem::exists(src->arraysDir() / r.arraysFile))
                throw Error("merge: " + (src->arraysDir() / r.arraysFile).string() + ": the arrays file of run " +
                            std::to_string(r.id) + " of " + path.string() + " is missing");
        for (const auto& a : src->analyses())
            if (!a.arraysFile.empty() && !std::filesystem::exists(src->arraysDir() / a.arraysFile))
                throw Error("merge: " + (src->arraysDir() / a.arraysFile).string() + ": the arrays file of analysis " +
                            std::to_string(a.id) + " of " + path.string() + " is missing");
        open.push_back(std::move(src));
    }

    // What the destination holds, by content (model and data hashes, not ids).
    std::map<RunKey, std::int64_t> finished;
    std::set<RunKey> failed;
    const auto keyOf = [](Project& p, const RunRecord& r) {
        return RunKey{r.recipe, p.model(r.modelId).hash, p.dataset(r.datasetId).hash, r.evalSettings};
    };
    for (const auto& r : into.runs()) {
        if (r.status == "finished") finished.emplace(keyOf(into, r), r.id);
        else failed.insert(keyOf(into, r));
    }

    MergeSummary summary;
    nlohmann::json history = nlohmann::json::array();
    if (const auto h = into.setting("merge.history")) {
        history = nlohmann::json::parse(*h, nullptr, false);
        if (!history.is_array()) history = nlohmann::json::array();
    }
    for (std::size_t s = 0; s < open.size(); ++s) {
        Project& src = *open[s];
        MergeSourceSummary out;
        out.path = src.path().string();
        SourceIds ids;
        const auto model = [&](std::int64_t id) {
            auto it = ids.models.find(id);
            if (it == ids.models.end()) it = ids.models.emplace(id, into.ensureModel(src.model(id))).first;
            return it->second;
        };
        const auto dataset = [&](std::int64_t id) {
            auto it = ids.datasets.find(id);
            if (it == ids.datasets.end()) it = ids.datasets.emplace(id, into.ensureDataset(src.dataset(id))).first;
            return it->second;
        };
        const auto provenance = [&](std::int64_t id) -> std::int64_t {
            if (id == 0) return 0;
            auto it = ids.provenance.find(id);
            if (it == ids.provenance.end()) it = ids.provenance.emplace(id, into.ensureProvenance(src.provenance(id))).first;
            return it->second;
        };

        const auto runs = src.runs();
        for (std::size_t i = 0; i < runs.size(); ++i) {
            const RunRecord& r = runs[i];
            ctx.step(static_cast<long long>(i), static_cast<long long>(runs.size()),
                     src.path().filename().string() + ": " + r.recipeLabel);
            const RunKey key = keyOf(src, r);
            if (const auto it = finished.find(key); it != finished.end()) {
                ids.runs[r.id] = it->second;
                ++out.runsDuplicate;
                continue;
            }
            if (r.status != "finished" && failed.count(key)) {
                ++out.runsDuplicate;
                continue;
            }
            NewRun n;
            n.recipe = r.recipe;
            n.recipeLabel = r.recipeLabel;
            n.modelId = model(r.modelId);
            n.datasetId = dataset(r.datasetId);
            n.provenanceId = provenance(r.provenanceId);
            n.evalSettings = r.evalSettings;
            n.status = r.status;
            n.error = r.error;
            n.startedAt = r.startedAt;
            n.finishedAt = r.finishedAt;
            n.seconds = r.seconds;
            n.metrics = r.metrics;
            n.layers = src.layers(r.id);
            if (!r.arraysFile.empty()) n.arraysFrom = src.arraysDir() / r.arraysFile;
            if (const auto id = into.storeRun(n)) {
                ids.runs[r.id] = *id;
                ++out.runsAdded;
                if (r.status == "finished") finished.emplace(key, *id);
                else failed.insert(key);
            } else {
                ++out.runsDuplicate; // another process stored the same run meanwhile
            }
        }

        for (const auto& a : src.analyses()) {
            ctx.checkCancel();
            const std::int64_t m = model(a.modelId), d = dataset(a.datasetId);
            if (const auto have = into.findAnalysis(a.kind, m, d, a.settings)) {
                ids.analyses[a.id] = have->id;
                ++out.analysesDuplicate;
                continue;
            }
            NewAnalysis n;
            n.kind = a.kind;
            n.modelId = m;
            n.datasetId = d;
            n.provenanceId = provenance(a.provenanceId);
            n.settings = a.settings;
            n.manifest = a.manifest;
            n.summary = a.summary;
            n.startedAt = a.startedAt;
            n.finishedAt = a.finishedAt;
            n.seconds = a.seconds;
            n.rows = src.analysisRows(a.id);
            if (!a.arraysFile.empty()) n.arraysFrom = src.arraysDir() / a.arraysFile;
            if (const auto id = into.storeAnalysis(n)) {
                ids.analyses[a.id] = *id;
                ++out.analysesAdded;
            } else if (const auto other = into.findAnalysis(a.kind, m, d, a.settings)) {
                ids.analyses[a.id] = other->id;
                ++out.analysesDuplicate;
            }
        }

        std::set<std::tuple<std::int64_t, std::string, double, std::string>> plans;
        for (const auto& p : into.plans()) plans.emplace(p.analysisId, p.method, p.budget, p.unit);
        for (const auto& p : src.plans()) {
            const auto a = ids.analyses.find(p.analysisId);
            const auto r = ids.runs.find(p.runId);
            if (a == ids.analyses.end() || r == ids.runs.end() ||
                !plans.emplace(a->second, p.method, p.budget, p.unit).second) {
                ++out.plansDuplicate; // the destination's plan of that key stays
                continue;
            }
            PlanRecord n = p;
            n.analysisId = a->second;
            n.runId = r->second;
            into.storePlan(n);
            ++out.plansAdded;
        }

        nlohmann::json entry = out.toJson();
        entry["date"] = isoTimeNow();
        if (!options.commandLine.empty()) entry["command_line"] = options.commandLine;
        history.push_back(entry);
        into.setSetting("merge.history", history.dump());
        summary.sources.push_back(std::move(out));
    }
    return summary;
}

} // namespace qs::core
