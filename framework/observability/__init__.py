"""Watching a running engine: systemd's READY/STATUS/WATCHDOG, Prometheus, run-info documents,
throughput metrics, logs."""
