"""The one place that answers "may this person do this to that?".

Routes, services and templates all ask `can(principal, action, target)`; each answer comes with
the reason, in plain French, for a refusal. Later domains add their actions here."""

from dataclasses import dataclass, field
from enum import StrEnum

from app.accounts.models import Role, RoleGrant, User
from app.core.i18n import N_


class Action(StrEnum):
    view_own_account = "account.view"
    export_own_data = "account.export"
    erase_own_account = "account.erase"
    manage_own_tokens = "account.tokens"
    verify_residence = "residents.verify"  # target: the resident (their commune decides)
    grant_role = "roles.grant"
    edit_axis = "axes.edit"
    view_audit_log = "audit.view"  # target: Scope(axis_id=…, consultation_id=…); none: the whole log
    manage_consultations = "consultations.manage"  # target: Scope(axis_id=…, consultation_id=…)
    view_participation_figures = "evaluation.view"  # target: Scope(axis_id=…, consultation_id=…)
    # Back office. Each takes the Scope of the consultation concerned (its axis and its id).
    moderate_content = "moderation.act"  # queue, hide, restore, approve, merge, block a participant
    answer_proposals = "proposals.answer"  # official answers
    manage_actions = "actions.manage"  # create actions, post progress updates
    # Assisted participation; target: Scope(commune_insee=…) of the resident helped.
    assist_residents = "residents.assist"


@dataclass(frozen=True)
class Scope:
    """What an action touches, for scoped roles: an axis, a consultation (within its axis), a commune."""

    axis_id: int | None = None
    consultation_id: int | None = None
    commune_insee: str | None = None


@dataclass(frozen=True)
class Principal:
    """A signed-in person and their role grants, loaded once per request."""

    user: User
    grants: tuple[RoleGrant, ...] = field(default_factory=tuple)

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    def has_role(self, role: Role, scope: Scope | None = None) -> bool:
        """True when a grant of `role` covers `scope` (a platform-wide grant covers everything;
        with no scope, any grant of that role counts)."""
        for grant in self.grants:
            if grant.role != role:
                continue
            if scope is None or grant.scope_key == "":
                return True
            if grant.axis_id is not None and grant.axis_id == scope.axis_id:
                return True
            if grant.consultation_id is not None and grant.consultation_id == scope.consultation_id:
                return True
            if grant.commune_insee is not None and grant.commune_insee == scope.commune_insee:
                return True
        return False

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.admin)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)
SIGN_IN_NEEDED = Decision(False, N_("Connectez-vous pour continuer."))
NOT_YOURS = Decision(False, N_("Cet élément appartient à quelqu’un d’autre."))
ADMINS_ONLY = Decision(False, N_("Seuls les administrateurs peuvent faire cela."))


def can(principal: Principal | None, action: Action, target: object = None) -> Decision:
    """Deny by default; every action names who may do it."""
    if principal is None or principal.user.is_erased:
        return SIGN_IN_NEEDED
    if action in (Action.view_own_account, Action.export_own_data, Action.erase_own_account,
                  Action.manage_own_tokens):
        if target is None or (isinstance(target, User) and target.id == principal.user.id):
            return ALLOWED
        return NOT_YOURS
    if principal.is_admin:
        return ALLOWED
    if action is Action.verify_residence:
        commune = target.commune_insee if isinstance(target, User) else None
        if commune and principal.has_role(Role.mediator, Scope(commune_insee=commune)):
            return ALLOWED
        return Decision(
            False, N_("Seuls les médiateurs de la commune de cette personne peuvent vérifier sa résidence.")
        )
    if action is Action.manage_consultations:
        scope = target if isinstance(target, Scope) else None
        if scope is not None and principal.has_role(Role.moderator, scope):
            return ALLOWED
        return Decision(False, N_("Seuls les modérateurs de cet axe ou de cette consultation peuvent faire cela."))
    if action in (Action.moderate_content, Action.answer_proposals, Action.manage_actions):
        # No target means everywhere: platform-wide moderators only. (Menus that ask "is this
        # person a moderator anywhere?" use Principal.has_role.)
        if principal.has_role(Role.moderator, target if isinstance(target, Scope) else Scope()):
            return ALLOWED
        return Decision(False, N_("Seuls les modérateurs de cet axe ou de cette consultation peuvent faire cela."))
    if action is Action.assist_residents:
        if principal.has_role(Role.mediator, target if isinstance(target, Scope) else Scope()):
            return ALLOWED
        return Decision(False, N_("Seuls les médiateurs de la commune de cette personne peuvent l’accompagner."))
    if action is Action.view_audit_log:
        # The entries about an axis or a consultation: its moderators. No target (or a commune, a
        # person): the whole log, accounts and roles included, for admins only.
        scope = target if isinstance(target, Scope) else None
        if (scope is not None and (scope.axis_id is not None or scope.consultation_id is not None)
                and principal.has_role(Role.moderator, scope)):
            return ALLOWED
        return Decision(False, N_("Seuls les administrateurs et les modérateurs de cet axe ou de cette consultation "
                                  "peuvent consulter ce journal."))
    if action is Action.view_participation_figures:
        if isinstance(target, Scope):
            if principal.has_role(Role.evaluator, target) or principal.has_role(Role.moderator, target):
                return ALLOWED
        # No target: the figures of the whole platform, which a scoped grant does not reach.
        elif target is None and principal.has_role(Role.evaluator, Scope()):
            return ALLOWED
        return Decision(False, N_("Seuls les évaluateurs peuvent consulter ces chiffres."))
    return ADMINS_ONLY  # grant_role, edit_axis
