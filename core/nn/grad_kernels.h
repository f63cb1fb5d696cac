// SPDX-License-Identifier: MIT
#pragma once
// The operations of a causal LM and their backward rules, written once for any scalar: float (the
// gradient), Dual<float> (the gradient and its derivative along a direction: Hessian-vector
// products) and double (finite-difference checks in the tests). Matrices are row-major
// [tokens, features]. A backward function adds into its gradient outputs (`+=`), so one parameter
// used twice (a tied head) or one input feeding several products sums its parts.
#include "nn/dual.h"
#include "tensor/gemm.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <vector>

namespace qs::core::grad {

/// A dense row-major matrix of any scalar.
template <class S>
struct Mat {
    std::int64_t rows = 0, cols = 0;
    std::vector<S> a;

    Mat() = default;
    Mat(std::int64_t r, std::int64_t c) : rows(r), cols(c), a(static_cast<std::size_t>(r * c)) {}
    S* row(std::int64_t r) { return a.data() + r * cols; }
    const S* row(std::int64_t r) const { return a.data() + r * cols; }
    S* data() { return a.data(); }
    const S* data() const { return a.data(); }
    std::int64_t size() const { return rows * cols; }
    void setZero() { std::fill(a.begin(), a.end(), S{}); }
};

/// A strided row-major operand: element (r, c) at data[r * stride + c].
template <class S>
struct View {
    S* data = nullptr;
    std::int64_t rows = 0, cols = 0, stride = 0;
    S& at(std::int64_t r, std::int64_t c) const { return data[r * stride + c]; }
};
template <class S> View<S> viewOf(Mat<S>& m) { return {m.data(), m.rows, m.cols, m.cols}; }
template <class S> View<const S> viewOf(const Mat<S>& m) { return {m.data(), m.rows, m.cols, m.cols}; }
/// Columns [first, first + count) of m (one attention head).
template <class S> View<S> columnsOf(Mat<S>& m, std::int64_t first, std::int64_t count) {
    return {m.data() + first, m.rows, count, m.cols};
}
template <class S> View<const S> columnsOf(const Mat<S>& m, std::int64_t first, std::int64_t count) {
    return {m.data() + first, m.rows, count, m.cols};
}
/// Rows [first, first + count) of a view (one window of a batch).
template <class S> View<S> rowsOf(View<S> v, std::int64_t first, std::int64_t count) {
    return {v.data + first * v.stride, count, v.cols, v.stride};
}

// ---- matrix products ----------------------------------------------------------------------------

enum class Product { NT, NN }; ///< C = A·Bᵀ (B [n, k]) or C = A·B (B [k, n])

namespace detail {

template <class T>
using EigenStrided = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                                Eigen::OuterStride<>>;

// Value or derivative plane of a dual view, as a dense matrix.
template <class T>
Mat<T> plane(View<const Dual<T>> v, bool derivative) {
    Mat<T> m(v.rows, v.cols);
    for (std::int64_t r = 0; r < v.rows; ++r)
        for (std::int64_t c = 0; c < v.cols; ++c)
            m.a[static_cast<std::size_t>(r * v.cols + c)] = derivative ? v.at(r, c).d : v.at(r, c).v;
    return m;
}

inline void floatProduct(Product p, View<const float> a, View<const float> b, View<float> c, GemmShape shape) {
    const ConstMatrixView av{a.data, a.rows, a.cols, a.stride}, bv{b.data, b.rows, b.cols, b.stride};
    const MatrixView cv{c.data, c.rows, c.cols, c.stride};
    if (p == Product::NT)
        gemmNT(av, bv, cv, nullptr, shape);
    else
        gemmNN(av, bv, cv, nullptr, shape);
}

} // namespace detail

/// The transpose of a view, dense (the scalar types other than float, whose products have no TN kernel).
template <class S>
Mat<std::remove_const_t<S>> transposed(View<S> v) {
    Mat<std::remove_const_t<S>> t(v.cols, v.rows);
    for (std::int64_t r = 0; r < v.rows; ++r)
        for (std::int64_t c = 0; c < v.cols; ++c)
            t.a[static_cast<std::size_t>(c * v.rows + r)] = v.at(r, c);
    return t;
}

/// C = A·Bᵀ or A·B (C overwritten) on plain scalars: float by the forward pass's products, double by Eigen's.
template <class T>
void plainProduct(Product p, View<const T> a, View<const T> b, View<T> c, GemmShape shape) {
    if constexpr (std::is_same_v<T, float>) {
        detail::floatProduct(p, a, b, c, shape);
    } else {
        const detail::EigenStrided<T> A(a.data, a.rows, a.cols, Eigen::OuterStride<>(a.stride));
        const detail::EigenStrided<T> B(b.data, b.rows, b.cols, Eigen::OuterStride<>(b.stride));
        Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> C =
            p == Product::NT ? (A * B.transpose()).eval() : (A * B).eval();
        for (std::int64_t r = 0; r < c.rows; ++r)
            for (std::int64_t k = 0; k < c.cols; ++k)
                c.at(r, k) = C(r, k);
    }
}

/// C = A·Bᵀ or A·B (C overwritten). GemmShape::Lower: for NT only C's lower triangle is computed
/// (the rest is unspecified); for NN, A is lower triangular (its upper part must hold zeros). Dual
/// scalars take three plain products: (a + a'ε)(b + b'ε) = ab + (a'b + ab')ε.
template <class S>
void product(Product p, View<const S> a, View<const S> b, View<S> c, GemmShape shape = GemmShape::Full) {
    if constexpr (IsDual<S>::value) {
        using T = decltype(S{}.v);
        const Mat<T> av = detail::plane(a, false), ad = detail::plane(a, true);
        const Mat<T> bv = detail::plane(b, false), bd = detail::plane(b, true);
        Mat<T> cv(c.rows, c.cols), t1(c.rows, c.cols), t2(c.rows, c.cols);
        plainProduct<T>(p, viewOf(av), viewOf(bv), viewOf(cv), shape);
        plainProduct<T>(p, viewOf(ad), viewOf(bv), viewOf(t1), shape);
        plainProduct<T>(p, viewOf(av), viewOf(bd), viewOf(t2), shape);
        for (std::int64_t r = 0; r < c.rows; ++r)
            for (std::int64_t k = 0; k < c.cols; ++k) {
                const std::size_t i = static_cast<std::size_t>(r * c.cols + k);
                c.at(r, k) = S(cv.a[i], t1.a[i] + t2.a[i]);
            }
    } else {
        plainProduct<S>(p, a, b, c, shape);
    }
}

/// C = Aᵀ·B: A [k, m], B [k, n] (a weight's gradient dYᵀ·X from activations [tokens, features]).
template <class S>
void productTN(View<const S> a, View<const S> b, View<S> c) {
    if constexpr (std::is_same_v<S, float>) {
        gemmTN({a.data, a.rows, a.cols, a.stride}, {b.data, b.rows, b.cols, b.stride}, {c.data, c.rows, c.cols, c.stride});
    } else {
        const Mat<S> at = transposed(a);
        product<S>(Product::NN, viewOf(at), b, c);
    }
}

// ---- norms --------------------------------------------------------------------------------------

/// What a norm's backward needs from its forward: per row 1/σ (and the mean for LayerNorm).
template <class S>
struct NormCache {
    std::vector<S> inv, mean;
};

/// HF LlamaRMSNorm y = w ∘ (x / sqrt(mean(x²) + eps)) (LayerNorm when `bias` is given or `layerNorm`:
/// y = (x − mean) / sqrt(var + eps) ∘ w + b), per row, with the forward pass's order of operations.
template <class S>
void normForward(bool layerNorm, const Mat<S>& x, const S* w, const S* b, float eps, Mat<S>& y,
                 NormCache<S>& cache) {
    using std::sqrt;
    using W = Wide<S>;
    const std::int64_t cols = x.cols;
    y = Mat<S>(x.rows, cols);
    cache.inv.assign(static_cast<std::size_t>(x.rows), S{});
    cache.mean.assign(layerNorm ? static_cast<std::size_t>(x.rows) : 0, S{});
#pragma omp parallel for schedule(static) if (x.size() > (1 << 16))
    for (std::int64_t r = 0; r < x.rows; ++r) {
        const S* src = x.row(r);
        S* dst = y.row(r);
        if (!layerNorm) {
            W sq{};
            for (std::int64_t c = 0; c < cols; ++c)
                sq += convertScalar<W>(src[c]) * convertScalar<W>(src[c]);
            const S variance = convertScalar<S>(sq / W(static_cast<double>(cols)));
            const S inv = convertScalar<S>(W(1.0) / sqrt(convertScalar<W>(variance + S(eps))));
            cache.inv[static_cast<std::size_t>(r)] = inv;
            for (std::int64_t c = 0; c < cols; ++c)
                dst[c] = w[c] * (src[c] * inv);
        } else {
            W sum{};
            for (std::int64_t c = 0; c < cols; ++c)
                sum += convertScalar<W>(src[c]);
            const W mean = sum / W(static_cast<double>(cols));
            W var{};
            for (std::int64_t c = 0; c < cols; ++c) {
                const W d = convertScalar<W>(src[c]) - mean;
                var += d * d;
            }
            var = var / W(static_cast<double>(cols));
            const S m = convertScalar<S>(mean);
            const S inv = convertScalar<S>(W(1.0) / sqrt(var + W(static_cast<double>(eps))));
            cache.inv[static_cast<std::size_t>(r)] = inv;
            cache.mean[static_cast<std::size_t>(r)] = m;
            for (std::int64_t c = 0; c < cols; ++c)
                dst[c] = (src[c] - m) * inv * w[c] + (b ? b[c] : S{});
        }
    }
}

/// Backward of normForward: dx += ∂L/∂x, gw += ∂L/∂w, gb += ∂L/∂b (gb may be null without a bias).
/// With x̂ = (x − mean)·inv: dx = inv·(g − mean(g) − x̂·mean(g∘x̂)) for LayerNorm and
/// inv·(g − x̂·mean(g∘x̂)) for RMSNorm, where g = dy∘w. Parameter sums run over rows in order.
template <class S>
void normBackward(bool layerNorm, const Mat<S>& x, const S* w, const NormCache<S>& cache, const Mat<S>& dy,
                  Mat<S>& dx, S* gw, S* gb) {
    using W = Wide<S>;
    const std::int64_t cols = x.cols;
    const S n(static_cast<float>(cols));
#pragma omp parallel for schedule(static) if (x.size() > (1 << 16))
    for (std::int64_t r = 0; r < x.rows; ++r) {
        const S* xr = x.row(r);
        const S* g = dy.row(r);
        S* out = dx.row(r);
        const S inv = cache.inv[static_cast<std::size_t>(r)];
        const S m = layerNorm ? cache.mean[static_cast<std::size_t>(r)] : S{};
        W sumG{}, sumGx{};
        for (std::int64_t c = 0; c < cols; ++c) {
            const S gc = g[c] * w[c];
            const S xh = (xr[c] - m) * inv;
            sumG += convertScalar<W>(gc);
            sumGx += convertScalar<W>(gc * xh);
        }
        const S meanG = layerNorm ? convertScalar<S>(sumG) / n : S{};
        const S meanGx = convertScalar<S>(sumGx) / n;
        for (std::int64_t c = 0; c < cols; ++c) {
            const S xh = (xr[c] - m) * inv;
            out[c] += inv * (g[c] * w[c] - meanG - xh * meanGx);
        }
    }
    // Parameter gradients: column sums over rows, in row order (thread-count independent).
    std::vector<W> accW(static_cast<std::size_t>(cols)), accB(gb ? static_cast<std::size_t>(cols) : 0);
    for (std::int64_t r = 0; r < x.rows; ++r) {
        const S* xr = x.row(r);
        const S* g = dy.row(r);
        const S inv = cache.inv[static_cast<std::size_t>(r)];
        const S m = layerNorm ? cache.mean[static_cast<std::size_t>(r)] : S{};
        for (std::int64_t c = 0; c < cols; ++c) {
            accW[static_cast<std::size_t>(c)] += convertScalar<W>(g[c] * ((xr[c] - m) * inv));
            if (gb) accB[static_cast<std::size_t>(c)] += convertScalar<W>(g[c]);
        }
    }
    for (std::int64_t c = 0; c < cols; ++c) {
        gw[c] += convertScalar<S>(accW[static_cast<std::size_t>(c)]);
        if (gb) gb[c] += convertScalar<S>(accB[static_cast<std::size_t>(c)]);
    }
}

// ---- activations --------------------------------------------------------------------------------

enum class Act { Silu, GeluTanh, GeluErf, Relu };

/// f(z) as the forward pass computes it.
template <class S>
S activation(Act a, S z) {
    using std::erf, std::exp, std::tanh;
    switch (a) {
    case Act::Silu:
        return z / (S(1.0f) + exp(-z));
    case Act::GeluTanh: {
        const S c(static_cast<float>(std::sqrt(2.0 / std::numbers::pi)));
        return S(0.5f) * z * (S(1.0f) + tanh(c * (z + S(0.044715f) * z * z * z)));
    }
    case Act::GeluErf:
        return S(0.5f) * z * (S(1.0f) + erf(z * S(static_cast<float>(1.0 / std::numbers::sqrt2))));
    case Act::Relu:
        return valueOf(z) > 0 ? z : S{};
    }
    return z;
}

/// f'(z).
template <class S>
S activationDerivative(Act a, S z) {
    using std::erf, std::exp, std::tanh;
    switch (a) {
    case Act::Silu: {
        const S s = S(1.0f) / (S(1.0f) + exp(-z));
        return s * (S(1.0f) + z * (S(1.0f) - s));
    }
    case Act::GeluTanh: {
        const S c(static_cast<float>(std::sqrt(2.0 / std::numbers::pi)));
        const S k(0.044715f);
        const S t = tanh(c * (z + k * z * z * z));
        return S(0.5f) * (S(1.0f) + t) + S(0.5f) * z * (S(1.0f) - t * t) * c * (S(1.0f) + S(3.0f) * k * z * z);
    }
    case Act::GeluErf: {
        // d/dz of 0.5·z·(1 + erf(r·z)) with the forward pass's float32 r ≈ 1/√2.
        const S r(static_cast<float>(1.0 / std::numbers::sqrt2));
        const S rz = r * z;
        return S(0.5f) * (S(1.0f) + erf(rz)) + z * r * exp(-rz * rz) * constantOf<S>(std::numbers::inv_sqrtpi);
    }
    case Act::Relu:
        return valueOf(z) > 0 ? S(1.0f) : S{};
    }
    return S(1.0f);
}

// ---- rotary positions ---------------------------------------------------------------------------

/// Rotates every head of x [seq, heads·hd] at positions 0..seq-1 ("rotate_half" pairs i, i + hd/2)
/// by the table's angles; `inverse` rotates back (the backward of a rotation is its transpose).
template <class S>
void rotate(View<S> x, int heads, int hd, std::span<const float> cos, std::span<const float> sin, bool inverse) {
    const int half = hd / 2;
    for (std::int64_t p = 0; p < x.rows; ++p) {
        const float* cv = cos.data() + p * half;
        const float* sv = sin.data() + p * half;
        for (int h = 0; h < heads; ++h) {
            S* v = &x.at(p, static_cast<std::int64_t>(h) * hd);
            for (int i = 0; i < half; ++i) {
                const S a = v[i], b = v[i + half];
                const S c(cv[i]), s(inverse ? -sv[i] : sv[i]);
                v[i] = a * c - b * s;
                v[i + half] = b * c + a * s;
            }
        }
    }
}

// ---- attention ----------------------------------------------------------------------------------

/// Causal softmax of scores [seq, seq] in place: row i over keys max(0, i − window + 1)..i (window 0:
/// all), scores divided by `scaleDiv` first; masked entries become exactly 0.
template <class S>
void causalSoftmax(View<S> s, float scaleDiv, int window) {
    using std::exp;
    using W = Wide<S>;
    for (std::int64_t i = 0; i < s.rows; ++i) {
        S* row = &s.at(i, 0);
        const std::int64_t lo = window > 0 ? std::max<std::int64_t>(0, i - window + 1) : 0;
        float mx = -INFINITY;
        for (std::int64_t j = lo; j <= i; ++j) {
            row[j] = row[j] / S(scaleDiv);
            mx = std::max(mx, static_cast<float>(valueOf(row[j])));
        }
        W sum{};
        for (std::int64_t j = lo; j <= i; ++j) {
            row[j] = exp(row[j] - S(mx));
            sum += convertScalar<W>(row[j]);
        }
        const S inv = S(1.0f) / convertScalar<S>(sum);
        for (std::int64_t j = lo; j <= i; ++j)
            row[j] *= inv;
        std::fill(row, row + lo, S{});
        std::fill(row + i + 1, row + s.cols, S{});
    }
}

/// Backward of causalSoftmax: dS = P∘(dP − rowsum(dP∘P)) / scaleDiv, in place of dP (masked: 0).
template <class S>
void causalSoftmaxBackward(View<const S> p, View<S> dp, float scaleDiv) {
    using W = Wide<S>;
    for (std::int64_t i = 0; i < p.rows; ++i) {
        const S* pr = &p.at(i, 0);
        S* g = &dp.at(i, 0);
        W dot{};
        for (std::int64_t j = 0; j <= i; ++j)
            dot += convertScalar<W>(pr[j] * g[j]);
        const S d = convertScalar<S>(dot);
        for (std::int64_t j = 0; j <= i; ++j)
            g[j] = pr[j] * (g[j] - d) / S(scaleDiv);
        std::fill(g + i + 1, g + p.cols, S{});
    }
}

// ---- loss ---------------------------------------------------------------------------------------

/// Next-token NLL of one row of logits: returns −log softmax(logits)[target] (log-sum-exp in the
/// wide type) and, when `grad` is given, writes scale·(softmax − onehot(target)) to it.
template <class S>
Wide<S> crossEntropyRow(const S* logits, std::int64_t vocab, std::int32_t target, S* grad, S scale) {
    using std::exp, std::log;
    using W = Wide<S>;
    float mx = -INFINITY;
    for (std::int64_t c = 0; c < vocab; ++c)
        mx = std::max(mx, static_cast<float>(valueOf(logits[c])));
    W sum{};
    for (std::int64_t c = 0; c < vocab; ++c)
        sum += exp(convertScalar<W>(logits[c]) - W(static_cast<double>(mx)));
    const W lse = W(static_cast<double>(mx)) + log(sum);
    if (grad) {
        for (std::int64_t c = 0; c < vocab; ++c)
            grad[c] = convertScalar<S>(exp(convertScalar<W>(logits[c]) - lse)) * scale;
        grad[target] -= scale;
    }
    return lse - convertScalar<W>(logits[target]);
}

} // namespace qs::core::grad
