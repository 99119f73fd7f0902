"""One place for every setting: environment variables prefixed with CARREAU_."""

import re
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class AccessibilityStatus(StrEnum):
    """The RGAA conformity mention every page's footer must carry."""

    total = "totalement_conforme"
    partial = "partiellement_conforme"
    none = "non_conforme"


def relative_luminance(color: str) -> float:
    """WCAG 2.1 relative luminance of a #rrggbb colour."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_with_white(color: str) -> float:
    return 1.05 / (relative_luminance(color) + 0.05)


class OidcProvider(BaseModel):
    """One OpenID Connect provider, e.g. FranceConnect. Configured as a JSON list in CARREAU_OIDC_PROVIDERS."""

    name: str = Field(pattern=r"^[a-z0-9-]{1,40}$")  # used in URLs: /auth/NAME/login
    display_name: str
    issuer: str
    discovery_url: str = ""  # default: ISSUER/.well-known/openid-configuration
    client_id: str
    client_secret: SecretStr
    scopes: str = "openid email profile"
    acr_values: str | None = None  # FranceConnect: "eidas1"
    accepted_acr: list[str] | None = None  # default: acr_values and the levels above it
    # Trusted providers (FranceConnect) prove who the person is; residence is still declared.
    trusted: bool = False
    button: str = Field(default="generic", pattern=r"^(generic|franceconnect)$")
    pkce: bool | None = None  # None: use PKCE when the provider announces S256

    @property
    def metadata_url(self) -> str:
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def acceptable_acr(self) -> list[str]:
        if self.accepted_acr is not None:
            return self.accepted_acr
        if self.acr_values in EIDAS_LEVELS:
            return EIDAS_LEVELS[EIDAS_LEVELS.index(self.acr_values) :]
        return [self.acr_values] if self.acr_values else []


EIDAS_LEVELS = ["eidas1", "eidas2", "eidas3"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARREAU_", env_file=".env", extra="ignore")

    var_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""
    # Connections per worker process: enough for every thread of the pool (40) to hold one, so no
    # request waits for a connection (waiters are served out of order: seconds of tail under load,
    # BENCHMARKS.md). Workers × (size + overflow) must stay below PostgreSQL's max_connections.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=30, ge=0, le=200)
    secret_key: Annotated[str, Field(repr=False)] = ""
    base_url: str = "http://127.0.0.1:8000"
    default_locale: str = "fr"
    operator_name: str = "Carreau — Bassin minier"
    operator_logo: str = ""
    operator_color: str = "#8a2f14"
    operator_contact_email: str = ""
    accessibility_status: AccessibilityStatus = AccessibilityStatus.none
    debug: bool = False

    # Accounts and sessions
    local_accounts_enabled: bool = True
    oidc_providers: list[OidcProvider] = []
    terms_version: str = "2026-11"
    reports_to_hide: int = Field(default=3, ge=1)  # reports that hide an item until a moderator decides
    # Public pages served to visitors who are not signed in are kept this many seconds per worker
    # (app.core.pagecache); 0 turns the cache off.
    page_cache_seconds: float = Field(default=10.0, ge=0, le=60)
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    redis_url: str = ""  # sessions and rate limits go to Redis when set

    # Mail: with no SMTP host, mails are written to the log (fine on a laptop, never in production)
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    mail_from: str = "Carreau <ne-pas-repondre@carreau.localhost>"

    # Evaluation and open data: counts of fewer people than this are never shown (figures, files).
    # At least 3: with 2, some tables cannot be protected by suppression (1 + 1 beside a total of 2).
    privacy_threshold: int = Field(default=5, ge=3)
    # Licence of the open-data exports: "etalab-2.0" (Licence Ouverte 2.0) or "odbl-1.0"
    open_data_licence: str = Field(default="etalab-2.0", pattern=r"^(etalab-2\.0|odbl-1\.0)$")

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"locale must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @field_validator("operator_color")
    @classmethod
    def _readable_color(cls, value: str) -> str:
        # White text sits on this colour (buttons, header): WCAG AA asks for 4.5:1.
        if not HEX_COLOR.match(value):
            raise ValueError("OPERATOR_COLOR must be a #rrggbb colour")
        ratio = contrast_with_white(value)
        if ratio < 4.5:
            raise ValueError(f"OPERATOR_COLOR {value} has a contrast of {ratio:.2f}:1 with white; 4.5:1 is needed")
        return value.lower()

    @field_validator("operator_logo")
    @classmethod
    def _safe_logo(cls, value: str) -> str:
        if value and not (value.startswith(("https://", "/static/"))):
            raise ValueError("OPERATOR_LOGO must be an https:// URL or a path under /static/")
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'carreau.db'}"
        if not self.secret_key:
            self.secret_key = _stored_secret(self.var_dir)
        if len(self.secret_key) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters long")
        return self


SUPPORTED_LOCALES = ("fr", "en")


def _stored_secret(var_dir: Path) -> str:
    """Generate the secret once and keep it, so sessions survive a restart."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
