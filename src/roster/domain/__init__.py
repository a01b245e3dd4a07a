"""Pure rules: no SQLAlchemy, no FastAPI. Unit-tested without a database."""
