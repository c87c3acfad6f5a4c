"""Analytics computed from the log on Kafka: KPIs and member performance (docs/kafka.md)."""
