from __future__ import annotations

from sagemaker_async.coverage import PageLedger, window_pages


def test_the_window_is_what_the_share_allows_per_interval() -> None:
    assert window_pages(1.0, 30) == 30
    assert window_pages(0.5, 10) == 5
    assert window_pages(1.0, 0.5) == 1, "at least one page"


def test_pages_within_the_window_are_read_while_members_are_unseen() -> None:
    ledger = PageLedger(window=3, members=5)
    for _ in range(3):
        assert ledger.another_page()
        ledger.record(0)
    # Past the window a page costs three members' describes: five unseen can still pay.
    assert ledger.another_page()
    ledger.record(5)
    assert not ledger.another_page(), "every member found"
    assert ledger.covered_pages() == 4 and ledger.next_limit() == 5


def test_paging_stops_once_no_page_could_beat_the_best_count() -> None:
    ledger = PageLedger(window=2, members=10)
    ledger.record(0)
    ledger.record(0)
    pages = 2
    while ledger.another_page():
        ledger.record(0)
        pages += 1
    # Each page past the window costs 2; ten unseen members pay for at most four of them.
    assert pages == 6
    assert ledger.covered_pages() == 2 and ledger.next_limit() == 2


def test_a_limit_ends_the_pass_even_where_paging_would_pay() -> None:
    ledger = PageLedger(window=1, members=500, limit=3)
    for _ in range(3):
        ledger.record(100)
    assert not ledger.another_page()
    assert ledger.covered_pages() == 3 and ledger.next_limit() == 4
