"""engine-perfdata: the perf data of check events as InfluxDB 1.x points."""
