"""One streamer = one crewai Agent built from its persona; one round = one Task built from its Observation.

Why the prompt is this compact: the default model is a 135M-parameter model on 2 CPU cores, where every
prompt token costs time (~21 tokens/s generation, docs/facts.md) and a long context blurs the instruction. Why
trend titles sit in a fenced block with a note: they come from the outside world (a title may say "ignore
your instructions ..."); the model is told they are data, and whatever it does anyway still has to pass the
tools' clamps.
"""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.utilities.task_output_storage_handler import TaskOutputStorageHandler
from pydantic import PrivateAttr

from common.untrusted import clean_text
from crews.crew_tools import StreamTool, specialise
from crews.observation_text import render_observation
from crews.recording import RecordingLLM
from tools.observation import Observation

TRAIT_WORDS = {  # trait -> what it means for a streamer, said only when the trait is strong (>= 0.65)
    "quality_focus": "you care about a sharp, detailed picture more than frame rate",
    "trend_following": "you chase what is trending",
    "boldness": "you make big changes",
    "patience": "you keep a plan for several rounds before changing it",
}


def trait_sentence(traits: dict[str, float]) -> str:
    """Strong traits as words in the system prompt, so a persona's traits shape how its agent decides."""
    said = [w for t, w in TRAIT_WORDS.items() if traits.get(t, 0.5) >= 0.65]
    return ("As a streamer " + "; ".join(said) + ".") if said else ""


def agent_role(name: str, character: str | None) -> str:
    return clean_text(f"{name}, {character}" if character else name, 300)


def build_agent(
    name: str,
    character: str | None,
    goals: list[str],
    survival_motive: str | None,
    backstory: str | None,
    llm: RecordingLLM,
    tools: list[StreamTool],
    max_iter: int,
    traits: dict[str, float] | None = None,
    visual_style: str | None = None,
) -> Agent:
    goal = "; ".join(goals) if goals else "hold the audience"
    if survival_motive:
        goal = f"{goal}. {survival_motive}"
    story = " ".join(
        x
        for x in (
            backstory or "a streamer",
            f"Your visual style: {visual_style}." if visual_style else "",
            trait_sentence(traits or {}),
        )
        if x
    )
    return Agent(
        role=agent_role(name, character),
        goal=clean_text(goal, 600),
        backstory=clean_text(story, 1200),  # the role already holds the character
        llm=llm,
        tools=list(tools),
        max_iter=max_iter,
        allow_delegation=False,
        memory=False,
        verbose=False,
        cache=False,  # a cached tool result would skip `act`: the call would not be applied or recorded
        respect_context_window=True,
    )


ASK = "Take the options that win viewers (take_options), or make the one call you think wins more."
# The brief text's question: take_options' description says the rest. Shorter ones ("Take options, or make one
# better call.") made SmolLM2 take only the first of two options (tests/crews/test_llm_decides_on_the_numbers.py).
BRIEF_ASK = "Take the options that win viewers, or make one better call."


def build_task(obs: Observation, agent: Agent, survival_motive: str | None = None, brief: bool = False) -> Task:
    """The round as text, then the question, which names the tool that takes the options (there is always one)."""
    specialise(list(agent.tools or []), obs)  # argument enums/bounds of this round (topics, ids, limits)
    return Task(
        description=render_observation(obs, survival_motive, brief) + "\n" + (BRIEF_ASK if brief else ASK),
        expected_output="One short line saying what you changed.",
        agent=agent,
    )


class _TaskOutputs:
    """crewai's task-output log (kept for its `crewai replay` command) held in memory for one crew."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, task: Task, output: dict[str, Any], task_index: int, was_replayed: bool, inputs: dict) -> None:
        self.rows.append({"task_index": task_index, "output": output, "was_replayed": was_replayed})

    def update(self, task_index: int, **fields: Any) -> None:
        self.rows = [{**r, **fields} if r["task_index"] == task_index else r for r in self.rows]

    def delete_all(self) -> None:
        self.rows.clear()

    def load(self) -> list[dict[str, Any]]:
        return list(self.rows)


class _InMemoryTaskOutputs(TaskOutputStorageHandler):
    """Why: crewai's default handler opens one SQLite file in the user's data folder for every Crew, under a
    file lock polled with sleeps; six concurrent decisions spent ~0.18 s each waiting on it (cProfile of
    bench/agents.py: 1.8 s per round of sleep), wrote every decision's messages there, and a crew's reset
    cleared the others' rows. The arena records its calls itself (crews.recording), so this log stays in memory."""

    def __init__(self) -> None:  # noqa: D107 - no file, no lock
        self.storage = _TaskOutputs()  # type: ignore[assignment]


class ArenaCrew(Crew):
    """A crewai Crew whose task-output log lives in memory (`_InMemoryTaskOutputs`)."""

    _task_output_handler: TaskOutputStorageHandler = PrivateAttr(default_factory=_InMemoryTaskOutputs)


def build_crew(agent: Agent, task: Task) -> Crew:
    return ArenaCrew(
        agents=[agent],
        tasks=[task],
        process=Process.sequential,
        memory=False,
        verbose=False,
        cache=False,
        tracing=False,
    )
