"""A report handler for adapter tests: keeps every DeviceReport it is given, in order."""

from __future__ import annotations

from threshold.devices.ports import DeviceReport


class Reports:
    """Everything a gateway reported, in order."""

    def __init__(self) -> None:
        self.items: list[DeviceReport] = []

    async def __call__(self, report: DeviceReport) -> None:
        self.items.append(report)

    def of(self, address: str, since: int = 0) -> list[DeviceReport]:
        """The reports about one device, from position `since` on."""
        return [r for r in self.items[since:] if r.address == address]

    def states(self, address: str, since: int = 0) -> list[str]:
        """The states one device reported, from position `since` on."""
        return [r.state for r in self.of(address, since) if r.state is not None]

    def state(self, address: str, since: int = 0) -> str | None:
        """The latest state reported for a device."""
        states = self.states(address, since)
        return states[-1] if states else None
