"""The simulated jobs in creation order, for ListTrainingJobs pages without a sort per call."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sagemaker_async.testing.jobs import TrainingJob

#: Where a job sits in creation order: ``(created_at, name)``; names are unique, so no ties.
CreationKey = tuple[float, str]
Item = TypeVar("Item")


def ordered_after(
    keys: Sequence[tuple[Any, ...]],
    items: Sequence[Item],
    after: tuple[Any, ...] | None,
    descending: bool,
    limit: int,
) -> list[Item]:
    """Up to ``limit`` of ``items`` (whose ascending sort keys are ``keys``) strictly after
    the key ``after`` in the given order, from the first in that order when it is ``None``.

    O(log n + limit): a page continues from a key, not an offset, so items added or removed
    elsewhere never shift it.
    """
    if descending:
        end = len(keys) if after is None else bisect.bisect_left(keys, after)
        return list(items[max(0, end - limit) : end][::-1])
    start = 0 if after is None else bisect.bisect_right(keys, after)
    return list(items[start : start + limit])


def creation_key(job: TrainingJob) -> CreationKey:
    """The job's place in creation order."""
    return (job.created_at, job.name)


class CreationIndex:
    """Jobs sorted by :func:`creation_key`, in two parallel lists (not thread-safe: the
    job store holds its lock around every use).

    A job created now is newer than every other, so it normally lands at the end: adding
    costs O(1) then, and O(n) only when a clock step puts it among older jobs.
    """

    def __init__(self) -> None:
        self._keys: list[CreationKey] = []
        self._jobs: list[TrainingJob] = []

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: TrainingJob) -> None:
        """Put one job in its place."""
        key = creation_key(job)
        if not self._keys or key > self._keys[-1]:
            self._keys.append(key)
            self._jobs.append(job)
            return
        at = bisect.bisect_left(self._keys, key)
        self._keys.insert(at, key)
        self._jobs.insert(at, job)

    def merge(self, jobs: Iterable[TrainingJob]) -> None:
        """Add many jobs at once in O(n) (a seeded history sits before the live jobs, where
        inserting one by one would move the whole tail each time)."""
        pairs = sorted(
            [*zip(self._keys, self._jobs, strict=True), *((creation_key(j), j) for j in jobs)],
            key=lambda pair: pair[0],
        )
        self._keys = [key for key, _ in pairs]
        self._jobs = [job for _, job in pairs]

    def after(self, key: CreationKey | None, descending: bool, limit: int) -> list[TrainingJob]:
        """Up to ``limit`` jobs strictly after ``key`` in the given order; see
        :func:`ordered_after`."""
        return ordered_after(self._keys, self._jobs, key, descending, limit)

    def snapshot(self) -> list[TrainingJob]:
        """Every job, oldest first."""
        return list(self._jobs)

    def clear(self) -> None:
        """Forget every job."""
        self._keys = []
        self._jobs = []
