"""The databases an engine declares it uses (MongoDB, InfluxDB), opened and checked before it
starts, their errors mapped in one place each."""
