"""Reading a table by id while concurrent inserts commit out of order (monitor/tail.py): no row is missed."""

from __future__ import annotations

from monitor.tail import GAP_SECONDS, Tail


def test_ids_read_in_order_leave_no_gap():
    tail = Tail()
    tail.saw([1, 2, 3], now=0.0)
    assert (tail.after, tail.ranges()) == (3, [])


def test_an_id_committed_late_is_asked_for_again_until_it_arrives():
    tail = Tail()
    tail.saw([1, 2, 5, 6], now=0.0)  # 3 and 4 were taken by a transaction that has not committed yet
    assert (tail.after, tail.ranges()) == (6, [(3, 4)])
    tail.saw([4, 7], now=1.0)  # 4 committed; 3 still out
    assert (tail.after, tail.ranges()) == (7, [(3, 3)])
    tail.saw([3], now=2.0)
    assert tail.ranges() == []


def test_a_gap_still_empty_after_a_while_was_a_rollback_and_is_forgotten():
    tail = Tail()
    tail.saw([1, 10], now=0.0)
    assert tail.ranges() == [(2, 9)]
    tail.saw([], now=GAP_SECONDS - 0.1)
    assert tail.ranges() == [(2, 9)]
    tail.saw([], now=GAP_SECONDS + 0.1)
    assert tail.ranges() == []


def test_a_wide_gap_is_trimmed_at_its_ends():
    tail = Tail()
    tail.saw([1, 10_002], now=0.0)
    tail.saw([2, 3, 10_001], now=0.5)
    assert tail.ranges() == [(4, 10_000)]
