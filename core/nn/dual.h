// SPDX-License-Identifier: MIT
#pragma once
// Dual numbers a + b·ε (ε² = 0) for forward-mode differentiation. Running the backward pass on
// Dual<float> weights W + ε·v gives, in the ε parts, the directional derivatives of everything it
// computes: the loss's is g·v and the gradient's is H·v (forward-over-reverse, Pearlmutter's R-op),
// exactly, with no step size.
#include <cmath>
#include <numbers>
#include <type_traits>

namespace qs::core {

template <class T>
struct Dual {
    T v{}; ///< value
    T d{}; ///< derivative along the direction

    constexpr Dual() = default;
    constexpr Dual(T value) : v(value) {} // NOLINT: scalars promote, as float promotes to double
    constexpr Dual(T value, T tangent) : v(value), d(tangent) {}

    Dual& operator+=(const Dual& o) { v += o.v; d += o.d; return *this; }
    Dual& operator-=(const Dual& o) { v -= o.v; d -= o.d; return *this; }
    Dual& operator*=(const Dual& o) { d = d * o.v + v * o.d; v *= o.v; return *this; }
    Dual& operator/=(const Dual& o) { *this = *this / o; return *this; }
    friend Dual operator+(Dual a, const Dual& b) { return a += b; }
    friend Dual operator-(Dual a, const Dual& b) { return a -= b; }
    friend Dual operator-(const Dual& a) { return {-a.v, -a.d}; }
    friend Dual operator*(const Dual& a, const Dual& b) { return {a.v * b.v, a.d * b.v + a.v * b.d}; }
    friend Dual operator/(const Dual& a, const Dual& b) {
        const T q = a.v / b.v;
        return {q, (a.d - q * b.d) / b.v};
    }
    friend bool operator<(const Dual& a, const Dual& b) { return a.v < b.v; }
    friend bool operator>(const Dual& a, const Dual& b) { return a.v > b.v; }
};

template <class T> struct IsDual : std::false_type {};
template <class T> struct IsDual<Dual<T>> : std::true_type {};

/// The value part (the number itself for a plain scalar).
template <class T> T valueOf(T x) { return x; }
template <class T> T valueOf(const Dual<T>& x) { return x.v; }

/// The type sums are accumulated in: double for float, Dual<double> for Dual<float>.
template <class S> struct WideOf { using type = double; };
template <class T> struct WideOf<Dual<T>> { using type = Dual<double>; };
template <class S> using Wide = typename WideOf<S>::type;

/// Converts between a scalar type and its wide type (or any two of the same kind).
template <class To, class From> To convertScalar(const From& x) {
    if constexpr (IsDual<To>::value) {
        using T = decltype(To{}.v);
        if constexpr (IsDual<From>::value)
            return To(static_cast<T>(x.v), static_cast<T>(x.d));
        else
            return To(static_cast<T>(x));
    } else {
        return static_cast<To>(valueOf(x));
    }
}

/// A constant at the precision of S's plain type (a float32 constant for float and Dual<float>).
template <class S> S constantOf(double x) {
    if constexpr (IsDual<S>::value)
        return S(static_cast<decltype(S{}.v)>(x));
    else
        return static_cast<S>(x);
}

// The elementary functions the model uses, for plain and dual scalars alike (plain ones are the std
// overloads; dual ones carry the chain rule).
template <class T> Dual<T> exp(const Dual<T>& x) {
    const T e = std::exp(x.v);
    return {e, e * x.d};
}
template <class T> Dual<T> log(const Dual<T>& x) { return {std::log(x.v), x.d / x.v}; }
template <class T> Dual<T> sqrt(const Dual<T>& x) {
    const T s = std::sqrt(x.v);
    return {s, x.d / (T(2) * s)};
}
template <class T> Dual<T> tanh(const Dual<T>& x) {
    const T t = std::tanh(x.v);
    return {t, (T(1) - t * t) * x.d};
}
template <class T> Dual<T> erf(const Dual<T>& x) {
    const T c = static_cast<T>(2.0 / std::sqrt(std::numbers::pi));
    return {std::erf(x.v), c * std::exp(-x.v * x.v) * x.d};
}

} // namespace qs::core
