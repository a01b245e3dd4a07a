"""Imports every feature's models, so the metadata (and Alembic) sees the whole schema.

A new feature adds one import line here.
"""

from roster.accounts import models as accounts_models
from roster.db.base import Base
from roster.mail import models as mail_models

__all__ = ["Base", "accounts_models", "mail_models"]
