// SPDX-License-Identifier: MIT
#include "cost/mac_cost.h"

#include "base/error.h"
#include "formats/format_traits.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace qs::core {
namespace {

constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

std::string lowered(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

CostFormat integerFormat(std::string name, int bits) {
    return {std::move(name), "int" + std::to_string(bits), CostFormatFamily::Integer, bits};
}

// A row of the format table: block formats (MX, NV) multiply their elements; the block scale is applied
// outside the MAC, so their MAC is the element format's.
CostFormat fromTraits(const FormatTraits& t, std::string name) {
    switch (t.kind) {
    case FormatKind::Integer: return integerFormat(std::move(name), t.elementBits);
    case FormatKind::ScaledFloat: return {std::move(name), std::string(t.name), CostFormatFamily::Float, t.elementBits};
    case FormatKind::Cast: return {std::move(name), std::string(t.name), CostFormatFamily::Float, t.elementBits};
    case FormatKind::Microscaling:
    case FormatKind::TwoLevel:
        if (!t.element) return integerFormat(std::move(name), t.elementBits);
        for (const FormatTraits& row : formatTable())
            if (row.kind == FormatKind::ScaledFloat && row.element == t.element)
                return {std::move(name), std::string(row.name), CostFormatFamily::Float, t.elementBits};
        return {std::move(name), std::string(t.name), CostFormatFamily::Float, t.elementBits};
    case FormatKind::Codebook:
    case FormatKind::Logarithmic:
        return {std::move(name), std::string(t.name), CostFormatFamily::Codebook, t.elementBits};
    }
    return {std::move(name), std::string(t.name), CostFormatFamily::Unknown, 0};
}

// "int<k>" / "uint<k>" outside the format table (int16, int32): k, or 0.
int integerWidth(std::string_view s) {
    if (s.starts_with("uint")) s.remove_prefix(4);
    else if (s.starts_with("int")) s.remove_prefix(3);
    else return 0;
    if (s.empty() || s.size() > 2 || !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(c); })) return 0;
    const int k = std::stoi(std::string(s));
    return k >= 1 && k <= 64 ? k : 0;
}

std::optional<double> entryValue(const nlohmann::json& v, const std::string& where) {
    if (v.is_null()) return std::nullopt;
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
        throw Error("mac_cost: " + where + " must be a positive number or null (unset)");
    return v.get<double>();
}

std::optional<double> ratio(const std::optional<double>& value, const std::optional<double>& reference) {
    if (!value || !reference) return std::nullopt;
    return *value / *reference;
}

