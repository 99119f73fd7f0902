"""The permission matrix: every action × every kind of person × every kind of target.

The expectations are one table (EXPECTED), written from the roles of DESIGN.md §1 and not from
the code of app/accounts/policy.py: it lists who is allowed what, on which targets; every other
cell of the matrix is a refusal, which must say why. A new Action fails
test_every_action_is_in_the_table until someone decides who may do it."""

from datetime import UTC, datetime

import pytest

from app.accounts.models import Role, RoleGrant, User
from app.accounts.policy import Action, Principal, Scope, can

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOME = "62498"  # Lens: where every principal below lives
NEIGHBOURS_COMMUNE = "62510"  # Liévin
OTHER_COMMUNE = "62427"  # Hénin-Beaumont

# --- the people (principals), built without a database


def _grant(role: Role, *, axis_id: int | None = None, consultation_id: int | None = None,
           commune_insee: str | None = None) -> RoleGrant:
    if axis_id is not None:
        key = f"axis:{axis_id}"
    elif consultation_id is not None:
        key = f"consultation:{consultation_id}"
    elif commune_insee is not None:
        key = f"commune:{commune_insee}"
    else:
        key = ""
    return RoleGrant(role=role, axis_id=axis_id, consultation_id=consultation_id, commune_insee=commune_insee,
                     scope_key=key, granted_at=NOW)


def _person(user_id: int, *grants: RoleGrant, erased: bool = False) -> Principal:
    user = User(id=user_id, display_name=f"Personne {user_id}", commune_insee=None if erased else HOME,
                verification_level="declared", created_at=NOW, erased_at=NOW if erased else None)
    return Principal(user=user, grants=tuple(grants))


PRINCIPALS: dict[str, Principal | None] = {
    "visitor": None,
    "resident": _person(1),
    # Erasure deletes grants; this one kept an admin grant anyway, to show that erasure wins.
    "erased": _person(2, _grant(Role.admin), erased=True),
    "mediator of 62510": _person(3, _grant(Role.mediator, commune_insee=NEIGHBOURS_COMMUNE)),
    "mediator of 62427": _person(4, _grant(Role.mediator, commune_insee=OTHER_COMMUNE)),
    "moderator of axis 1": _person(5, _grant(Role.moderator, axis_id=1)),
    "moderator of axis 2": _person(6, _grant(Role.moderator, axis_id=2)),
    "moderator of consultation 7": _person(7, _grant(Role.moderator, consultation_id=7)),
    "evaluator": _person(8, _grant(Role.evaluator)),
    "evaluator of axis 1": _person(9, _grant(Role.evaluator, axis_id=1)),
    "admin": _person(10, _grant(Role.admin)),
}
SIGNED_IN = [name for name in PRINCIPALS if name not in ("visitor", "erased")]

# --- the targets

OWN = "own account"
NEIGHBOUR = "resident of 62510"
AXIS_1 = "axis 1"
AXIS_2 = "axis 2"
CONSULTATION_7 = "consultation 7 (axis 1)"
NOTHING = "no target"
COMMUNE_62510 = "commune 62510"
COMMUNE_62427 = "commune 62427"
ALL = frozenset({OWN, NEIGHBOUR, AXIS_1, AXIS_2, CONSULTATION_7, NOTHING, COMMUNE_62510, COMMUNE_62427})
NEIGHBOUR_USER = User(id=100, display_name="Voisine", commune_insee=NEIGHBOURS_COMMUNE,
                      verification_level="declared", created_at=NOW)


def target_object(target: str, principal: Principal | None) -> object:
    if target == OWN:
        # A visitor has no account: "own" is then someone's account all the same.
        return principal.user if principal is not None else User(id=99, display_name="Quelqu’un", created_at=NOW)
    return {
        NEIGHBOUR: NEIGHBOUR_USER,
        AXIS_1: Scope(axis_id=1),
        AXIS_2: Scope(axis_id=2),
        CONSULTATION_7: Scope(axis_id=1, consultation_id=7),
        NOTHING: None,
        COMMUNE_62510: Scope(commune_insee=NEIGHBOURS_COMMUNE),
        COMMUNE_62427: Scope(commune_insee=OTHER_COMMUNE),
    }[target]


# --- THE TABLE: action → who → on which targets it is allowed. Anything not listed is refused.

OWN_ACCOUNT = {name: {OWN, NOTHING} for name in SIGNED_IN}  # one's own account only, admins included

