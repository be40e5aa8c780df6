"""How far a status sweep pages: its cost in requests against the describes it saves.

``ListTrainingJobs`` sorts by creation time, newest first, and cannot filter by status before
it pages (``StatusEquals`` is applied to each page after ``MaxResults`` jobs of any status
were taken). So a sweep pages from the newest job towards the oldest one it watches, and
every job of the account created in between costs it paging: other teams' jobs, or the
whole history behind a job that has run for weeks.

The rule, per pass:

* The *window* is the pages the triggerer's share of the List rate allows per interval
  (``share x interval``, at least one). Members found there cost nothing extra: those
  requests fit in the interval anyway.
* A page past the window lengthens the pass by ``1 / share`` seconds. Its members would
  otherwise be described once per interval each, ``found / (share x interval)`` describes
  in that time: the page pays for itself when it finds at least ``window`` members. The
  pass keeps the page count that saved the most, and stops as soon as no further page
  could beat it (even one finding every member still unseen).

Members the pass does not cover describe their own jobs every interval; their status comes
from whichever source is cheaper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: ``ListTrainingJobs`` returns at most this many summaries per request.
PAGE_SIZE = 100


def window_pages(share: float, interval: float) -> int:
    """Pages the List share allows per interval (at least one)."""
    return max(1, math.floor(share * interval + 1e-9))


@dataclass
class PageLedger:
    """The pages of one pass and the members each found.

    :param window: pages that fit in an interval at the List share.
    :param members: members the pass looks for.
    :param limit: most pages to read (``None``: as many as pay).
    """

    window: int
    members: int
    limit: int | None = None
    pages: int = 0
    found: int = 0
    savings: int = 0
    best_savings: int = 0
    best_pages: int = 0
    _found_by_page: list[int] = field(default_factory=list)

    def record(self, found: int) -> None:
        """One more page was read, and it found ``found`` members."""
        self.pages += 1
        self.found += found
        self._found_by_page.append(found)
        if self.pages > self.window:
            self.savings += found - self.window
        if self.pages <= self.window or self.savings > self.best_savings:
            self.best_savings = max(self.savings, self.best_savings)
            self.best_pages = self.pages

    def another_page(self) -> bool:
        """Whether reading one more page can still pay."""
        unseen = self.members - self.found
        if unseen <= 0:
            return False
        if self.limit is not None and self.pages >= self.limit:
            return False
        if self.pages < self.window:
            return True
        # Even a page that found every unseen member could not beat the best count so far.
        return self.savings + unseen - self.window > self.best_savings

    def covered_pages(self) -> int:
        """Pages worth reading next pass: the window, or the count that saved the most."""
        return max(self.window, self.best_pages)

    def next_limit(self) -> int:
        """The next pass's page limit: what paid this time, one page more to follow members
        that newer jobs push deeper."""
        covered = self.covered_pages()
        return covered if covered == self.window else covered + 1
