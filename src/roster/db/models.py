"""Imports every feature's models, so the metadata (and Alembic) sees the whole schema.

A new feature adds one import line here.
"""

from roster.accounts import models as accounts_models
from roster.crm import models as crm_models
from roster.db.base import Base
from roster.directory import models as directory_models
from roster.drive import models as drive_models
from roster.lifecycle import deletion_models
from roster.lifecycle import models as lifecycle_models
from roster.mail import models as mail_models
from roster.messages import models as messages_models
from roster.scim import models as scim_models
from roster.stream import models as stream_models
from roster.tasks import models as tasks_models
from roster.trash import models as trash_models

__all__ = [
    "Base",
    "accounts_models",
    "crm_models",
    "deletion_models",
    "directory_models",
    "drive_models",
    "lifecycle_models",
    "mail_models",
    "messages_models",
    "scim_models",
    "stream_models",
    "tasks_models",
    "trash_models",
]
