"""The participant lifecycle state machine (pure)."""

from __future__ import annotations

import pytest

from app.registry.errors import InvalidTransition
from app.registry.lifecycle import FederationStatus as S
from app.registry.lifecycle import Transition as T
from app.registry.lifecycle import allowed_transitions, is_published, next_status

ALLOWED = {
    (S.PENDING, T.APPROVE): S.APPROVED,
    (S.PENDING, T.REJECT): S.REJECTED,
    (S.APPROVED, T.SUSPEND): S.SUSPENDED,
    (S.APPROVED, T.DEREGISTER): S.DEREGISTERED,
    (S.SUSPENDED, T.REINSTATE): S.APPROVED,
    (S.SUSPENDED, T.DEREGISTER): S.DEREGISTERED,
    (S.REJECTED, T.RESUBMIT): S.PENDING,
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("transition", list(T))
def test_every_pair(status, transition):
    if (status, transition) in ALLOWED:
        assert next_status(status, transition) == ALLOWED[(status, transition)]
    else:
        with pytest.raises(InvalidTransition, match=f"cannot {transition} an organisation that is {status}"):
            next_status(status, transition)


def test_only_approved_is_published():
    assert [s for s in S if is_published(s)] == [S.APPROVED]
    assert not is_published(None)


def test_allowed_transitions_lists_what_the_ui_may_offer():
    assert allowed_transitions(S.APPROVED) == [T.SUSPEND, T.DEREGISTER]
    assert allowed_transitions(S.DEREGISTERED) == []
