"""Pure domain model: aggregates, their events and rules. No I/O lives here."""
