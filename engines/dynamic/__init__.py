"""The legacy `dynamic` engine: behaviour from an amqp2engines.conf section's dotted paths."""
