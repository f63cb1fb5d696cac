// SPDX-License-Identifier: MIT
#pragma once
// Tiny random Hugging Face model directories and an independent, deliberately naive float64 forward
// pass (loops over tokens, heads and features; its own RoPE, norms and activations) that the Eigen
// forward pass of core/nn is checked against.
#include "data/calib_data.h"
#include "io/safetensors.h"
#include "tensor/half.h"
#include "quant/fake_quant.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace qs::test {

/// What tiny model to build.
struct TinySpec {
    std::string modelType = "llama"; ///< llama, mistral, qwen2, gpt2
    int hidden = 32, layers = 2, heads = 4, kvHeads = 2, inter = 48, vocab = 40, maxPositions = 32;
    bool tied = false;
    bool qkvBias = false; ///< q/k/v biases (qwen2 always has them)
    double theta = 10000.0;
    nlohmann::json ropeScaling = nullptr;
    int slidingWindow = 0; ///< mistral only; 0 = none
    std::string gpt2Prefix = "transformer.";
    std::string activation = ""; ///< empty: the architecture's default
    core::DType matrixDtype = core::DType::F32; ///< stored type of the 2-D weights: F32, BF16 or F16
};

/// Weights by name: shape + float32 values in the stored layout.
struct TinyWeights {
    std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<float>>> tensors;
    const std::vector<float>& at(const std::string& n) const { return tensors.at(n).second; }
    bool has(const std::string& n) const { return tensors.count(n) != 0; }
};

/// Three windows of 16 token ids below 40 (every tiny model's vocabulary holds them): a small
/// calibration or sensitivity set.
inline core::CalibrationData tinyWindows() {
    core::CalibrationData set;
    set.ctx = 16;
    for (int w = 0; w < 3; ++w) {
        std::vector<std::int32_t> ids(16);
        for (int i = 0; i < 16; ++i) ids[std::size_t(i)] = std::int32_t((w * 16 + i) * 7 % 40);
        set.windows.push_back(ids);
    }
    return set;
}