nlohmann::json numberOrNull(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
nlohmann::json numberOrNull(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

std::string formatLabel(const CostFormat& f) {
    return f.element == f.name ? f.name : f.name + " (" + f.element + ")";
}

// The table row an operand's MAC runs at: its exact name, its element format, or for integers the narrowest
// integer row that holds it (an int3 weight runs on int4 multipliers).
std::string rowFor(const MacCostTable& table, const CostFormat& f) {
    if (table.hasRow(f.name)) return f.name;
    if (table.hasRow(f.element)) return f.element;
    if (f.family != CostFormatFamily::Integer || f.bits <= 0) return {};
    std::string best;
    int bestBits = 0;
    for (const auto& row : table.rows()) {
        const CostFormat r = classifyCostFormat(row);
        if (r.family == CostFormatFamily::Integer && r.bits >= f.bits && (best.empty() || r.bits < bestBits)) {
            best = row;
            bestBits = r.bits;
        }
    }
    return best;
}

} // namespace

CostFormat classifyCostFormat(std::string_view name, std::string_view nativeFormat) {
    const std::string n = lowered(name);
    if (n == "native") {
        CostFormat f = classifyCostFormat(lowered(nativeFormat) == "native" ? "fp16" : nativeFormat);
        f.name = "native";
        return f;
    }
    if (const FormatTraits* t = findFormat(n)) return fromTraits(*t, n);
    if (n == "fp32" || n == "float32" || n == "f32" || n == "float") return {n, "fp32", CostFormatFamily::Float, 32};
    if (n == "fp16" || n == "float16" || n == "f16" || n == "half") return {n, "fp16", CostFormatFamily::Float, 16};
    if (n == "bf16" || n == "bfloat16") return {n, "bf16", CostFormatFamily::Float, 16};
    if (const int k = integerWidth(n)) return integerFormat(n, k);
    if (n.find("vq") != std::string::npos) return {n, "vq", CostFormatFamily::Codebook, 0};
    return {n, n, CostFormatFamily::Unknown, 0};
}

MacCostTable MacCostTable::seeded() {
    // §12: the only sourced points; every other row is present but unset so listings show what is missing.
    static const MacCostTable seed = fromJson(nlohmann::json::parse(R"({
        "int4": {"int32": null, "int16": null},
        "int8": {"int32": {"area": 1.0, "energy": 1.0}, "int16": null},
        "int16": {"int32": null, "int64": null},
        "fp8_e4m3": {"fp16": {"area": 1.53, "energy": 1.53}, "fp32": {"area": 2.83, "energy": 2.83}},
        "fp8_e5m2": {"fp16": null, "fp32": null},
        "fp16": {"fp16": null, "fp32": null},
        "bf16": {"fp32": null}
    })"));
    return seed;
}

MacCostTable MacCostTable::fromJson(const nlohmann::json& j) {
    if (!j.is_object())
        throw Error("mac_cost: the table must be a JSON object {format: {accumulator: {\"area\": x, \"energy\": y}}}");
    MacCostTable t;
    for (const auto& [row, columns] : j.items()) {
        if (!columns.is_object()) throw Error("mac_cost: row '" + row + "' must be an object of accumulators");
        auto& out = t.rows_[lowered(row)];
        for (const auto& [acc, v] : columns.items()) {
            const std::string where = row + "/" + acc;
            MacCostEntry e;
            if (!v.is_null()) {
                if (!v.is_object()) throw Error("mac_cost: " + where + " must be {\"area\": x, \"energy\": y} or null");
                for (const auto& [key, value] : v.items())
                    if (key != "area" && key != "energy")
                        throw Error("mac_cost: " + where + " has unknown key '" + key + "' (area, energy)");
                e.area = entryValue(v.value("area", nlohmann::json()), where + " area");
                e.energy = entryValue(v.value("energy", nlohmann::json()), where + " energy");
            }
            out[lowered(acc)] = e;
        }
    }
    return t;
}

MacCostTable MacCostTable::fromParam(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    MacCostTable table = seeded();
    if (first == std::string::npos) return table;
    nlohmann::json j;
    if (text[first] == '{') {
        try {
            j = nlohmann::json::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
            throw Error(std::string("mac_cost: not valid JSON: ") + e.what());
        }
    } else {
        std::ifstream in(text);
        if (!in) throw Error("mac_cost: cannot read '" + text + "' (give a JSON object or the path of a JSON file)");
        std::stringstream s;
        s << in.rdbuf();
        try {
            j = nlohmann::json::parse(s.str());
        } catch (const nlohmann::json::parse_error& e) {
            throw Error("mac_cost: " + text + ": not valid JSON: " + e.what());
        }
    }
    table.merge(fromJson(j));
    return table;
}

nlohmann::json MacCostTable::toJson() const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [row, columns] : rows_) {
        auto& r = j[row] = nlohmann::json::object();
        for (const auto& [acc, e] : columns)
            r[acc] = !e.area && !e.energy
                         ? nlohmann::json(nullptr)
                         : nlohmann::json{{"area", numberOrNull(e.area)}, {"energy", numberOrNull(e.energy)}};
    }
    return j;
}

void MacCostTable::merge(const MacCostTable& overrides) {
    for (const auto& [row, columns] : overrides.rows_) {
        auto& out = rows_[row];
        for (const auto& [acc, e] : columns) out[acc] = e;
    }
}

bool MacCostTable::hasRow(std::string_view format) const { return rows_.find(format) != rows_.end(); }

std::vector<std::string> MacCostTable::rows() const {
    std::vector<std::string> names;
    for (const auto& [row, columns] : rows_) names.push_back(row);
    return names;
}

const MacCostEntry* MacCostTable::find(std::string_view format, std::string_view accumulator) const {
    const auto r = rows_.find(format);
    if (r == rows_.end()) return nullptr;
    const auto c = r->second.find(accumulator);
    return c == r->second.end() ? nullptr : &c->second;
}

