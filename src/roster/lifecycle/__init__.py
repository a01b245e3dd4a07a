"""The employee lifecycle: invitations, seats, dismiss/rehire, deletion and the audit log."""