/// Writes config.json + model.safetensors (F32) of a random model into `dir`; returns the weights.
inline TinyWeights writeTinyModel(const std::filesystem::path& dir, const TinySpec& s, unsigned seed = 7) {
    std::filesystem::create_directories(dir);
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    TinyWeights w;
    auto add = [&](const std::string& name, std::vector<std::int64_t> shape, float stddev,
                   float mean = 0.0f) {
        std::int64_t n = 1;
        for (auto d : shape)
            n *= d;
        std::vector<float> v(static_cast<std::size_t>(n));
        for (auto& x : v)
            x = mean + stddev * normal(rng);
        w.tensors[name] = {shape, v};
    };
    const int hd = s.hidden / s.heads;
    nlohmann::json cfg;
    if (s.modelType == "gpt2") {
        const std::string p = s.gpt2Prefix;
        cfg = {{"model_type", "gpt2"},
               {"n_embd", s.hidden},
               {"n_layer", s.layers},
               {"n_head", s.heads},
               {"n_positions", s.maxPositions},
               {"vocab_size", s.vocab},
               {"n_inner", s.inter},
               {"layer_norm_epsilon", 1e-5},
               {"activation_function", s.activation.empty() ? "gelu_new" : s.activation}};
        add(p + "wte.weight", {s.vocab, s.hidden}, 0.5f);
        add(p + "wpe.weight", {s.maxPositions, s.hidden}, 0.2f);
        for (int l = 0; l < s.layers; ++l) {
            const std::string b = p + "h." + std::to_string(l) + ".";
            add(b + "ln_1.weight", {s.hidden}, 0.1f, 1.0f);
            add(b + "ln_1.bias", {s.hidden}, 0.1f);
            add(b + "attn.c_attn.weight", {s.hidden, 3 * s.hidden}, 0.25f);
            add(b + "attn.c_attn.bias", {3 * s.hidden}, 0.1f);
            add(b + "attn.c_proj.weight", {s.hidden, s.hidden}, 0.15f);
            add(b + "attn.c_proj.bias", {s.hidden}, 0.1f);
            add(b + "ln_2.weight", {s.hidden}, 0.1f, 1.0f);
            add(b + "ln_2.bias", {s.hidden}, 0.1f);
            add(b + "mlp.c_fc.weight", {s.hidden, s.inter}, 0.2f);
            add(b + "mlp.c_fc.bias", {s.inter}, 0.1f);
            add(b + "mlp.c_proj.weight", {s.inter, s.hidden}, 0.15f);
            add(b + "mlp.c_proj.bias", {s.hidden}, 0.1f);
        }
        add(p + "ln_f.weight", {s.hidden}, 0.1f, 1.0f);
        add(p + "ln_f.bias", {s.hidden}, 0.1f);
    } else {
        cfg = {{"model_type", s.modelType},
               {"hidden_size", s.hidden},
               {"intermediate_size", s.inter},
               {"num_hidden_layers", s.layers},
               {"num_attention_heads", s.heads},
               {"num_key_value_heads", s.kvHeads},
               {"vocab_size", s.vocab},
               {"max_position_embeddings", s.maxPositions},
               {"rms_norm_eps", 1e-6},
               {"rope_theta", s.theta},
               {"rope_scaling", s.ropeScaling},
               {"tie_word_embeddings", s.tied},
               {"hidden_act", s.activation.empty() ? "silu" : s.activation}};
        if (s.modelType == "mistral")
            cfg["sliding_window"] = s.slidingWindow > 0 ? nlohmann::json(s.slidingWindow) : nlohmann::json();
        if (s.modelType == "llama") cfg["attention_bias"] = s.qkvBias;
        const bool bias = s.qkvBias || s.modelType == "qwen2";
        add("model.embed_tokens.weight", {s.vocab, s.hidden}, 0.5f);
        for (int l = 0; l < s.layers; ++l) {
            const std::string b = "model.layers." + std::to_string(l) + ".";
            add(b + "input_layernorm.weight", {s.hidden}, 0.1f, 1.0f);
            add(b + "post_attention_layernorm.weight", {s.hidden}, 0.1f, 1.0f);
            add(b + "self_attn.q_proj.weight", {s.heads * hd, s.hidden}, 0.25f);
            add(b + "self_attn.k_proj.weight", {s.kvHeads * hd, s.hidden}, 0.25f);
            add(b + "self_attn.v_proj.weight", {s.kvHeads * hd, s.hidden}, 0.25f);
            if (bias) {
                add(b + "self_attn.q_proj.bias", {s.heads * hd}, 0.2f);
                add(b + "self_attn.k_proj.bias", {s.kvHeads * hd}, 0.2f);
                add(b + "self_attn.v_proj.bias", {s.kvHeads * hd}, 0.2f);
            }
            add(b + "self_attn.o_proj.weight", {s.hidden, s.heads * hd}, 0.15f);
            add(b + "mlp.gate_proj.weight", {s.inter, s.hidden}, 0.2f);
            add(b + "mlp.up_proj.weight", {s.inter, s.hidden}, 0.2f);
            add(b + "mlp.down_proj.weight", {s.hidden, s.inter}, 0.15f);
        }
        add("model.norm.weight", {s.hidden}, 0.1f, 1.0f);
        if (!s.tied) add("lm_head.weight", {s.vocab, s.hidden}, 0.3f);
    }
    std::ofstream(dir / "config.json") << cfg.dump(2);
    std::vector<std::pair<std::string, core::Tensor>> ts;
    for (auto& [name, t] : w.tensors) {
        if (t.first.size() != 2 || s.matrixDtype == core::DType::F32) {
            ts.emplace_back(name, core::Tensor::fromFloats(t.first, t.second));
            continue;
        }
        // 16-bit matrices; TinyWeights keeps the values they hold.
        core::Tensor half = core::Tensor::zeros(s.matrixDtype, t.first);
        auto* bits = half.mutableData<std::uint16_t>();
        for (std::size_t i = 0; i < t.second.size(); ++i) {
            const bool bf16 = s.matrixDtype == core::DType::BF16;
            bits[i] = bf16 ? core::f32ToBf16(t.second[i]) : core::f32ToF16(t.second[i]);
            t.second[i] = bf16 ? core::bf16ToF32(bits[i]) : core::f16ToF32(bits[i]);
        }
        ts.emplace_back(name, std::move(half));
    }
    core::writeSafetensors(dir / "model.safetensors", ts);
    return w;
}

