"""The vectorised stream hashing equals NumPy's SeedSequence, word for word."""

import numpy as np
import pytest

from thalamus import seeding


@pytest.mark.parametrize("seed", [0, 1, 2**31 - 1, 2**32 + 7, 2**64 + 12345, 10**40])
def test_stream_words_match_numpy_seedsequence(seed):
    prefix = (seeding.PHYSICS, 384, seeding.name_word("HepG2"), 2, 99, 3)
    tails = np.array([[r, c] for r in range(16) for c in range(24)])
    words = seeding.stream_words(seed, prefix, tails)
    for tail, got in zip(tails[::17], words[::17]):
        child = np.random.SeedSequence(
            seed, spawn_key=prefix + tuple(int(t) for t in tail)
        )
        np.testing.assert_array_equal(got, child.generate_state(4))


def test_reference_words_are_numpys_seedsequence():
    key = (seeding.ASSAY_STREAMS[0], 7, 8)
    expected = np.random.SeedSequence(5, spawn_key=key).generate_state(4)
    np.testing.assert_array_equal(seeding.reference_stream_words(5, key), expected)


def test_different_streams_and_wells_get_different_words():
    tails = np.array([[0, 0], [0, 1], [1, 0]])
    a = seeding.stream_words(0, (seeding.PHYSICS, 1), tails)
    b = seeding.stream_words(0, (seeding.MORPHOLOGY_NOISE, 1), tails)
    assert len({row.tobytes() for row in np.concatenate([a, b])}) == 6


def test_seed_changes_every_word():
    tails = np.arange(100).reshape(-1, 1)
    a = seeding.stream_words(0, (seeding.PHYSICS,), tails)
    b = seeding.stream_words(1, (seeding.PHYSICS,), tails)
    assert not np.any(a == b)


def test_uniforms_stay_strictly_inside_unit_interval():
    words = np.array([0, 1, 2**31, 2**32 - 1], dtype=np.uint32)
    u = seeding.uniforms(words)
    assert u.min() > 0.0 and u.max() < 1.0
    assert u[2] == pytest.approx(0.5, abs=1e-9)


def test_normals_have_unit_moments_and_no_cross_correlation():
    words = seeding.stream_words(3, (seeding.PHYSICS,), np.arange(100_000)[:, None])
    z = seeding.normals(words)
    # Standard errors with 1e5 draws: mean 0.003, sd 0.0022; 5 sigma bounds.
    assert np.all(np.abs(z.mean(axis=0)) < 0.016)
    assert np.all(np.abs(z.std(axis=0) - 1.0) < 0.012)
    corr = np.corrcoef(z.T) - np.eye(4)
    assert np.abs(corr).max() < 0.016
    # Tail mass beyond 1.96 sd should be 5%.
    assert np.mean(np.abs(z) > 1.959964) == pytest.approx(0.05, abs=0.004)


def test_seed_words_split_little_endian():
    assert seeding.seed_words(0) == [0]
    assert seeding.seed_words(2**32) == [0, 1]
    assert seeding.seed_words(5 + (7 << 64)) == [5, 0, 7]