EXPECTED: dict[Action, dict[str, set[str] | frozenset[str]]] = {
    Action.view_own_account: OWN_ACCOUNT,
    Action.export_own_data: OWN_ACCOUNT,
    Action.erase_own_account: OWN_ACCOUNT,
    Action.manage_own_tokens: OWN_ACCOUNT,
    # In person, by a mediator of the resident's commune (nobody here lives in 62427).
    Action.verify_residence: {
        "mediator of 62510": {NEIGHBOUR},
        "admin": ALL,
    },
    Action.grant_role: {"admin": ALL},
    Action.edit_axis: {"admin": ALL},  # axes are reference data
    # The whole log (no target; accounts, roles, erasures) is for admins. A moderator reads the
    # entries about their axis or consultation. Evaluators do not: the log names people and keeps
    # hidden content in its before/after, while they only need the figures (which they read in
    # full, view_participation_figures); data minimisation (GDPR art. 5-1-c) decides it.
    # Mediators' acts are in the log, which they do not read either.
    Action.view_audit_log: {
        "moderator of axis 1": {AXIS_1, CONSULTATION_7},
        "moderator of axis 2": {AXIS_2},
        "moderator of consultation 7": {CONSULTATION_7},
        "admin": ALL,
    },
    # A consultation belongs to its axis: the axis's moderators run it too.
    Action.manage_consultations: {
        "moderator of axis 1": {AXIS_1, CONSULTATION_7},
        "moderator of axis 2": {AXIS_2},
        "moderator of consultation 7": {CONSULTATION_7},
        "admin": ALL,
    },
    # Back office: a moderator acts within their axis or consultation; no target means the whole
    # platform, beyond any scoped grant. Evaluators read figures and change nothing.
    Action.moderate_content: {
        "moderator of axis 1": {AXIS_1, CONSULTATION_7},
        "moderator of axis 2": {AXIS_2},
        "moderator of consultation 7": {CONSULTATION_7},
        "admin": ALL,
    },
    Action.answer_proposals: {
        "moderator of axis 1": {AXIS_1, CONSULTATION_7},
        "moderator of axis 2": {AXIS_2},
        "moderator of consultation 7": {CONSULTATION_7},
        "admin": ALL,
    },
    Action.manage_actions: {
        "moderator of axis 1": {AXIS_1, CONSULTATION_7},
        "moderator of axis 2": {AXIS_2},
        "moderator of consultation 7": {CONSULTATION_7},
        "admin": ALL,
    },
    # At a counter, for residents of the mediator's own commune only.
    Action.assist_residents: {
        "mediator of 62510": {COMMUNE_62510},
        "mediator of 62427": {COMMUNE_62427},
        "admin": ALL,
    },
    # With no target: the figures of the whole platform, beyond any scoped grant.
    Action.view_participation_figures: {
        "evaluator": {AXIS_1, AXIS_2, CONSULTATION_7, NOTHING, COMMUNE_62510, COMMUNE_62427},
        "evaluator of axis 1": {AXIS_1, CONSULTATION_7},
        "moderator of axis 1": {AXIS_1, CONSULTATION_7},
        "moderator of axis 2": {AXIS_2},
        "moderator of consultation 7": {CONSULTATION_7},
        "admin": ALL,
    },
}


def expected(action: Action, who: str, target: str) -> bool:
    return target in EXPECTED[action].get(who, ())


def test_every_action_is_in_the_table() -> None:
    assert set(EXPECTED) == set(Action)


def test_the_table_names_only_known_people_and_targets() -> None:
    for action, rows in EXPECTED.items():
        assert set(rows) <= set(PRINCIPALS), action
        for targets in rows.values():
            assert targets <= ALL, action


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_matrix(action: Action) -> None:
    """One test per action, checking every person × target cell (and listing every wrong cell)."""
    wrong = []
    for who, principal in PRINCIPALS.items():
        for target in sorted(ALL):
            decision = can(principal, action, target_object(target, principal))
            if bool(decision) != expected(action, who, target):
                wrong.append(f"{who} / {target}: {'allowed' if decision else 'refused'}")
            if not decision and not (isinstance(decision.reason, str) and decision.reason.strip()):
                wrong.append(f"{who} / {target}: refused without a reason")
            if decision:
                assert decision.allowed
    assert not wrong, f"{action}: " + "; ".join(wrong)


def test_visitors_and_erased_people_are_asked_to_sign_in() -> None:
    for action in Action:
        for who in ("visitor", "erased"):
            assert can(PRINCIPALS[who], action).reason == "Connectez-vous pour continuer."


def test_another_commune_s_mediator_does_not_reach_a_resident_without_a_commune() -> None:
    homeless = User(id=101, display_name="Sans commune", created_at=NOW)
    assert not can(PRINCIPALS["mediator of 62510"], Action.verify_residence, homeless)
    assert can(PRINCIPALS["admin"], Action.verify_residence, homeless)
