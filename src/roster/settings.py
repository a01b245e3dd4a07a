"""Settings from the environment (prefix ``ROSTER_``)."""

from __future__ import annotations

import os
import secrets
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Every server process's log lines: time, level, logger, message (a request's is JSON).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The shortest ROSTER_SECRET_KEY taken (32 characters of secrets.token_urlsafe are 192 random bits).
MIN_SECRET_KEY_LENGTH = 32
# Settings whose values are never shown in an error (they go to terminals and logs).
SECRET_SETTINGS = frozenset({"ROSTER_SECRET_KEY", "ROSTER_SMTP_PASSWORD", "ROSTER_DATABASE_URL"})
MAKE_SECRET_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROSTER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Where the SQLite file, files and keys live.")
    database_url: str | None = Field(default=None, description="Defaults to a SQLite file in data_dir.")
    secret_key: str | None = Field(default=None, description="Generated and stored in data_dir if unset.")
    base_url: str = "http://127.0.0.1:8000"

    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Roster <no-reply@roster.invalid>"

    # Lifetimes and limits: none of them means anything at zero or below.
    invitation_days: int = Field(default=7, gt=0)
    session_days: int = Field(default=14, gt=0)
    password_reset_minutes: int = Field(default=60, gt=0)
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, gt=0)

    # Failed sign-ins (and password reset requests) allowed, in the `limits` library's notation.
    login_limit_per_account: str = "10/5minutes"
    login_limit_per_address: str = "30/minute"
    rate_limit_storage: str = "memory://"

    background_workers: bool = True
    # Left unset, true when the base URL is https (``_secure_cookies_behind_https``).
    cookie_secure: bool = False
    log_level: str = "INFO"

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        # Mailed links are built on it: without a scheme and a host they are not links at all.
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"must be an absolute http(s) URL such as https://intranet.example.com, not {value!r}"
            )
        return value.strip()

    @model_validator(mode="after")
    def _secure_cookies_behind_https(self) -> Settings:
        # People reach an https base URL over HTTPS, so the cookies need never travel in clear text
        # (a session cookie sent once over plain HTTP is as good as handed over).
        if "cookie_secure" not in self.model_fields_set and urlsplit(self.base_url).scheme == "https":
            self.cookie_secure = True
        return self

    @field_validator("secret_key")
    @classmethod
    def _long_secret_key(cls, value: str | None) -> str | None:
        # It signs CSRF tokens and one-time form cookies: a short key can be guessed offline from
        # one signed value, and then every form forged. Left empty, a key is generated (as unset).
        # The message never repeats the key: it goes to terminals and logs.
        if value and len(value.strip()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_SECRET_KEY_LENGTH} characters long, not "
                f"{len(value.strip())}; make one with {MAKE_SECRET_KEY}, or leave it unset to have "
                "Roster generate one in the data directory"
            )
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_address(cls, value: str) -> str:
        # Every message's sender: a server refuses mail from a name without an address.
        _name, address = parseaddr(value)
        if "@" not in address or address.startswith("@") or address.endswith("@"):
            raise ValueError(f"must be an address such as Roster <no-reply@example.com>, not {value!r}")
        return value.strip()

    @field_validator("login_limit_per_account", "login_limit_per_address")
    @classmethod
    def _one_rate(cls, value: str) -> str:
        # Read by the sign-in limiter when the server starts: a rate it cannot read would stop it
        # with a traceback, and a second rate after ";" would be silently ignored.
        from limits import parse_many

        try:
            rates = parse_many(value)
        except ValueError:
            rates = []
        if len(rates) != 1 or rates[0].amount < 1:
            raise ValueError(f"must be one rate such as 10/5minutes or 30/minute, not {value!r}")
        return value.strip()

    @field_validator("rate_limit_storage")
    @classmethod
    def _usable_storage(cls, value: str) -> str:
        # The sign-in limiter's store is made when the server starts: an unknown scheme, or a
        # store whose client library is missing, is said here in one line rather than there.
        from limits.errors import ConfigurationError
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        value = value.strip()
        if value == "memory://":
            return value
        if value.startswith("async+"):
            raise ValueError(f"must be a storage such as redis://127.0.0.1:6379, not {value!r}")
        try:
            MovingWindowRateLimiter(storage_from_string(value))  # a client; nothing is connected
        except (ConfigurationError, NotImplementedError, ValueError) as exc:
            reason = str(exc).split(". See ")[0].rstrip(".")
            raise ValueError(
                f"must be a storage such as memory:// or redis://127.0.0.1:6379 ({reason}), not {value!r}"
            ) from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
        return level

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'roster.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in ``data_dir/secret_key``."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            _create_once(path, secrets.token_urlsafe(48))
        key = path.read_text().strip()
        if len(key) < MIN_SECRET_KEY_LENGTH:
            # Written by hand, or emptied: an empty key would sign every form with no secret at all.
            raise SecretKeyFileInvalid(
                f"{path} holds a key of {len(key)} characters, not the {MIN_SECRET_KEY_LENGTH} or more a "
                f"key needs; write one made with {MAKE_SECRET_KEY} into it, or delete it to have Roster "
                "generate one (links already mailed and forms already open then stop working)"
            )
        self.secret_key = key
        return key


class SecretKeyFileInvalid(ValueError):
    """The data directory's ``secret_key`` file holds no usable key (the message never repeats it)."""


def _create_once(path: Path, content: str) -> None:
    """Write ``path`` whole and readable by its owner only, unless it exists. Server processes
    started together (``--workers``) each find no key: the first link wins, and the others read
    its key rather than each writing their own over it (CSRF tokens one process signed would be
    refused by the next), or reading a file half written."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
        os.link(staging, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: create it in place, if nobody has
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                handle.write(content)
        except FileExistsError:
            pass
    finally:
        staging.unlink(missing_ok=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_problems(exc: ValidationError) -> str:
    """A settings error in one line, naming each variable at fault: what every command, and a
    server importing ``roster.asgi``, says instead of pydantic's report. A secret's value is never
    repeated (it goes to terminals and logs)."""
    problems = []
    for problem in exc.errors():
        name = "ROSTER_" + "_".join(str(part) for part in problem["loc"]).upper()
        if problem["type"] == "value_error":  # our own validators' messages say what is wrong
            message = str(problem["ctx"]["error"])
        elif name in SECRET_SETTINGS:
            message = problem["msg"]
        else:
            message = f"{problem['msg']} (got {problem['input']!r})"
        problems.append(f"{name}: {message}")
    return "; ".join(problems)


WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", ""})  # noqa: S104 (recognised, not bound)


def is_wildcard_host(host: str) -> bool:
    """Whether ``host`` means "every address of this machine", which no browser can open."""
    return host.strip() in WILDCARD_HOSTS


def base_url_is_set(settings: Settings) -> bool:
    return "base_url" in settings.model_fields_set


def base_url_for(settings: Settings, host: str, port: int) -> str:
    """The address links should name: ``ROSTER_BASE_URL`` when it is set (in the environment or
    ``.env``), otherwise where this server listens; for a server listening on every address, the
    loopback address (the one address of those that is known to reach it)."""
    if base_url_is_set(settings):
        return settings.base_url
    if is_wildcard_host(host):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"
