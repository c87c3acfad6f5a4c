"""The Kafka adapter: an idempotent producer with acks=all that delivers a batch of
records and returns only once the broker acknowledged every one of them (kafka-python 3),
and the topics the relay publishes to."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from workers.relay import CONTEXTS, TOPIC_PREFIX, Record

PARTITIONS = 6
ACK_TIMEOUT_SECONDS = 30.0


def relay_topics() -> list[str]:
    return sorted({f"{TOPIC_PREFIX}.{context}.events" for context in CONTEXTS.values()})


def ensure_topics(bootstrap: str, partitions: int | None = None,
                  replication_factor: int | None = None) -> None:
    """Create the relay topics that are missing: ``VISTONE_KAFKA_PARTITIONS`` (6) and
    ``VISTONE_KAFKA_REPLICATION`` (1; 3 on a real cluster, with min.insync.replicas=2
    so that acks=all means two copies)."""
    partitions = partitions or int(os.environ.get("VISTONE_KAFKA_PARTITIONS") or PARTITIONS)
    replication = replication_factor or int(os.environ.get("VISTONE_KAFKA_REPLICATION") or 1)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vistone-relay-admin")
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(t, num_partitions=partitions, replication_factor=replication)
                   for t in relay_topics() if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another relay made them
                admin.create_topics(missing)
    finally:
        admin.close()


def topics_are_empty(bootstrap: str) -> bool:
    """Whether no relay topic holds a record, ever (end offsets never go back, even when
    retention deletes records): a new broker. Missing topics are created."""
    ensure_topics(bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="vistone-relay-check",
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for topic in relay_topics()
                      for p in (consumer.partitions_for_topic(topic) or ())]
        return not any(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


class KafkaSender:
    """The relay's broker (``workers.relay.Broker``) on a Kafka cluster."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.producer = self._producer()

    def _producer(self) -> KafkaProducer:
        # The idempotent producer: a retried send is not written twice, and order per
        # partition holds across retries.
        # On a new, empty broker a send fails (the broker does not know this idempotent
        # producer, and no send creates a missing topic); the relay then looks at the
        # broker and publishes again what consumers need (Relay.check_broker) instead of
        # carrying on past what the broker lost.
        return KafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                             enable_idempotence=True, client_id="vistone-relay", linger_ms=5,
                             allow_auto_create_topics=False, max_block_ms=10_000)

    def reset(self) -> None:
        with contextlib.suppress(Exception):
            self.producer.close(timeout=5)
        self.producer = self._producer()

    def is_empty(self) -> bool:
        return topics_are_empty(self.bootstrap)

    def send(self, records: Sequence[Record]) -> None:
        futures = [self.producer.send(r.topic, key=r.key, value=r.value, headers=r.headers)
                   for r in records]
        self.producer.flush(timeout=ACK_TIMEOUT_SECONDS)
        for future in futures:
            future.get(timeout=ACK_TIMEOUT_SECONDS)  # raises the broker's error, if any

    def close(self) -> None:
        self.producer.close(timeout=5)
