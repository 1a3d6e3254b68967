"""OpenAI-style function tools for the embedded-model tests, built in one place (each test file offers its own
argument bounds, not its own copy of the tool dict)."""

from __future__ import annotations

from typing import Any


def function_tool(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """`{"type": "function", "function": {...}}` with every property required."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": list(properties)},
        },
    }


def tune_tool(**properties: dict[str, Any]) -> dict[str, Any]:
    return function_tool("tune_generator", "Change the diffusion settings of your stream.", properties)


def choose_tool(**properties: dict[str, Any]) -> dict[str, Any]:
    return function_tool("choose_prompt", "Pick the scene prompt of your stream.", properties)
