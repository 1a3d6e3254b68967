"""Importing `crews` first switches crewai/litellm network features off (the litellm cost-map download above
all) before any test module here imports litellm itself."""

import crews  # noqa: F401
