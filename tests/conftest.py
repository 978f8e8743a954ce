"""Fixtures of the integration and fault tiers: a real RabbitMQ, engines as processes, an AMQP client,
a MongoDB and an InfluxDB database per test (tests/fixtures/, one module each).

Unit tests request none of these, so they run without services. A test of the other tiers asks
for `engines` (engine processes), `amqp` (a client that publishes and collects), `names`
(queue and engine names unique to the test, deleted at the end), `events` (its events),
`mongo_db`, `chain_factory` (che + axe on it) or `influx`.
"""

pytest_plugins = [
    "fixtures.common",
    "fixtures.broker",
    "fixtures.processes",
    "fixtures.amqp_client",
    "fixtures.mongo",
    "fixtures.influx",
]
