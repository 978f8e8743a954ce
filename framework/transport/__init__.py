"""The broker behind one interface: RabbitMQ sessions, partitioned queues, the in-memory broker,
queue and header names."""