MacPricingOptions MacPricingOptions::fromParams(const nlohmann::json& p) {
    MacPricingOptions o;
    o.intAccumulator = lowered(p.value("int_accumulator", o.intAccumulator));
    o.fpAccumulator = lowered(p.value("fp_accumulator", o.fpAccumulator));
    o.nativeFormat = lowered(p.value("native_format", o.nativeFormat));
    return o;
}

nlohmann::json MacPrice::toJson() const {
    return {{"weight_format", weight.name},
            {"activation_format", activation.name},
            {"weight_row", weightRow.empty() ? nlohmann::json(nullptr) : nlohmann::json(weightRow)},
            {"activation_row", activationRow.empty() ? nlohmann::json(nullptr) : nlohmann::json(activationRow)},
            {"mac_row", row.empty() ? nlohmann::json(nullptr) : nlohmann::json(row)},
            {"accumulator", accumulator.empty() ? nlohmann::json(nullptr) : nlohmann::json(accumulator)},
            {"area_ratio", numberOrNull(area)},
            {"energy_ratio", numberOrNull(energy)},
            {"mac_cost_status", status},
            {"mac_cost_note", note}};
}

MacPrice priceMac(const MacCostTable& table, const CostLayer& layer, const MacPricingOptions& options) {
    MacPrice p;
    p.weight = classifyCostFormat(layer.weights.format, options.nativeFormat);
    p.activation = classifyCostFormat(layer.activations.format, options.nativeFormat);
    p.weightRow = rowFor(table, p.weight);
    p.activationRow = rowFor(table, p.activation);
    if (p.weightRow.empty() || p.activationRow.empty()) {
        p.status = "unpriced";
        auto missing = [&](const std::string& row, const CostFormat& f) {
            if (row.empty()) p.note += (p.note.empty() ? "" : "; ") + formatLabel(f) + ": no row in mac_cost";
        };
        missing(p.weightRow, p.weight);
        missing(p.activationRow, p.activation);
        return p;
    }
    // The wider operand sets the MAC; at equal width the float one (an FP x INT product needs the FP datapath).
    const CostFormat w = classifyCostFormat(p.weightRow), a = classifyCostFormat(p.activationRow);
    const bool activationWins = a.bits > w.bits || (a.bits == w.bits && a.family == CostFormatFamily::Float &&
                                                    w.family != CostFormatFamily::Float);
    const CostFormat& mac = activationWins ? a : w;
    p.row = activationWins ? p.activationRow : p.weightRow;
    p.accumulator = mac.family == CostFormatFamily::Integer ? options.intAccumulator : options.fpAccumulator;
    const MacCostEntry* entry = table.find(p.row, p.accumulator);
    const MacCostEntry* reference = table.find("int8", "int32");
    if (!entry) {
        p.status = "unpriced";
        p.note = p.row + ": no '" + p.accumulator + "' accumulator column in mac_cost";
        return p;
    }
    if (!reference || !reference->area || !reference->energy) {
        p.status = "unset";
        p.note = "the int8/int32 reference entry is unset";
        return p;
    }
    p.area = ratio(entry->area, reference->area);
    p.energy = ratio(entry->energy, reference->energy);
    p.status = p.area && p.energy ? "priced" : "unset";
    if (!p.area || !p.energy)
        p.note = p.row + "/" + p.accumulator + ": " +
                 (!p.area && !p.energy ? "area and energy" : !p.area ? "area" : "energy") +
                 " unset (not yet sourced; fill the mac_cost table)";
    return p;
}

LayerValueCounts layerValueCounts(const CostLayer& l) {
    const double groups = std::max(1, l.groups);
    return {static_cast<double>(l.F) * (static_cast<double>(l.C) / groups) * l.KY * l.KX,
            static_cast<double>(l.M) * static_cast<double>(l.C) * l.NY * l.NX,
            static_cast<double>(l.M) * static_cast<double>(l.F) * l.OY * l.OX};
}

double int8MacEnergy(const EnergyParams& e) { return e.mac * (8.0 * 8.0) / (16.0 * 16.0) + e.accumulate; }

MacEnergy macEnergy(const MacPrice& price, const CostLayer& layer, const EnergyParams& e) {
    if (price.energy) return {*price.energy * int8MacEnergy(e), "mac_cost table"};
    const double bits = static_cast<double>(layer.weights.bits) * layer.activations.bits;
    return {e.mac * bits / (16.0 * 16.0) + e.accumulate, "bits^2 rule (mac_cost: " + price.status + ")"};
}

