"""Named random streams derived from the seed (docs/simulation-model.md#random-streams).

Every random process draws from its own stream, keyed by the seed, a fixed label and the ids of
what it is about (node number and incarnation, task, stamp, run index). Adding preemption then
leaves allocation times unchanged, and two formulas compared on one seed see the same draws for
the same node. Keys are mixed with splitmix64 (integers only, no ``hash()``: string hashing is
salted per process), so a stream is a pure function of its key.
"""

from __future__ import annotations

import random
import zlib

__all__ = ["Streams"]

_MASK = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64's finaliser: a bijection on 64-bit integers with good avalanche."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class Streams:
    """Stream factory for one run."""

    __slots__ = ("seed", "_labels")

    def __init__(self, seed: int) -> None:
        self.seed = _mix(int(seed) & _MASK)
        self._labels: dict[str, int] = {}

    def _key(self, label: str, keys: tuple[int, ...]) -> int:
        base = self._labels.get(label)
        if base is None:
            base = self._labels[label] = _mix(self.seed ^ zlib.crc32(label.encode()))
        x = base
        for k in keys:
            x = _mix(x ^ (k & _MASK))
        return x

    def rng(self, label: str, *keys: int) -> random.Random:
        """A generator for the stream (label, keys); its draws are a pure function of them."""
        return random.Random(self._key(label, keys))

    def seed_of(self, label: str, *keys: int) -> int:
        """The seed of the stream (label, keys): ``random.Random(seed_of(...))`` is
        ``rng(...)``, for a consumer that builds the generator only if it draws."""
        return self._key(label, keys)

    def uniform(self, label: str, *keys: int) -> float:
        """One U[0, 1) draw for (label, keys), without building a generator."""
        return (self._key(label, keys) >> 11) * (1.0 / (1 << 53))
