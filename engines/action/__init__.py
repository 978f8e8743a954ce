"""engine-action: action scenarios (`action_scenario`) run on alarm changes."""