/// The naive float64 reference forward pass of a TinySpec model.
class NaiveLm {
public:
    using Mat = std::vector<std::vector<double>>; // [tokens][features]

    NaiveLm(TinySpec spec, TinyWeights weights) : m_s(std::move(spec)), m_w(std::move(weights)) {}

    std::optional<core::QuantSpec> activationQuant; ///< per-token fake quant of every Linear input
    std::optional<core::QuantSpec> kvQuant;         ///< fake quant of K (after RoPE) and V per token/head
    /// Every Linear and the head on operands rounded to bf16 (the input through float32 first), summed
    /// in float64 (ForwardHooks::bf16Products).
    bool bf16Products = false;

    /// Logits [tokens][vocab].
    Mat forward(const std::vector<int>& ids) const {
        return m_s.modelType == "gpt2" ? forwardGpt2(ids) : forwardLlama(ids);
    }

private:
    const std::vector<float>& w(const std::string& n) const { return m_w.at(n); }

    // An operand of a product: itself, or rounded to bf16 (through float32).
    double operand(double v) const {
        return bf16Products ? core::bf16ToF32(core::f32ToBf16(static_cast<float>(v))) : v;
    }
    // y = x W^T (+ b), W stored [out, in].
    Mat linOutIn(const Mat& x, const std::vector<float>& W, int out, const std::vector<float>* b) const {
        const std::size_t in = x[0].size();
        Mat y(x.size(), std::vector<double>(out, 0.0));
        for (std::size_t t = 0; t < x.size(); ++t)
            for (int o = 0; o < out; ++o) {
                double acc = b ? (*b)[o] : 0.0;
                for (std::size_t i = 0; i < in; ++i)
                    acc += operand(x[t][i]) * operand(W[o * in + i]);
                y[t][o] = acc;
            }
        return y;
    }
    // y = x W (+ b), W stored [in, out] (GPT-2 Conv1D).
    Mat linInOut(const Mat& x, const std::vector<float>& W, int out, const std::vector<float>* b) const {
        const std::size_t in = x[0].size();
        Mat y(x.size(), std::vector<double>(out, 0.0));
        for (std::size_t t = 0; t < x.size(); ++t)
            for (int o = 0; o < out; ++o) {
                double acc = b ? (*b)[o] : 0.0;
                for (std::size_t i = 0; i < in; ++i)
                    acc += operand(x[t][i]) * operand(W[i * out + o]);
                y[t][o] = acc;
            }
        return y;
    }
    // Round trip through float32 fake quantization over a [rows, cols] view of m.
    static void fakeQuant(Mat& m, std::int64_t rows, std::int64_t cols, const core::QuantSpec& spec) {
        std::vector<float> flat;
        for (const auto& r : m)
            for (double v : r)
                flat.push_back(static_cast<float>(v));
        core::fakeQuantize(flat.data(), rows, cols, spec, flat.data());
        std::size_t k = 0;
        for (auto& r : m)
            for (double& v : r)
                v = flat[k++];
    }
    void actQuant(Mat& m) const {
        if (activationQuant)
            fakeQuant(m, static_cast<std::int64_t>(m.size()), static_cast<std::int64_t>(m[0].size()),
                      *activationQuant);
    }

