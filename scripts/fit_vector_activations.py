"""The polynomial coefficients of Sources/MetaTensor/Kernels/VectorActivations.swift.

Discrete minimax fits of the relative error (Lawson's iteratively reweighted
least squares on 4000 Chebyshev-spaced points), the function values from
mpmath; the coefficients are then rounded to Float32 as the Swift file holds
them. The rounded fit is what the ulp sweep (scripts/ulp_sweep.swift) measures.

    python scripts/fit_vector_activations.py
"""
import math

import mpmath as mp
import numpy as np

mp.mp.dps = 40


def minimax(f, powers, lo, hi, points=4000, iterations=300):
    """Coefficients c of sum c_k x^powers[k] minimising max |f(x) - p(x)| / |f_ref(x)|,
    f returning (target, reference) in Double."""
    t = np.cos(np.pi * (np.arange(points) + 0.5) / points)
    x = (lo + hi) / 2 + (hi - lo) / 2 * t
    target, reference = np.array([f(v) for v in x]).T
    a = np.array([[v ** k for k in powers] for v in x])
    weight = 1 / np.abs(reference)
    lawson = np.full(points, 1 / points)
    for _ in range(iterations):
        w = weight * np.sqrt(lawson)
        c, *_ = np.linalg.lstsq(a * w[:, None], target * w, rcond=None)
        err = np.abs(target - a @ c) * weight
        lawson *= err
        lawson /= lawson.sum()
    return c, err.max()


def show(name, c, err):
    print(f"{name}: relative error {err:.3g}")
    for v in c:
        print(f"    {np.float32(v)!r}")


# e^r = 1 + r + r^2 Q(r), Q of degree 4, |r| <= ln2/2 (a hair wider for the
# rounding of n without FMA).
half_ln2 = math.log(2) / 2 * 1.0001
c, err = minimax(lambda r: (float(mp.exp(r) - 1 - r), float(mp.exp(r))), range(2, 7), -half_ln2, half_ln2)
show("exp: r^2 .. r^6", c, err)

# tanh x = x + x^3 P(x^2), P of degree 4, 0 < x < 0.55 (tanh < 0.5).
c, err = minimax(lambda x: (float(mp.tanh(x) - x), float(mp.tanh(x))), range(3, 12, 2), 1e-6, 0.55)
show("tanh: x^3 .. x^11", c, err)
