"""The audit log's event names: every action Roster records, and how people read it.

An event name is dotted, ``<family>.<what happened>``; the log can be filtered by one name or by a
family (``user.``). ``record_event`` refuses a name that is not listed here, so this list is the
whole vocabulary of the log: the admin page's Action filter offers it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

# name -> what it reads as in the admin pages, in the order they are offered.
AUDIT_ACTIONS: dict[str, str] = {
    "organization.created": "Organization created",
    "user.invited": "Invited",
    "user.provisioned": "Provisioned",
    "user.updated": "Profile changed",
    "user.role_changed": "Role changed",
    "user.email_changed": "Email address changed",
    "user.photo_changed": "Photo changed",
    "user.photo_removed": "Photo removed",
    "user.dismissed": "Dismissed",
    "user.rehired": "Rehired",
    "user.deleted": "Deleted",
    "user.restored": "Restored",
    "user.merged": "Merged into another account",
    "user.purged": "Purged after the restore window",
    "user.erased": "Erased",
    "user.data_exported": "Personal data downloaded",
    "references.transferred": "Handed over to someone else",
    "invitation.accepted": "Invitation accepted",
    "invitation.resent": "Invitation resent",
    "invitation.revoked": "Invitation revoked",
    "invitations.expired": "Invitations expired",
    "department.created": "Department created",
    "department.updated": "Department changed",
    "department.deleted": "Department deleted",
    "department.members_added": "Department members added",
    "department.members_removed": "Department members removed",
    "plan.changed": "Plan changed",
    "settings.changed": "Settings changed",
    "scim_token.created": "SCIM token created",
    "scim_token.revoked": "SCIM token revoked",
    "personal_token.revoked": "Personal access token revoked",
    "audit.redacted": "Names removed from the log (erasure)",
    # The trash (roster.trash): <kind>.deleted, .restored and .purged for every kind it keeps.
    "post.deleted": "Post moved to the trash",
    "post.restored": "Post restored from the trash",
    "post.purged": "Post removed for good",
    "comment.deleted": "Comment moved to the trash",
    "comment.restored": "Comment restored from the trash",
    "comment.purged": "Comment removed for good",
    "task.deleted": "Task moved to the trash",
    "task.restored": "Task restored from the trash",
    "task.purged": "Task removed for good",
    "file.deleted": "File moved to the trash",
    "file.restored": "File restored from the trash",
    "file.purged": "File removed for good",
    "lead.deleted": "Lead moved to the trash",
    "lead.restored": "Lead restored from the trash",
    "lead.purged": "Lead removed for good",
}

# family (the part before the dot) -> what a group of its events reads as.
AUDIT_FAMILIES: dict[str, str] = {
    "organization": "Organization",
    "user": "People",
    "references": "Handovers",
    "invitation": "Invitations",
    "invitations": "Expired invitations",
    "department": "Departments",
    "plan": "Plan",
    "settings": "Settings",
    "scim_token": "SCIM tokens",
    "personal_token": "Personal access tokens",
    "audit": "Audit log",
    "post": "Posts",
    "comment": "Comments",
    "task": "Tasks",
    "file": "Files",
    "lead": "CRM leads",
}


@dataclass(frozen=True)
class ActionGroup:
    """One family of events: its prefix filter (``user.``), how it reads, and its event names."""

    prefix: str
    label: str
    actions: tuple[tuple[str, str], ...]  # (name, label)


def is_audit_action(name: str) -> bool:
    """Whether ``name`` is an event the log records."""
    return name in AUDIT_ACTIONS


def action_family(name: str) -> str:
    """The family of an event name: ``user`` for ``user.dismissed``."""
    return name.split(".", 1)[0]


def action_label(name: str) -> str:
    """How an event reads for people; an unknown name reads as itself."""
    return AUDIT_ACTIONS.get(name, name)


def action_groups() -> list[ActionGroup]:
    """Every event name, grouped by family, in the order the families are listed."""
    groups: dict[str, list[tuple[str, str]]] = {family: [] for family in AUDIT_FAMILIES}
    for name, label in AUDIT_ACTIONS.items():
        groups.setdefault(action_family(name), []).append((name, label))
    return [
        ActionGroup(prefix=f"{family}.", label=AUDIT_FAMILIES.get(family, family), actions=tuple(actions))
        for family, actions in groups.items()
        if actions
    ]
