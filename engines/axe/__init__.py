"""engine-axe: alarms opened, updated and resolved from events (reference §5).

`lifecycle` is the alarm state machine (`apply_event`), `pbh_events` what pbehavior events do to
an alarm, `alarm_status` the status computation, `rules` the resolve and flapping rules and the
beat's decisions; all four are pure.
"""