    Mat rmsNorm(const Mat& x, const std::vector<float>& g) const {
        Mat y = x;
        for (std::size_t t = 0; t < x.size(); ++t) {
            double ms = 0;
            for (double v : x[t])
                ms += v * v;
            ms /= static_cast<double>(x[t].size());
            const double r = 1.0 / std::sqrt(ms + 1e-6);
            for (std::size_t i = 0; i < x[t].size(); ++i)
                y[t][i] = g[i] * x[t][i] * r;
        }
        return y;
    }
    static Mat layerNorm(const Mat& x, const std::vector<float>& g, const std::vector<float>& b) {
        Mat y = x;
        for (std::size_t t = 0; t < x.size(); ++t) {
            const double n = static_cast<double>(x[t].size());
            double mean = 0, var = 0;
            for (double v : x[t])
                mean += v;
            mean /= n;
            for (double v : x[t])
                var += (v - mean) * (v - mean);
            var /= n;
            for (std::size_t i = 0; i < x[t].size(); ++i)
                y[t][i] = (x[t][i] - mean) / std::sqrt(var + 1e-5) * g[i] + b[i];
        }
        return y;
    }

    // Inverse frequencies in float64, straight from the formulas of transformers' modeling_rope_utils.
    std::vector<double> inverseFrequencies(int hd, std::size_t seqLen, double& attnFactor) const {
        attnFactor = 1.0;
        auto base = [&](double theta) {
            std::vector<double> inv(hd / 2);
            for (int i = 0; i < hd / 2; ++i)
                inv[i] = 1.0 / std::pow(theta, 2.0 * i / hd);
            return inv;
        };
        const auto& rs = m_s.ropeScaling;
        if (rs.is_null()) return base(m_s.theta);
        const std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
        const double f = rs.value("factor", 1.0);
        if (type == "linear") {
            auto inv = base(m_s.theta);
            for (auto& v : inv)
                v /= f;
            return inv;
        }
        if (type == "dynamic") {
            const double maxPos = m_s.maxPositions;
            const double len = std::max<double>(static_cast<double>(seqLen), maxPos);
            return base(m_s.theta * std::pow(f * len / maxPos - (f - 1), static_cast<double>(hd) / (hd - 2)));
        }
        if (type == "llama3") {
            const double lowF = rs["low_freq_factor"], highF = rs["high_freq_factor"];
            const double old = rs["original_max_position_embeddings"];
            auto inv = base(m_s.theta);
            for (auto& v : inv) {
                const double wavelen = 2 * std::numbers::pi / v;
                if (wavelen < old / highF) continue; // high frequency: kept
                if (wavelen > old / lowF) {
                    v /= f;
                    continue;
                } // low frequency: interpolated
                const double smooth = (old / wavelen - lowF) / (highF - lowF);
                v = (1 - smooth) * v / f + smooth * v;
            }
            return inv;
        }
        if (type == "yarn") {
            const double maxPos =
                rs.value("original_max_position_embeddings", static_cast<double>(m_s.maxPositions));
            attnFactor = 0.1 * std::log(f) + 1.0;
            auto corr = [&](double rot) {
                return hd * std::log(maxPos / (rot * 2 * std::numbers::pi)) / (2 * std::log(m_s.theta));
            };
            const double low = std::max(std::floor(corr(32)), 0.0);
            double high = std::min(std::ceil(corr(1)), static_cast<double>(hd - 1));
            if (low == high) high += 0.001;
            auto inv = base(m_s.theta);
            for (int i = 0; i < hd / 2; ++i) {
                const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
                inv[i] = inv[i] / f * ramp + inv[i] * (1 - ramp);
            }
            return inv;
        }
        throw std::runtime_error("naive: unknown rope type " + type);
    }

