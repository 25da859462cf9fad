"""Planning: delivery windows a station can still promise, and the routes that keep those promises."""
