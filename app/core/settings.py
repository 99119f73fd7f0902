"""One place for every setting: environment variables prefixed with CARREAU_."""

import re
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARREAU_", env_file=".env", extra="ignore")

    var_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""
    secret_key: Annotated[str, Field(repr=False)] = ""
    base_url: str = "http://127.0.0.1:8000"
    default_locale: str = "fr"
    operator_name: str = "Carreau — Bassin minier"
    operator_logo: str = ""
    operator_color: str = "#8a2f14"
    operator_contact_email: str = ""
    accessibility_status: AccessibilityStatus = AccessibilityStatus.none
    debug: bool = False

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
