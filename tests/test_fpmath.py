"""The portable elementary functions are accurate and exact where they must be."""

import math

import numpy as np
import pytest

from thalamus.model import fpmath

RNG = np.random.Generator(np.random.PCG64(20261203))


def test_exp_matches_libm_within_two_ulp():
    x = RNG.uniform(-700, 700, 200_000)
    got = fpmath.exp(x)
    want = np.array([math.exp(v) for v in x])
    assert np.max(np.abs(got / want - 1.0)) < 4.5e-16


def test_log_matches_libm():
    x = np.exp(RNG.uniform(-700, 700, 200_000))
    got = fpmath.log(x)
    want = np.array([math.log(v) for v in x])
    assert np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))) < 4.5e-16


def test_power_matches_libm():
    base = RNG.uniform(0, 50, 100_000)
    exponent = RNG.uniform(0.5, 4.0, 100_000)
    got = fpmath.power(base, exponent)
    want = np.array([math.pow(b, e) for b, e in zip(base, exponent)])
    assert np.max(np.abs(got / want - 1.0)) < 5e-15


def test_exact_special_values():
    assert fpmath.exp(np.array(0.0)) == 1.0
    assert fpmath.log(np.array(1.0)) == 0.0
    assert fpmath.log(np.array(0.0)) == -np.inf
    assert fpmath.power(np.array(0.0), np.array(2.5)) == 0.0
    assert fpmath.power(np.array(3.0), np.array(2.0)) == pytest.approx(9.0, rel=1e-15)


def test_sincos_turns_matches_libm():
    u = RNG.uniform(0, 1, 200_000)
    s, c = fpmath.sincos_turns(u)
    assert np.max(np.abs(s - np.sin(2 * np.pi * u))) < 2e-15
    assert np.max(np.abs(c - np.cos(2 * np.pi * u))) < 2e-15


def test_results_do_not_depend_on_array_length_or_stride():
    x = RNG.uniform(-5, 5, 1001)
    whole = fpmath.exp(x)
    one_by_one = np.array([fpmath.exp(x[i : i + 1])[0] for i in range(len(x))])
    strided = fpmath.exp(x[::3])
    assert whole.tobytes() == one_by_one.tobytes()
    assert strided.tobytes() == whole[::3].tobytes()