    // Explicit pairs (i, i + hd/2) of every head.
    void rope(Mat& x, int nHeads, int hd) const {
        double af = 1;
        const auto inv = inverseFrequencies(hd, x.size(), af);
        for (std::size_t p = 0; p < x.size(); ++p)
            for (int h = 0; h < nHeads; ++h)
                for (int i = 0; i < hd / 2; ++i) {
                    const double a = x[p][h * hd + i], b = x[p][h * hd + i + hd / 2];
                    const double ang = static_cast<double>(p) * inv[i];
                    x[p][h * hd + i] = (a * std::cos(ang) - b * std::sin(ang)) * af;
                    x[p][h * hd + i + hd / 2] = (b * std::cos(ang) + a * std::sin(ang)) * af;
                }
    }

    Mat attention(const Mat& q, const Mat& k, const Mat& v, int nHeads, int nKv, int hd, int window) const {
        const std::size_t S = q.size();
        Mat out(S, std::vector<double>(nHeads * hd, 0.0));
        for (int h = 0; h < nHeads; ++h) {
            const int g = h / (nHeads / nKv);
            for (std::size_t i = 0; i < S; ++i) {
                std::vector<double> sc(S, -INFINITY);
                double mx = -INFINITY;
                for (std::size_t j = 0; j <= i; ++j) {
                    if (window > 0 && static_cast<long>(j) <= static_cast<long>(i) - window) continue;
                    double d = 0;
                    for (int c = 0; c < hd; ++c)
                        d += q[i][h * hd + c] * k[j][g * hd + c];
                    sc[j] = d / std::sqrt(static_cast<double>(hd));
                    mx = std::max(mx, sc[j]);
                }
                double z = 0;
                for (std::size_t j = 0; j < S; ++j)
                    z += std::isinf(sc[j]) ? 0.0 : std::exp(sc[j] - mx);
                for (std::size_t j = 0; j < S; ++j) {
                    if (std::isinf(sc[j])) continue;
                    const double pj = std::exp(sc[j] - mx) / z;
                    for (int c = 0; c < hd; ++c)
                        out[i][h * hd + c] += pj * v[j][g * hd + c];
                }
            }
        }
        return out;
    }

    double act(double x) const {
        const std::string a =
            m_s.activation.empty() ? (m_s.modelType == "gpt2" ? "gelu_new" : "silu") : m_s.activation;
        if (a == "silu") return x / (1 + std::exp(-x));
        if (a == "gelu") return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
        if (a == "relu") return std::max(x, 0.0);
        return 0.5 * x * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
    }

    static void addInto(Mat& x, const Mat& y) {
        for (std::size_t t = 0; t < x.size(); ++t)
            for (std::size_t i = 0; i < x[t].size(); ++i)
                x[t][i] += y[t][i];
    }

    Mat logits(const Mat& x, const std::vector<float>& head) const {
        return linOutIn(x, head, m_s.vocab, nullptr);
    }

