"""Tone cues read from what a side said (lower-cased words): the one home of the word lists that the scripted
collector, the scripted debtor and the heuristic judge listen for.

Each cue is a core that every listener shares, and, where a listener hears more, its extra words under a
name that says who listens: the scripted debtor reacts to more kinds of pressure than the judge penalises.
"""

from __future__ import annotations

import re

_EMPATHY = r"understand|sorry|hear you|must be (?:hard|difficult)|appreciate|take your time"
_TRUST = r"help you|on your side|works for you"
_THREAT = r"legal|court|lawsuit|credit record|credit report|bailiff"

# an angry or insulted debtor (the scripted collector calms it; the judge expects an answer to it)
ANGER = re.compile(r"!|harass|ridiculous|unbelievable|threaten|who do you think|complaint|terrible|joke")
# a debtor putting the payment off (the scripted collector presses for a date)
EVASION = re.compile(r"not sure|maybe|some other time|next week|soon|in a few days|i promise|think about it")
# a collector asking about the debtor's means (the scripted debtor may answer with a disclosure)
MEANS_QUESTION = re.compile(r"income|expenses|afford|situation|what happened|budget|savings|paid")
# a collector stating the facts of the debt (the judge's transparency)
FACTS = re.compile(r"\d|overdue|outstanding|interest")

# what softens the scripted debtor: empathy, an offer to work it out together, and threats that raise its fear
DEBTOR_HEARS_EMPATHY = re.compile(_EMPATHY + r"|no judg")
DEBTOR_HEARS_TRUST = re.compile(_TRUST + r"|work (?:this out )?together|find a (?:way|solution|plan)")
DEBTOR_HEARS_THREAT = re.compile(_THREAT + r"|consequences|escalat|collections agency")

# what the heuristic judge rewards (respect and empathy) and penalises (legal threats)
JUDGE_SEES_EMPATHY = re.compile(_EMPATHY + r"|calmly|that must")
JUDGE_SEES_TRUST = re.compile(_TRUST + r"|together|a plan you can|find a way")
JUDGE_SEES_THREAT = re.compile(_THREAT)
