"""Did-you-mean: the known name closest to one that is not known.

An unknown name is most often a known one mistyped (``$PendingTask``, ``GetSamples``,
``taskcompleted``) or a user variable written with another case or without its ``$``. The
service's error says only that the name is unknown, and its text is fixed; poolscale adds the
closest name as a *hint* beside it (:attr:`poolscale.formula.diagnostics.Diagnostic.hint`).

Names are compared *folded*: lower-cased, without a leading ``$``, because service names
ignore case and a forgotten or extra ``$`` is a common slip. A folded exact match wins (a
name written with the wrong case or ``$``), then a name with two neighbouring letters swapped;
otherwise :func:`difflib.get_close_matches` picks the most similar name above :data:`CUTOFF`.
The answer depends only on the name and the candidates, never on their order, so every tool
shows the same hint for the same formula.
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["CUTOFF", "closest", "did_you_mean", "one_edit_apart", "suggestion_suffix"]

#: similarity (difflib's ratio, 0..1) a name needs to be suggested: one slip in a name of
#: five or more letters passes (``GetSamples`` 0.95, ``taskcompleted`` 0.81, ``rnd`` 0.86),
#: names that merely share a few letters do not (``foo`` and ``floor`` 0.75).
CUTOFF = 0.8


def _fold(name: str) -> str:
    return (name[1:] if name.startswith("$") else name).lower()


def closest(written: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``written``, or None when none is close (or ``written`` is one
    of them). Among candidates with the same folded form, the one with ``written``'s ``$``-ness
    comes first, then the one that sorts first."""
    by_fold: dict[str, list[str]] = {}
    for name in set(candidates):
        if name != written:
            by_fold.setdefault(_fold(name), []).append(name)
    if not by_fold:
        return None
    folded = _fold(written)
    if folded not in by_fold:
        swapped = sorted(f for f in by_fold if _swapped_pair(folded, f))
        if swapped:
            folded = swapped[0]
        else:
            import difflib  # only when a name is unknown: not on every compile's import path

            matches = difflib.get_close_matches(folded, sorted(by_fold), n=1, cutoff=CUTOFF)
            if not matches:
                return None
            folded = matches[0]
    dollar = written.startswith("$")
    return min(by_fold[folded], key=lambda name: (name.startswith("$") != dollar, name))


def _swapped_pair(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with two neighbouring letters swapped (``tiem``, ``time``): a
    typing slip that difflib scores low on short names. Names of at least three letters only,
    so that ``xy`` does not suggest ``yx``."""
    if len(a) != len(b) or len(a) < 3:
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] \
        and a[diff[1]] == b[diff[0]]


def did_you_mean(written: str, candidates: Iterable[str]) -> str | None:
    """``did you mean 'X'?`` for the closest candidate, or None."""
    name = closest(written, candidates)
    return None if name is None else f"did you mean '{name}'?"


def suggestion_suffix(written: object, candidates: Iterable[str]) -> str:
    """``; did you mean 'X'?`` to end a message about an unknown key or name, or ``""``
    (also for a key that is not a string, such as a YAML number)."""
    hint = did_you_mean(written, candidates) if isinstance(written, str) else None
    return "" if hint is None else f"; {hint}"


def one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ, ignoring case, by exactly one inserted, deleted or changed
    character. Stricter than :func:`closest`: used where the name is *valid* as written (a user
    variable) and only a near-certain slip may be called one, so that ``$totalDedicatedNodes``
    is not taken for ``$TargetDedicatedNodes``."""
    a, b = a.lower(), b.lower()
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)):] == b[i + 1:]
