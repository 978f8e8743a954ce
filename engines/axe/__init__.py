"""engine-axe: alarms opened, updated and resolved from events (reference §5).

`lifecycle` is the alarm state machine (`apply_event`), `status` the status computation,
`rules` the resolve and flapping rules and the beat's decisions; all three are pure.
"""
