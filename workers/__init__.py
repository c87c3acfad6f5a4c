"""Background workers. The projection worker is `vistone worker` (projections/runner.py);
the Kafka relay and analytics consumers will live here."""
