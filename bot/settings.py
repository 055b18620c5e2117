"""Settings from the environment and `.env`, validated once at start.

A bad value must stop the program with one line naming the variable, never a traceback,
because the people who run Deskmate read that line in a terminal or a systemd journal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Language = Literal["zh-CN", "en"]

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
"""The sample department and policy shipped with the code, found from wherever a command is started."""

# Files a department names in its settings: a name that points nowhere stops the command instead of
# silently starting without an org, a roster or holidays.
NAMED_FILES = ("org_file", "policy_file", "roster_file", "holidays_file", "synonyms_file")


class Settings(BaseSettings):
    """Every knob Deskmate reads; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    database_url: str = "sqlite+aiosqlite:///var/deskmate.db"
    org_file: Path | None = None
    policy_file: Path = EXAMPLES_DIR / "policy.yaml"
    roster_file: Path | None = None
    holidays_file: Path | None = None
    handbook_paths: str = ""
    synonyms_file: Path | None = None
    kb_cache_dir: Path = Path("var/cache")
    kb_semantic: bool = True
    timezone: str = "Asia/Shanghai"
    default_language: Language = "zh-CN"
    conversation_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    outbox_claim_seconds: int = Field(default=60, ge=1, le=3600)
    inbox_claim_seconds: int = Field(default=60, ge=1, le=3600)
    scheduler_tick_seconds: float = Field(default=30, ge=0.05, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_listen_host: str = "127.0.0.1"
    telegram_listen_port: int = Field(default=8443, ge=0, le=65535)
    telegram_secret_token: SecretStr | None = None
    telegram_supervisors_chat_id: int | None = None

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_listen_host: str = "127.0.0.1"
    slack_listen_port: int = Field(default=3000, ge=0, le=65535)
    slack_supervisors_channel: str | None = None

    dingtalk_client_id: str | None = None
    dingtalk_client_secret: SecretStr | None = None
    dingtalk_robot_code: str | None = None
    dingtalk_api_url: str = "https://api.dingtalk.com"
    dingtalk_card_template_id: str | None = None
    dingtalk_supervisors_chat_id: str | None = None

    feishu_app_id: str | None = None
    feishu_app_secret: SecretStr | None = None
    feishu_base_url: str = "https://open.feishu.cn"  # Lark (international): https://open.larksuite.com
    feishu_event_mode: Literal["ws", "http"] = "ws"  # ws: the SDK's long connection; http: callbacks
    feishu_listen_host: str = "127.0.0.1"
    feishu_listen_port: int = Field(default=3100, ge=0, le=65535)
    feishu_verification_token: SecretStr | None = None
    feishu_encrypt_key: SecretStr | None = None
    feishu_supervisors_chat_id: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value.startswith("sqlite:"):
            value = "sqlite+aiosqlite:" + value.removeprefix("sqlite:")
        elif value.startswith(("postgresql:", "postgres:")):
            value = "postgresql+asyncpg:" + value.split(":", 1)[1]
        if not value.startswith(("sqlite+aiosqlite:", "postgresql+asyncpg:")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def handbook_files(self) -> list[Path]:
        """The organisation's handbook files; empty means the bundled sample handbook."""
        parts = self.handbook_paths.replace(";", ",").split(",")
        return [Path(p.strip()) for p in parts if p.strip()]


def describe_error(error: ValidationError) -> str:
    """One line naming the first bad variable and what is wrong with it."""
    first = error.errors()[0]
    name = "_".join(str(part) for part in first["loc"]).upper() or "SETTINGS"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"setting {name}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Settings, or exit code 2 with one line on stderr when a value is bad."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        print(describe_error(exc), file=sys.stderr)
        raise SystemExit(2) from None
    for name in NAMED_FILES:
        path = getattr(settings, name)
        if name in settings.model_fields_set and path is not None and not path.is_file():
            print(f"setting {name.upper()}: no such file: {path}", file=sys.stderr)
            raise SystemExit(2)
    return settings
