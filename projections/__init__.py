"""Read models: tracked projections of the event log into PostgreSQL tables."""
