"""One streamer = one crewai Agent built from its persona; one round = one Task built from its Observation.

Why the prompt is this compact: the default model is a 135M-parameter model on 2 CPU cores, where every
prompt token costs time (~21 tokens/s generation, docs/facts.md) and a long context blurs the instruction. Why
trend titles sit in a fenced block with a note: they come from the outside world (a title may say "ignore
your instructions ..."); the model is told they are data, and whatever it does anyway still has to pass the
tools' clamps.
"""

from __future__ import annotations

from crewai import Agent, Crew, Process, Task

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


ASK_WITH_OPTIONS = "Take the options that win viewers (take_options), or make the one call you think wins more."
ASK = "Pick the one call that wins the most viewers."


def build_task(obs: Observation, agent: Agent, survival_motive: str | None = None, brief: bool = False) -> Task:
    """The round as text, then the question; with options on the table it names the tool that takes them."""
    specialise(list(agent.tools or []), obs)  # argument enums/bounds of this round (topics, ids, limits)
    offered = any(getattr(t, "name", "") == "take_options" for t in agent.tools or [])
    return Task(
        description=render_observation(obs, survival_motive, brief) + "\n" + (ASK_WITH_OPTIONS if offered else ASK),
        expected_output="One short line saying what you changed.",
        agent=agent,
    )


def build_crew(agent: Agent, task: Task) -> Crew:
    return Crew(
        agents=[agent],
        tasks=[task],
        process=Process.sequential,
        memory=False,
        verbose=False,
        cache=False,
        tracing=False,
    )
