"""The event filter (`eventfilter` collection): load rules once, apply them to each event (§4.3).

Pure: `load_rules` (rules.py) turns documents into an ordered RuleSet, `apply_rules` (apply.py)
returns the changed copies of the event and entity with the outcome, over the field views of
views.py; the engine reads the collection and saves.
"""

from engines.che.eventfilter.apply import FilterResult, apply_rules
from engines.che.eventfilter.rules import Outcome, Rule, RuleSet, RuleType, load_rules

__all__ = ["FilterResult", "Outcome", "Rule", "RuleSet", "RuleType", "apply_rules", "load_rules"]