    Mat forwardLlama(const std::vector<int>& ids) const {
        const int H = m_s.hidden, hd = H / m_s.heads;
        const std::size_t S = ids.size();
        Mat x(S, std::vector<double>(H));
        const auto& E = w("model.embed_tokens.weight");
        for (std::size_t t = 0; t < S; ++t)
            for (int i = 0; i < H; ++i)
                x[t][i] = E[ids[t] * H + i];
        auto bias = [&](const std::string& n) { return m_w.has(n) ? &w(n) : nullptr; };
        for (int l = 0; l < m_s.layers; ++l) {
            const std::string b = "model.layers." + std::to_string(l) + ".";
            Mat h = rmsNorm(x, w(b + "input_layernorm.weight"));
            actQuant(h);
            Mat q = linOutIn(h, w(b + "self_attn.q_proj.weight"), m_s.heads * hd,
                             bias(b + "self_attn.q_proj.bias"));
            Mat k = linOutIn(h, w(b + "self_attn.k_proj.weight"), m_s.kvHeads * hd,
                             bias(b + "self_attn.k_proj.bias"));
            Mat v = linOutIn(h, w(b + "self_attn.v_proj.weight"), m_s.kvHeads * hd,
                             bias(b + "self_attn.v_proj.bias"));
            rope(q, m_s.heads, hd);
            rope(k, m_s.kvHeads, hd);
            if (kvQuant) {
                fakeQuant(k, static_cast<std::int64_t>(S) * m_s.kvHeads, hd, *kvQuant);
                fakeQuant(v, static_cast<std::int64_t>(S) * m_s.kvHeads, hd, *kvQuant);
            }
            const int window = m_s.modelType == "mistral" ? m_s.slidingWindow : 0;
            Mat a = attention(q, k, v, m_s.heads, m_s.kvHeads, hd, window);
            actQuant(a);
            addInto(x, linOutIn(a, w(b + "self_attn.o_proj.weight"), H, nullptr));
            h = rmsNorm(x, w(b + "post_attention_layernorm.weight"));
            actQuant(h);
            Mat g = linOutIn(h, w(b + "mlp.gate_proj.weight"), m_s.inter, nullptr);
            const Mat u = linOutIn(h, w(b + "mlp.up_proj.weight"), m_s.inter, nullptr);
            for (std::size_t t = 0; t < S; ++t)
                for (int i = 0; i < m_s.inter; ++i)
                    g[t][i] = act(g[t][i]) * u[t][i];
            actQuant(g);
            addInto(x, linOutIn(g, w(b + "mlp.down_proj.weight"), H, nullptr));
        }
        x = rmsNorm(x, w("model.norm.weight"));
        return logits(x, m_s.tied ? E : w("lm_head.weight"));
    }

    Mat forwardGpt2(const std::vector<int>& ids) const {
        const std::string p = m_s.gpt2Prefix;
        const int H = m_s.hidden, hd = H / m_s.heads;
        const std::size_t S = ids.size();
        const auto& E = w(p + "wte.weight");
        const auto& P = w(p + "wpe.weight");
        Mat x(S, std::vector<double>(H));
        for (std::size_t t = 0; t < S; ++t)
            for (int i = 0; i < H; ++i)
                x[t][i] = static_cast<double>(E[ids[t] * H + i]) + P[t * H + i];
        for (int l = 0; l < m_s.layers; ++l) {
            const std::string b = p + "h." + std::to_string(l) + ".";
            Mat h = layerNorm(x, w(b + "ln_1.weight"), w(b + "ln_1.bias"));
            actQuant(h);
            const Mat qkv = linInOut(h, w(b + "attn.c_attn.weight"), 3 * H, &w(b + "attn.c_attn.bias"));
            Mat q(S, std::vector<double>(H)), k = q, v = q;
            for (std::size_t t = 0; t < S; ++t)
                for (int i = 0; i < H; ++i) {
                    q[t][i] = qkv[t][i];
                    k[t][i] = qkv[t][H + i];
                    v[t][i] = qkv[t][2 * H + i];
                }
            if (kvQuant) {
                fakeQuant(k, static_cast<std::int64_t>(S) * m_s.heads, hd, *kvQuant);
                fakeQuant(v, static_cast<std::int64_t>(S) * m_s.heads, hd, *kvQuant);
            }
            Mat a = attention(q, k, v, m_s.heads, m_s.heads, hd, 0);
            actQuant(a);
            addInto(x, linInOut(a, w(b + "attn.c_proj.weight"), H, &w(b + "attn.c_proj.bias")));
            h = layerNorm(x, w(b + "ln_2.weight"), w(b + "ln_2.bias"));
            actQuant(h);
            Mat m = linInOut(h, w(b + "mlp.c_fc.weight"), m_s.inter, &w(b + "mlp.c_fc.bias"));
            for (auto& r : m)
                for (double& e : r)
                    e = act(e);
            actQuant(m);
            addInto(x, linInOut(m, w(b + "mlp.c_proj.weight"), H, &w(b + "mlp.c_proj.bias")));
        }
        x = layerNorm(x, w(p + "ln_f.weight"), w(p + "ln_f.bias"));
        return logits(x, E);
    }

    TinySpec m_s;
    TinyWeights m_w;
};

} // namespace qs::test
