"""Where every random number comes from.

A run has one root ``numpy.random.SeedSequence(seed)``. Each random stream is a
child of it whose ``spawn_key`` is the stream's code followed by the *identity*
of what it describes (a well, a plate, a day, an operator), never a position in
a list. So a well's numbers depend on the seed and on the well alone: not on
the worker count, the scheduler, the task grouping, or the other wells.

A stream's random numbers are the first four 32-bit words of its child's
``generate_state``. Four words is the child's whole entropy pool, so the words
are independent of one another; a model step that needs more numbers uses
more streams. No bit generator object is built: the few numbers a well needs
do not justify one, and the hashing below can run for thousands of wells in one
NumPy call.

:func:`stream_words` evaluates SeedSequence's documented hash for many wells at
once (tests check it word for word against NumPy's own class);
:func:`reference_stream_words` asks NumPy directly, one well at a time.

Stream codes
------------
Physics streams feed cell fate only; assay streams feed measurements only, so
that no assay draw can perturb a cell's fate.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

#: Stream codes: the first word of every spawn key.
PHYSICS = 1  #: per-well: IC50 variation, seeding density
MORPHOLOGY_NOISE = 2  #: per-well: biological noise of er, mito, nucleus, actin
SIGNAL_NOISE = 3  #: per-well: rna noise, LDH noise, well technical factor
FAILURE = 4  #: per-well: whether the well fails, and how
FAILURE_CHANNELS = 5  #: per-well: failure multipliers of er, mito, nucleus, actin
FAILURE_CHANNELS_2 = 6  #: per-well: failure multiplier of rna
PLATE = 10  #: per-plate technical factor
DAY = 11  #: per-day technical factor
OPERATOR = 12  #: per-operator technical factor

PHYSICS_STREAMS = (PHYSICS,)
ASSAY_STREAMS = (
    MORPHOLOGY_NOISE,
    SIGNAL_NOISE,
    FAILURE,
    FAILURE_CHANNELS,
    FAILURE_CHANNELS_2,
    PLATE,
    DAY,
    OPERATOR,
)

WORDS_PER_STREAM = 4

_MASK = 0xFFFFFFFF
_INIT_A = 0x43B0D7E5
_MULT_A = 0x931E8875
_INIT_B = 0x8B51F9DD
_MULT_B = 0x58F38DED
_MIX_L = 0xCA01F9DD
_MIX_R = 0x4973F715
_POOL = 4


def name_word(text: str) -> int:
    """A stable 32-bit word for a name (cell line, operator, timepoint).

    Examples
    --------
    >>> name_word("A549") == name_word("A549")
    True
    """
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=4).digest(), "little"
    )


def seed_words(seed: int) -> list[int]:
    """The seed as little-endian 32-bit words, as SeedSequence reads it.

    Examples
    --------
    >>> seed_words(0), seed_words(2**32 + 5)
    ([0], [5, 1])
    """
    words = [seed & _MASK]
    seed >>= 32
    while seed:
        words.append(seed & _MASK)
        seed >>= 32
    return words


def _mix(x, y):
    result = (_MIX_L * x - _MIX_R * y) & _MASK
    return result ^ (result >> 16)


class _Hasher:
    """SeedSequence's entropy mixing, on ints or on uint64 arrays of words.

    The running hash constant depends only on how many words came before, so a
    prefix shared by many wells is mixed once, as plain ints, and only the last
    words of each key are mixed as arrays.
    """

    def __init__(self, pool, hash_const):
        self.pool = list(pool)
        self.hash_const = hash_const

    def _hashmix(self, value):
        value = (value ^ self.hash_const) & _MASK
        self.hash_const = (self.hash_const * _MULT_A) & _MASK
        value = (value * self.hash_const) & _MASK
        return value ^ (value >> 16)

    @classmethod
    def from_seed(cls, seed: int) -> _Hasher:
        words = seed_words(seed)
        words += [0] * (_POOL - len(words))  # padded: spawn keys follow
        hasher = cls([], _INIT_A)
        hasher.pool = [hasher._hashmix(w) for w in words[:_POOL]]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    mixed = hasher._hashmix(hasher.pool[src])
                    hasher.pool[dst] = _mix(hasher.pool[dst], mixed)
        hasher.absorb(words[_POOL:])
        return hasher

    def copy(self) -> _Hasher:
        return _Hasher(self.pool, self.hash_const)

    def absorb(self, words) -> _Hasher:
        for word in words:
            for dst in range(_POOL):
                self.pool[dst] = _mix(self.pool[dst], self._hashmix(word))
        return self

    def state(self, n_words: int) -> list:
        out = []
        hash_const = _INIT_B
        for i in range(n_words):
            value = self.pool[i % _POOL] ^ hash_const
            hash_const = (hash_const * _MULT_B) & _MASK
            value = (value * hash_const) & _MASK
            out.append(value ^ (value >> 16))
        return out


@functools.lru_cache(maxsize=64)
def _seeded(seed: int, prefix: tuple) -> _Hasher:
    return _Hasher.from_seed(seed).absorb(prefix)


def stream_words(seed: int, prefix: tuple, tails, groups=None, group_of=None):
    """Words of many streams whose spawn keys share ``prefix``.

    A spawn key is ``prefix + group + tail``: ``prefix`` is shared by all
    streams (the stream code), ``groups[group_of[i]]`` is shared by many (the
    plate), ``tails[i]`` is each stream's own (row, column). Each stage is
    hashed once, as ints, per group, then per stream.

    Parameters
    ----------
    seed : int
        The run's root seed.
    prefix : tuple of int
        Leading spawn-key words shared by all streams.
    tails : array-like of shape (n, k)
        The last spawn-key words of each stream.
    groups : array-like of shape (g, m), optional
        Middle spawn-key words, one row per group.
    group_of : int array of shape (n,), optional
        Which row of ``groups`` each stream uses.

    Returns
    -------
    ndarray of uint32, shape (n, 4)
        ``SeedSequence(seed, spawn_key=key).generate_state(4)`` for each key.
    """
    hasher = _seeded(seed, tuple(prefix))
    tails = np.asarray(tails, dtype=np.uint64)
    n = tails.shape[0]
    if groups is None:
        pool = [np.full(n, w, dtype=np.uint64) for w in hasher.pool]
        vector = _Hasher(pool, hasher.hash_const)
    else:
        groups = np.asarray(groups, dtype=np.uint64)
        pool = [np.full(len(groups), w, dtype=np.uint64) for w in hasher.pool]
        vector = _Hasher(pool, hasher.hash_const).absorb(list(groups.T))
        vector.pool = [word[group_of] for word in vector.pool]
    vector.absorb(list(tails.T))
    words = np.stack(vector.state(WORDS_PER_STREAM), axis=1)
    return words.astype(np.uint32)


def reference_stream_words(seed: int, spawn_key: tuple) -> np.ndarray:
    """The same words from NumPy's own SeedSequence, for one stream."""
    child = np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in spawn_key))
    return child.generate_state(WORDS_PER_STREAM)


def uniforms(words: np.ndarray) -> np.ndarray:
    """Map 32-bit words to floats strictly inside (0, 1).

    Examples
    --------
    >>> uniforms(np.array([0, 2**32 - 1], dtype=np.uint32)).tolist()
    [1.1641532182693481e-10, 0.9999999998835847]
    """
    return (np.asarray(words, dtype=np.float64) + 0.5) * (1.0 / 4294967296.0)


def normals(words: np.ndarray) -> np.ndarray:
    """Standard normals from pairs of words by the Box-Muller transform.

    ``words[..., 2i]`` and ``words[..., 2i + 1]`` give ``out[..., 2i]`` and
    ``out[..., 2i + 1]``; the transform uses the portable functions of
    :mod:`thalamus.model.fpmath`, so every machine gets the same bits.
    """
    from thalamus.model import fpmath

    u = uniforms(words)
    radius = np.sqrt(-2.0 * fpmath.log(u[..., 0::2]))
    sin, cos = fpmath.sincos_turns(u[..., 1::2])
    out = np.empty_like(u)
    out[..., 0::2] = radius * cos
    out[..., 1::2] = radius * sin
    return out
