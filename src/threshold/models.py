"""Every table, imported in one place so that Alembic and the tests see the whole schema."""

from threshold.access.models import EntrySession, Grant, Incident
from threshold.audit.models import AuditHead, AuditRecord
from threshold.db import Base
from threshold.deliveries.models import ApiKey, Carrier, Delivery, Driver, IdempotentRequest, Package, Partner
from threshold.homes.models import Device, EntryPoint, Home, HomeRules, Household, Member, PartnerAuthorization
from threshold.limits import LoginFailure
from threshold.notify.models import Notification, NotificationPreference, OutboxMessage, WebhookEndpoint
from threshold.ops.models import Operator
from threshold.planning.models import RoutePlan, Station, StationDay, StationStock, WindowBooking
from threshold.video.models import Clip
from threshold.web.models import WebSession

__all__ = [
    "ApiKey",
    "AuditHead",
    "AuditRecord",
    "Base",
    "Carrier",
    "Clip",
    "Delivery",
    "Device",
    "Driver",
    "EntryPoint",
    "EntrySession",
    "Grant",
    "Home",
    "HomeRules",
    "Household",
    "IdempotentRequest",
    "Incident",
    "LoginFailure",
    "Member",
    "Notification",
    "NotificationPreference",
    "Operator",
    "OutboxMessage",
    "Package",
    "Partner",
    "PartnerAuthorization",
    "RoutePlan",
    "Station",
    "StationDay",
    "StationStock",
    "WebSession",
    "WebhookEndpoint",
    "WindowBooking",
]
