"""Framework-free decision code: the Policy interface, the baselines (hold, random, greedy) and the concurrent
decision runner. The CrewAI policy lives in `crews/`, above this package."""
