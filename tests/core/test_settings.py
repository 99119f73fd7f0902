import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.settings import PROJECT_ROOT, AccessibilityStatus, Settings, contrast_with_white


def make(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path, **values)  # type: ignore[arg-type]


def test_defaults() -> None:
    settings = Settings(_env_file=None, secret_key="s" * 32)
    assert settings.var_dir == PROJECT_ROOT / "var"
    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'carreau.db'}"
    assert settings.default_locale == "fr"
    assert settings.operator_color == "#8a2f14"
    assert settings.accessibility_status is AccessibilityStatus.none
    assert settings.debug is False


def test_database_defaults_to_sqlite_under_var_dir(tmp_path: Path) -> None:
    settings = make(tmp_path, secret_key="s" * 32)
    assert settings.database_url == f"sqlite:///{tmp_path / 'carreau.db'}"


def test_secret_is_generated_once_and_reused(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    first = Settings(_env_file=None, var_dir=var_dir)
    stored = var_dir / "secret_key"
    assert stored.read_text() == first.secret_key
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    second = Settings(_env_file=None, var_dir=var_dir)
    assert second.secret_key == first.secret_key


def test_secret_is_not_shown_in_repr(tmp_path: Path) -> None:
    settings = make(tmp_path, secret_key="k" * 40)
    assert "k" * 40 not in repr(settings)


def test_a_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        make(tmp_path, secret_key="too-short")


def test_operator_color_is_normalised(tmp_path: Path) -> None:
    assert make(tmp_path, secret_key="s" * 32, operator_color="#1A4D8F").operator_color == "#1a4d8f"


@pytest.mark.parametrize("color", ["red", "#fff", "1a4d8f", "#1a4d8fff", "#gggggg"])
def test_operator_color_must_be_hex(tmp_path: Path, color: str) -> None:
    with pytest.raises(ValidationError, match="#rrggbb"):
        make(tmp_path, secret_key="s" * 32, operator_color=color)


@pytest.mark.parametrize("color", ["#ffcc00", "#ffffff", "#777777"])
def test_operator_color_needs_contrast_with_white(tmp_path: Path, color: str) -> None:
    assert contrast_with_white(color) < 4.5
    with pytest.raises(ValidationError, match=r"4\.5:1"):
        make(tmp_path, secret_key="s" * 32, operator_color=color)


def test_contrast_with_white() -> None:
    assert contrast_with_white("#000000") == pytest.approx(21)
    assert contrast_with_white("#ffffff") == pytest.approx(1)
    assert contrast_with_white("#767676") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("logo", ["", "https://example.org/logo.svg", "/static/img/logo.svg"])
def test_operator_logo_accepted(tmp_path: Path, logo: str) -> None:
    assert make(tmp_path, secret_key="s" * 32, operator_logo=logo).operator_logo == logo


@pytest.mark.parametrize(
    "logo", ["http://example.org/logo.svg", "javascript:alert(1)", "//example.org/logo.svg", "logo.svg"]
)
def test_operator_logo_refused(tmp_path: Path, logo: str) -> None:
    with pytest.raises(ValidationError, match="OPERATOR_LOGO"):
        make(tmp_path, secret_key="s" * 32, operator_logo=logo)


def test_unknown_default_locale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="locale must be one of"):
        make(tmp_path, secret_key="s" * 32, default_locale="de")


def test_environment_variables_use_the_carreau_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARREAU_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CARREAU_DATABASE_URL", "postgresql://carreau@db.example/carreau")
    monkeypatch.setenv("CARREAU_SECRET_KEY", "e" * 32)
    monkeypatch.setenv("CARREAU_OPERATOR_NAME", "Carreau — Lens")
    monkeypatch.setenv("CARREAU_DEFAULT_LOCALE", "en")
    monkeypatch.setenv("CARREAU_ACCESSIBILITY_STATUS", "partiellement_conforme")
    monkeypatch.setenv("CARREAU_DEBUG", "true")
    monkeypatch.setenv("OPERATOR_NAME", "not prefixed, ignored")
    settings = Settings(_env_file=None)
    assert settings.var_dir == tmp_path
    assert settings.database_url == "postgresql://carreau@db.example/carreau"
    assert settings.secret_key == "e" * 32
    assert settings.operator_name == "Carreau — Lens"
    assert settings.default_locale == "en"
    assert settings.accessibility_status is AccessibilityStatus.partial
    assert settings.debug is True
    assert not (tmp_path / "secret_key").exists()


def test_invalid_environment_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARREAU_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("CARREAU_OPERATOR_COLOR", "#ffcc00")
    with pytest.raises(ValidationError, match="contrast"):
        Settings(_env_file=None)


def test_env_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"CARREAU_SECRET_KEY={'f' * 32}\nCARREAU_OPERATOR_NAME=Depuis le fichier\n")
    settings = Settings(_env_file=env_file, var_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.operator_name == "Depuis le fichier"
    assert settings.secret_key == "f" * 32