ParamSchema macCostSchema() {
    return {
        {"mac_cost", ParamType::Text, MacCostTable::seeded().toJson().dump(), 0, 0, {},
         "MAC cost table {format: {accumulator: {area, energy} | null}} relative to int8/int32, as JSON or a JSON file "
         "path, merged over the seed (Qualcomm FP8-vs-INT8 whitepaper; null = unset)",
         "MAC cost table"},
        {"int_accumulator", ParamType::Text, "int32", 0, 0, {}, "accumulator column for integer MACs",
         "INT accumulator"},
        {"fp_accumulator", ParamType::Text, "fp32", 0, 0, {}, "accumulator column for float MACs (fp16 or fp32)",
         "FP accumulator"},
        {"native_format", ParamType::Text, "fp16", 0, 0, {}, "format unquantized ('native') operands compute in",
         "Native format"},
    };
}

const ParamSchema& MacCostModel::params() const {
    static const ParamSchema schema = joinSchemas({
        {
            {"macs_per_cycle", ParamType::Float, 1024.0, 1e-6, 1e12, {},
             "INT8 MACs per cycle of the reference array (an FP array of the same area fits area_ratio times fewer)",
             "INT8 MACs/cycle"},
            {"dram_bytes_per_cycle", ParamType::Float, 32.0, 1e-9, 1e12, {}, "off-chip bytes per cycle",
             "DRAM bytes/cycle"},
        },
        macCostSchema(),
        energySchema(),
    });
    return schema;
}

LayerCost MacCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const MacPrice price = priceMac(MacCostTable::fromParam(params.at("mac_cost").get<std::string>()), layer,
                                    MacPricingOptions::fromParams(params));
    const EnergyParams e = EnergyParams::fromParams(params);
    const double macsPerCycle = params.at("macs_per_cycle").get<double>();
    const double bytesPerCycle = params.at("dram_bytes_per_cycle").get<double>();
    const LayerValueCounts n = layerValueCounts(layer);
    const double macs = static_cast<double>(layer.macs());

    // §12: traffic depends only on the bits per value; the baseline stores every value in 8 bits.
    const double weightBytes = n.weights * layer.weightStoredBits / 8;
    const double activationBytes = (n.inputs + n.outputs) * layer.activationStoredBits / 8;
    const double bytes = weightBytes + activationBytes;
    const double baselineBytes = n.weights + n.inputs + n.outputs;

    const double baselineCompute = macs / macsPerCycle;
    const double compute = price.area ? baselineCompute * *price.area : kUnknown; // equal area: fewer FP MACs fit
    const double memory = bytes / bytesPerCycle;
    const double refMac = int8MacEnergy(e);
    const double computeEnergy = price.energy ? macs * refMac * *price.energy : kUnknown;

    LayerCost cost;
    cost.name = layer.name;
    cost.baselineCycles = std::max(baselineCompute, baselineBytes / bytesPerCycle);
    cost.cycles = std::isnan(compute) ? kUnknown : std::max(compute, memory);
    cost.baselineEnergy = macs * refMac + baselineBytes * e.dramByte;
    cost.energy = computeEnergy + bytes * e.dramByte;
    cost.extra = price.toJson();
    cost.extra["priced"] = price.status == "priced";
    cost.extra["macs"] = macs;
    cost.extra["weight_bytes"] = weightBytes;
    cost.extra["activation_bytes"] = activationBytes;
    cost.extra["bytes"] = bytes;
    cost.extra["baseline_bytes"] = baselineBytes;
    cost.extra["compute_cycles"] = numberOrNull(compute);
    cost.extra["memory_cycles"] = memory;
    cost.extra["bound"] =
        std::isnan(compute) ? nlohmann::json(nullptr) : nlohmann::json(compute > memory ? "compute" : "memory");
    cost.extra["compute_energy"] = numberOrNull(computeEnergy);
    cost.extra["memory_energy"] = bytes * e.dramByte;
    cost.extra["int8_mac_energy"] = refMac;
    return cost;
}

std::unique_ptr<CostModel> makeMacCostModel() { return std::make_unique<MacCostModel>(); }

} // namespace qs::core
