"""Domain errors: the services raise these, the CLI turns them into exit code 1, the pages into st.error."""


class RefusedError(ValueError):
    """Input the workbench refuses; the message names the row, the field and what was expected."""


class NotFoundError(RefusedError):
    """A proposal, risk, round or person that does not exist."""


class ForbiddenError(RefusedError):
    """The person acting may not do this (their role on the team does not allow it); such attempts are audited."""


class ConflictError(RefusedError):
    """A change based on an out-of-date copy: somebody else saved first."""


class AuditError(RefusedError):
    """The audit record does not verify, or cannot be checked or written (risk/audit.py, docs/AUDIT.md). The message
    names what and where: the event's id, or the table, row id and field that differs from the record."""


class AuditChainError(AuditError):
    """The audit log's keyed hash chain does not verify: an event was changed, removed, reordered or cut off."""


class AuditDataError(AuditError):
    """A row of an audited table differs from its last audited state (changed around the services)."""


class AuditKeyError(AuditError):
    """The audit key is missing, unreadable or malformed; the message says where it was looked for (never the key)."""


class StorageError(RefusedError):
    """The database could not be written or reached (a full disk, a lost connection, a file that cannot be opened).
    The message says in words what could not be saved and whether anything was changed; never SQL or its values.
    `reason` is the failure alone ("the disk is full ..."), for callers that word the rest themselves."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason
