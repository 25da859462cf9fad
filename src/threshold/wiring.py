"""Wiring of the outputs: notification senders and the video keeper, chosen from the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.config import Settings
from threshold.homes.models import Device
from threshold.notify.channels import LogSender
from threshold.notify.dispatch import Dispatcher, Policy
from threshold.notify.fanout import LinkPolicy
from threshold.notify.ports import Sender
from threshold.video.keeper import Feed, FileFacts, Keeper
from threshold.video.ports import CameraSource


def senders(settings: Settings) -> dict[str, Sender]:
    """Email over SMTP, SMS through Twilio or the SMTP server, and webhooks; logging where none is set."""
    from threshold.notify.email import SmtpSender
    from threshold.notify.sms import MailSms, SmsSender, TwilioSms
    from threshold.notify.webhooks import WebhookSender

    found: dict[str, Sender] = {"email": LogSender("email"), "sms": LogSender("sms"),
                                "webhook": WebhookSender(allowed=settings.webhook_allow_networks)}
    if settings.smtp_host:
        found["email"] = SmtpSender(settings.smtp_host, settings.smtp_port, settings.smtp_sender,
                                    settings.smtp_username, settings.smtp_password, settings.smtp_tls)
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        found["sms"] = SmsSender(TwilioSms(settings.twilio_base_url, settings.twilio_account_sid,
                                           settings.twilio_auth_token, settings.twilio_from))
    elif settings.sms_via_mail and settings.smtp_host:
        found["sms"] = SmsSender(MailSms(settings.smtp_host, settings.smtp_port))
    return found


def dispatcher(settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime],
               chosen: dict[str, Sender] | None = None) -> Dispatcher:
    """The outbox dispatcher the settings describe."""
    policy = Policy(batch=settings.outbox_batch, concurrency=settings.outbox_concurrency,
                    lease=timedelta(seconds=settings.outbox_lease), max_attempts=settings.outbox_max_attempts)
    link_policy = LinkPolicy(settings.secret_key, settings.public_url, timedelta(hours=settings.clip_link_hours))
    return Dispatcher(sessions, chosen or senders(settings), link_policy, clock, policy)


def source_for(settings: Settings, sim_url: str | None = None) -> Callable[[Device], CameraSource | None]:
    """Where each camera's video is read: its own stream URL, Home Assistant's stream, or the simulation."""
    sim_base = sim_url or settings.sim_camera_url

    def find(device: Device) -> CameraSource | None:
        if device.stream_url:
            return CameraSource(device.stream_url)
        if device.adapter == "homeassistant" and settings.ha_url:
            headers = {"Authorization": f"Bearer {settings.ha_token}"} if settings.ha_token else {}
            return CameraSource(f"{settings.ha_url.rstrip('/')}/api/camera_proxy_stream/{device.address}",
                                headers)
        if sim_base and device.adapter in ("simulated", "mqtt"):
            return CameraSource(f"{sim_base.rstrip('/')}/cam/{device.address}.mjpg")
        return None

    return find


def keeper(settings: Settings, sessions: async_sessionmaker[AsyncSession], feed: Feed,
           clock: Callable[[], datetime]) -> Keeper:
    """The recording keeper with ffmpeg as its recorder."""
    from threshold.video.ffmpeg import FfmpegRecorder
    from threshold.video.probe import probe, sha256_file

    async def inspect(path: Path) -> FileFacts:
        info: Any = await probe(path, ffprobe=settings.ffprobe)
        # Hashing a clip reads the whole file: off the event loop.
        digest = await asyncio.to_thread(sha256_file, path)
        return FileFacts(digest, info.duration, info.codec, path.stat().st_size)

    recorder = FfmpegRecorder(ffmpeg=settings.ffmpeg, fps=settings.video_fps)
    return Keeper(sessions, recorder, source_for(settings), inspect, feed, clock, Path(settings.clip_dir),
                  post_roll=settings.clip_post_roll)
