"""Sliding replay window (RFC 8613 7.4, RFC 4303 3.4.3 / DTLS 1.3 anti-replay)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secure.errors import ProtocolError, RejectReason, ReplayError, SecureUsageError
from secure.records.replay import ReplayWindow


def test_an_empty_window_accepts_any_partial_iv() -> None:
    w = ReplayWindow()
    for piv in (0, 1, 63, 2**40 - 1):
        w.check(piv)
    assert w.highest is None


def test_check_never_changes_the_window() -> None:
    w = ReplayWindow()
    w.check(5)
    w.check(5)
    assert w.highest is None
    w.update(5)
    with pytest.raises(ReplayError):
        w.check(5)


def test_an_accepted_partial_iv_is_rejected_afterwards() -> None:
    w = ReplayWindow()
    w.update(0)
    with pytest.raises(ReplayError) as info:
        w.check(0)
    assert info.value.reason is RejectReason.REPLAY
    assert isinstance(info.value, ProtocolError)


def test_update_refuses_to_accept_a_partial_iv_twice() -> None:
    w = ReplayWindow()
    w.update(10)
    with pytest.raises(ReplayError):
        w.update(10)


def test_window_of_64_accepts_63_behind_and_rejects_64_behind() -> None:
    w = ReplayWindow()
    w.update(100)
    w.check(100 - 63)
    with pytest.raises(ReplayError) as info:
        w.check(100 - 64)
    assert info.value.reason is RejectReason.TOO_OLD


def test_out_of_order_arrivals_inside_the_window_are_each_accepted_once() -> None:
    w = ReplayWindow()
    order = [5, 3, 9, 0, 4, 8, 1, 2, 7, 6]
    for piv in order:
        w.check(piv)
        w.update(piv)
    for piv in order:
        assert not w.is_acceptable(piv)
    assert w.highest == 9
    assert w.is_acceptable(10)


def test_a_jump_larger_than_the_window_forgets_everything_behind_it() -> None:
    w = ReplayWindow()
    for piv in range(10):
        w.update(piv)
    w.update(1000)
    assert not w.is_acceptable(9)  # too old now
    assert w.is_acceptable(999)
    assert w.is_acceptable(1000 - 63)
    assert not w.is_acceptable(1000 - 64)


def test_window_size_is_configurable_and_validated() -> None:
    w = ReplayWindow(size=32)
    w.update(40)
    assert w.is_acceptable(9)
    assert not w.is_acceptable(8)
    for bad in (0, -1):
        with pytest.raises(SecureUsageError):
            ReplayWindow(size=bad)


@given(st.lists(st.integers(min_value=0, max_value=300), max_size=200), st.sampled_from([1, 8, 64, 100]))
def test_window_matches_a_reference_model(pivs: list[int], size: int) -> None:
    """Accept iff not seen before and within ``size`` of the highest accepted so far."""
    w = ReplayWindow(size)
    seen: set[int] = set()
    for piv in pivs:
        top = max(seen) if seen else -1
        expected = piv not in seen and piv > top - size
        assert w.is_acceptable(piv) == expected
        if expected:
            w.update(piv)
            seen.add(piv)
    assert w.highest == (max(seen) if seen else None)
