"""Every table, imported in one place so that Alembic and the tests see the whole schema."""

from threshold.access.models import EntrySession, Grant, Incident
from threshold.audit.models import AuditHead, AuditRecord
from threshold.db import Base
from threshold.deliveries.models import ApiKey, Carrier, Delivery, Driver, IdempotentRequest, Package, Partner
from threshold.homes.models import Device, EntryPoint, Home, HomeRules, Household, Member
from threshold.notify.models import OutboxMessage

__all__ = [
    "ApiKey", "AuditHead", "AuditRecord", "Base", "Carrier", "Delivery", "Device", "Driver", "EntryPoint",
    "EntrySession", "Grant", "Home", "HomeRules", "Household", "IdempotentRequest", "Incident", "Member",
    "OutboxMessage", "Package", "Partner",
]
