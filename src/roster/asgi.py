"""The ASGI entry point for servers: ``uvicorn roster.asgi:app``."""

from roster.app import create_app

app = create_app()
