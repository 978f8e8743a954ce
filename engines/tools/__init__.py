"""Operator console tools: cps-dlq, cps-feeder, cps-tail, cps-alarms (one module each)."""
