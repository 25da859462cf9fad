"""Settings: one object, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, IPvAnyNetwork
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "threshold-demo-secret-change-me-0000000000"


class Settings(BaseSettings):
    """Everything threshold reads from its environment; secrets never have a production default."""

    model_config = SettingsConfigDict(env_prefix="THRESHOLD_", env_file=".env", extra="ignore")

    mode: Literal["demo", "production", "test"] = "demo"
    database_url: str = "sqlite+aiosqlite:///./threshold.db"
    secret_key: str = Field(default=DEFAULT_SECRET, repr=False)
    token_ttl_seconds: int = 900
    # Failed credentials (passwords, guest link tokens, signed links, API keys) before a wait: one account from one
    # client address, one client address over all accounts, one account from everywhere; counted in the database
    # so that every process shares them.
    credential_window_minutes: float = 15.0
    credential_failures_per_account: int = 5
    credential_failures_per_address: int = 20
    credential_failures_per_account_overall: int = 50
    # Proxies (CIDRs) whose X-Forwarded-For names the client. None by default: a client cannot pick its address.
    trusted_proxies: list[str] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000

    # Every wait in an entry session has a bound (seconds).
    camera_timeout: float = 5.0
    alarm_timeout: float = 5.0
    unlock_timeout: float = 5.0
    lock_timeout: float = 5.0
    arm_timeout: float = 10.0
    dwell_limit: float = 300.0
    lock_retries: int = 2
    approval_timeout: float = 120.0
    # How close (metres) a driver must be to the home to ask for entry.
    geofence_metres: float = 150.0
    # How long an HTTP "ask for entry" waits for the door before answering 202.
    entry_wait_seconds: float = 15.0
    reconcile_interval: float = 30.0
    # How often incidents are checked for an all-clear or a due reminder, and devices for an outage to report.
    alerts_interval: float = 5.0
    sweep_interval: float = 0.2
    # Simulated devices remember their state here, so a lock stays unlocked across a server crash.
    sim_state_file: str | None = None

    # Devices: MQTT (zigbee2mqtt, Home Assistant discovery) when a broker URL is set, else Home Assistant
    # when its URL is set, else the in-process simulation. `threshold demo` starts its own broker when unset.
    mqtt_url: str | None = None
    mqtt_base: str = "zigbee2mqtt"
    mqtt_discovery_prefix: str = "homeassistant"
    mqtt_client_id: str = "threshold"
    # "auto" tries MQTT 5 and falls back to 3.1.1. threshold uses no MQTT 5 feature, and 3.1.1 costs the
    # client a third less per message (no properties object per packet): see BENCHMARKS.md.
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = "3.1.1"
    # "index/count": this worker handles the devices whose home hashes to `index` of `count` shards.
    mqtt_shard: str | None = None
    ha_url: str | None = None
    ha_token: str | None = Field(default=None, repr=False)

    # Where people reach threshold: links in messages start here.
    public_url: str = "http://127.0.0.1:8000"

    # Notifications. Email goes over SMTP when a host is set (else it is only logged); SMS through a
    # Twilio-compatible API when an account is set, through the SMTP server as mail when `sms_via_mail`.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "threshold <notify@threshold.local>"
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    sms_via_mail: bool = False
    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = Field(default=None, repr=False)
    twilio_from: str | None = None
    operator_email: str | None = None
    outbox_interval: float = 0.1
    outbox_batch: int = 100
    outbox_concurrency: int = 16
    outbox_lease: float = 30.0
    outbox_max_attempts: int = 8
    # Local hour at which a household hears of the day's delivery window.
    morning_hour: int = 7
    clip_link_hours: int = 72
    # Partner webhooks reach public addresses only. Networks (CIDRs) of the operator's own receivers that they
    # may reach all the same, such as THRESHOLD_WEBHOOK_ALLOW_NETWORKS='["10.20.0.0/16"]'. None by default.
    webhook_allow_networks: list[IPvAnyNetwork] = Field(default_factory=list)

    # Video: each session is recorded with ffmpeg into `clip_dir`, kept `clip_post_roll` seconds after the
    # session ends. Simulated cameras stream from `sim_camera_url` (the demo and the tests start one).
    video: bool = True
    clip_dir: str = ".threshold/clips"
    clip_post_roll: float = 5.0
    video_fps: int = 10
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    sim_camera_url: str | None = None
    purge_interval: float = 3600.0
    # Seconds between keypad sync turns (a lock's own report starts one at once).
    keypad_interval: float = 2.0
    # Guests' keypad PINs are sealed at rest under this key (base64 of 32 bytes). Unset, a key is derived from
    # the secret key, so the demo needs no setting. Changing either leaves the stored PINs unreadable.
    keypad_key: str | None = Field(default=None, repr=False)
    # Delivery windows: how long a reservation holds; routes are re-planned in the background every
    # `replan_interval` seconds for station-days whose bookings changed, each within `replan_seconds`.
    reservation_minutes: float = 5.0
    replan_interval: float = 5.0
    replan_seconds: float = 2.0

    def shard(self) -> tuple[int, int] | None:
        """The MQTT shard as (index, count), or None for all devices."""
        if not self.mqtt_shard:
            return None
        index, _, count = self.mqtt_shard.partition("/")
        i, n = int(index), int(count)
        if not 0 <= i < n:
            raise ValueError(f"THRESHOLD_MQTT_SHARD {self.mqtt_shard!r}: index must be in 0..count-1")
        return i, n

    def uses_default_secret(self) -> bool:
        """True when the secret is the published demo value."""
        return self.secret_key == DEFAULT_SECRET

    def secret_problem(self) -> str | None:
        """Why the secret must not sign anything outside the demo (unset, the published value, too short), or None."""
        if not self.secret_key.strip():
            return "THRESHOLD_SECRET_KEY is not set"
        if self.uses_default_secret():
            return "THRESHOLD_SECRET_KEY is the published demo value"
        if len(self.secret_key) < 32:
            return "THRESHOLD_SECRET_KEY is shorter than 32 characters"
        return None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
