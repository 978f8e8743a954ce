"""engine-che: entity context, event filter and perf data of events (reference §4, §6.6)."""
