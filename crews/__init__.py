"""CrewAI streamers. Importing the package first switches crewai/litellm network features off
(telemetry, tracing, the litellm price-map download): see `crews.llm_config`."""

from crews.llm_config import quiet_network_env as _quiet

_quiet()
