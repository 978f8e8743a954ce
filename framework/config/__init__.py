"""Configuration: settings from flags, CPS_* variables and files, and the amqp2engines.conf chain file."""
