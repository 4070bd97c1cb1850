"""Which whole packages the validation and test splits hold out.

Validation packages come from the packages DATA.md added later (the shipped model never
trained on them), never from a pair of packages that share tracks, and each has at least
``min_per_package`` recordings. They are taken in a seeded order, round-robin over the
DATA.md styles (:data:`trainer.corpus.sources.STYLES`), at most ``max_share`` of a style's
eligible packages, until there are ``min_packages`` packages and ``min_recordings``
recordings. When the shares run out first, the remaining packages follow in the seeded
order, never the last one of a named style (training keeps every style). The choice depends
only on the seed and on how many recordings each package has.

The test part (:func:`choose_test_packages`) is what nothing is tuned on: training,
Optuna and early stopping never see it, and it is reported last. It was chosen once, by
that rule, on the corpus of November 2026 (after validation, among the packages
validation left) and is pinned in :data:`trainer.corpus.sources.TEST_PACKAGES`, so that a
corpus that grows never moves a test package into training; a package both rules would
hold out stays in the test part.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

from trainer.corpus import sources
from trainer.corpus.manifest import unit_hash

MIN_PACKAGES = 15
MIN_RECORDINGS = 150
MIN_PER_PACKAGE = 3
MAX_SHARE = 1 / 3
TEST_MIN_PACKAGES = 10
TEST_MIN_RECORDINGS = 80
#: larger packages stay in training (no single package dominates the test part)
TEST_MAX_PER_PACKAGE = 20


def eligible(counts: Mapping[str, int], min_per_package: int = MIN_PER_PACKAGE) -> list[str]:
    """Packages that may be held out: new, unlinked, with enough recordings."""
    linked = {p for pair in sources.LINKED_PACKAGES for p in pair}
    return sorted(p for p, n in counts.items()
                  if p in sources.MORE_PACKAGES and p not in linked and n >= min_per_package)


def choose_validation_packages(counts: Mapping[str, int], *, seed: int = 0,
                               min_packages: int = MIN_PACKAGES,
                               min_recordings: int = MIN_RECORDINGS,
                               min_per_package: int = MIN_PER_PACKAGE,
                               max_share: float = MAX_SHARE) -> list[str]:
    """The held-out packages (sorted) for the recording ``counts`` per package."""
    by_style: dict[str, list[str]] = {}
    for pkg in eligible(counts, min_per_package):
        by_style.setdefault(sources.style(pkg), []).append(pkg)
    for pkgs in by_style.values():
        pkgs.sort(key=lambda p: unit_hash("validation", seed, p))
    caps = {s: max(1, math.floor(len(p) * max_share)) for s, p in by_style.items()}
    chosen: list[str] = []
    taken = dict.fromkeys(by_style, 0)

    def done() -> bool:
        return (len(chosen) >= min_packages
                and sum(counts[p] for p in chosen) >= min_recordings)

    progress = True
    while not done() and progress:
        progress = False
        for style in sorted(by_style):
            if done():
                break
            if taken[style] < min(caps[style], len(by_style[style])):
                chosen.append(by_style[style][taken[style]])
                taken[style] += 1
                progress = True
    rest = sorted((p for pkgs in by_style.values() for p in pkgs if p not in chosen),
                  key=lambda p: unit_hash("validation", seed, p))
    for pkg in rest:
        if done():
            break
        style = sources.style(pkg)
        if style == "other" or taken[style] < len(by_style[style]) - 1:
            chosen.append(pkg)
            taken[style] += 1
    return sorted(chosen)


def choose_test_packages(counts: Mapping[str, int], validation: Collection[str], *,
                         seed: int = 0, min_packages: int = TEST_MIN_PACKAGES,
                         min_recordings: int = TEST_MIN_RECORDINGS,
                         max_per_package: int = TEST_MAX_PER_PACKAGE) -> list[str]:
    """Test packages (sorted): eligible, not in ``validation``, at most ``max_per_package``
    recordings, taken in a seeded order until there are ``min_packages`` packages and
    ``min_recordings`` recordings, never the last training package of a named style."""
    candidates = [p for p in eligible(counts) if p not in validation]
    left: dict[str, int] = {}
    for pkg in candidates:
        left[sources.style(pkg)] = left.get(sources.style(pkg), 0) + 1
    chosen: list[str] = []
    for pkg in sorted(candidates, key=lambda p: unit_hash("test", seed, p)):
        if len(chosen) >= min_packages and sum(counts[p] for p in chosen) >= min_recordings:
            break
        style = sources.style(pkg)
        if counts[pkg] > max_per_package or (style != "other" and left[style] <= 1):
            continue
        chosen.append(pkg)
        left[style] -= 1
    return sorted(chosen)
