"""LLM completion and mutation of personas: two small answers (identity, then story) validated for shape, menu
and coherence; an invalid answer is asked again with the reason, then the reported fallback; unique names.
The model is a plain function here (unit tests of the persona code); one test goes through the real crewai LLM
path with a scripted litellm provider."""

from __future__ import annotations

import json

from agents.llm_persona import complete_with_llm, mutate_with_llm
from agents.persona import Persona
from agents.scenes import CHARACTERS, ranked

RAIN = "a melancholic poet who streams rain running down a window"
SENTENCE = "The story of a poet who has been stuck in the window."


def menu(response_format, key):
    prop = response_format["json_schema"]["schema"]["properties"][key]
    return (prop.get("items") or prop)["enum"]


def identity(**over):
    """An identity answer that picks from the offered menus (the first entries) unless told otherwise."""

    def answer(rf):
        out = {
            "name": "Wren Vale",
            "traits": menu(rf, "traits")[:2],
            "scene": menu(rf, "scene")[0],
            "palette": menu(rf, "palette")[0],
            "detail": "a flickering lamp",
        }
        return out | over

    return answer


def story(**over):
    def answer(rf):
        out = {
            "backstory": "Lost a library job and now reads poems to the storm at night.",
            "voice": menu(rf, "voice")[0],
            "goals": menu(rf, "goals")[:1],
            "survival_motive": menu(rf, "survival_motive")[0],
        }
        return out | over

    return answer


IDENTITY, STORY = identity(), story()
W = ranked(CHARACTERS, RAIN, n=8)[:2]  # the character words IDENTITY picks for the rain poet
PARROT = story(backstory=f"{W[0].capitalize()} and {W[1]}, so {W[1]}.")  # the character again


def scripted(identities, stories):
    """A model that answers each schema from its own list (the last answer repeats; a callable answers from the
    request's response format, to pick from its menus); `seen` holds the calls."""
    seen = []

    def complete(messages, response_format):
        seen.append((messages, response_format))
        kind = response_format["json_schema"]["name"]
        answers = identities if kind == "identity" else stories
        k = sum(1 for _, rf in seen if rf["json_schema"]["name"] == kind) - 1
        out = answers[min(k, len(answers) - 1)]
        if isinstance(out, Exception):
            raise out
        out = out(response_format) if callable(out) else out
        return out if isinstance(out, str) else json.dumps(out)

    complete.seen = seen
    return complete


def test_a_persona_is_written_in_two_answers_with_a_renderable_style():
    llm = scripted([IDENTITY], [STORY])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set())
    p, (rf1, rf2) = res.persona, [rf for _, rf in llm.seen]
    assert res.ok and res.attempts == 2 and p.is_complete() and not res.errors
    # the scene menu is ranked by the seed: the rain poet is offered rain first, and the style is a scene prompt
    assert menu(rf1, "scene")[0] in ("rain on glass", "rain running down a window")
    assert p.visual_style == f"{menu(rf1, 'scene')[0]}, {menu(rf1, 'palette')[0]}, a flickering lamp"
    assert p.scene_prompt() == p.visual_style
    w = menu(rf1, "traits")
    assert p.character == f"{w[0].capitalize()} and {w[1]}."
    assert p.voice == menu(rf2, "voice")[0] and p.survival_motive == menu(rf2, "survival_motive")[0]
    # the story is asked knowing the identity; no schema description the model could copy is sent
    assert "Wren Vale" in llm.seen[1][0][-1]["content"]
    assert "description" not in json.dumps(rf1) + json.dumps(rf2)


def test_given_fields_are_kept_and_names_stay_unique():
    seed = Persona(seed=RAIN, character="Silent type who hums.")
    res = complete_with_llm(seed, scripted([IDENTITY], [STORY]), taken={"Wren Vale"})
    assert res.ok and res.persona.character == "Silent type who hums." and res.persona.name == "Wren Vale II"
    assert "character" not in {c["field"] for c in res.changes}


def test_a_sentence_repeated_across_fields_is_refused_and_asked_again_with_the_reason():
    """The backstory copies the character: the model is told which fields repeat and tries again."""
    llm = scripted([IDENTITY], [PARROT, STORY])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set())
    assert res.ok and res.attempts == 3 and res.persona.backstory.startswith("Lost a library job")
    assert "repeat" in res.errors[0]
    retry = llm.seen[2][0]
    assert "invalid" in retry[-1]["content"] and "character = backstory" in retry[-1]["content"]


def test_a_backstory_that_copies_the_name_is_asked_again_with_the_words_to_avoid_and_the_question():
    """The retry names the repeated pair, the copied words and asks the story's question again; its answer is
    the one used."""
    llm = scripted([IDENTITY], [story(backstory="Wren Vale, the Wren Vale."), STORY])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set())
    assert res.ok and res.attempts == 3 and res.persona.backstory.startswith("Lost a library job")
    retry = llm.seen[2][0][-1]["content"]
    assert "name = backstory" in retry and "must not use the words: wren, vale" in retry
    assert retry.endswith("What happened to Wren Vale before streaming?")


def test_a_backstory_that_copies_the_style_names_the_style_words():
    style = complete_with_llm(Persona(seed=RAIN), scripted([IDENTITY], [STORY]), taken=set()).persona.visual_style
    llm = scripted([IDENTITY], [story(backstory=f"{style[0].upper()}{style[1:].replace(',', '')}."), STORY])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set())
    assert res.ok and res.attempts == 3 and "backstory = visual_style" in res.errors[0]
    assert "must not use the words: rain, running, down, window" in res.errors[0]


def test_the_grammar_asks_for_one_sentence_that_starts_with_a_life_event():
    """What the grammar admits (an opener, lower-case words, one period at the end) validates; a backstory in
    several sentences, the shape the small model copied the prompt in, does not."""
    import re

    import pytest
    from pydantic import ValidationError

    from agents.persona_schema import STORY_OPENERS, STORY_PATTERN, Story, parse, response_format

    menus = {"voice": ["soft"], "goals": ["win"], "survival_motive": ["rent"]}
    prop = response_format(Story, menus)["json_schema"]["schema"]["properties"]["backstory"]
    assert prop == {"type": "string", "pattern": STORY_PATTERN}  # no length bounds next to the pattern
    answer = {"voice": "soft", "goals": ["win"], "survival_motive": "rent"}
    for opener in STORY_OPENERS:
        text = f"{opener} by the sea for ten years, then the storm came."
        assert re.fullmatch(STORY_PATTERN, text)
        assert parse(Story, json.dumps(answer | {"backstory": text}), menus).backstory == text
    assert not re.fullmatch(STORY_PATTERN, "The Storm was a long time ago.")
    with pytest.raises(ValidationError):
        parse(Story, json.dumps(answer | {"backstory": "The Storm. Character. Restless and shy."}), menus)


def test_a_story_asked_again_must_start_with_an_opener_it_has_not_tried():
    from agents.persona_schema import story_pattern

    copy = story(backstory=f"Lost in {W[0]} and {W[1]} days.")  # the character again, from "Lost"
    llm = scripted([IDENTITY], [copy, STORY])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set())
    first, again = (rf["json_schema"]["schema"]["properties"]["backstory"]["pattern"] for _, rf in llm.seen[1:])
    assert res.ok and first == story_pattern() and "Lost" not in again and "Worked" in again


def test_a_copy_after_its_own_clauses_is_cut_at_a_comma_when_every_answer_repeated():
    """The model's own first clause is kept (it passes every check and reads as a sentence) rather than the
    offline fallback; the repair is reported."""
    runs_on = story(backstory=f"Spent years on the reef by the harbour, {W[0]} and {W[1]}, so {W[1]}.")
    llm = scripted([IDENTITY], [runs_on])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set(), retries=1)
    assert res.ok and res.attempts == 3 and res.persona.backstory == "Spent years on the reef by the harbour."
    assert "repeat" in res.errors[0] and res.errors[-1].startswith("Story repaired")


def test_a_repair_never_keeps_a_copy_or_a_fragment():
    from agents.story_repair import clause_prefixes

    assert clause_prefixes("Lived in, the rain running down a window.") == []  # "Lived in." is no sentence
    assert clause_prefixes("Worked on snowy mountains, grey and silver, gale.") == [
        "Worked on snowy mountains, grey and silver.",
        "Worked on snowy mountains.",
    ]
    copy = story(backstory=f"{W[0].capitalize()} and {W[1]} and {W[0]}, {W[1]}, so {W[1]}.")
    res = complete_with_llm(Persona(seed=RAIN), scripted([IDENTITY], [copy]), taken=set(), retries=1)
    assert not res.ok  # each clause prefix still repeats the character: the offline fallback, as before
    assert not any(e.startswith("Story repaired") for e in res.errors)


def test_a_character_word_picked_twice_is_kept_once_and_one_word_alone_is_asked_again_without_it():
    """Three picks of two words: the repeat is dropped. One word three times: refused, and the retry's menu
    no longer offers that word (the small model picked it again in every answer)."""
    twice = identity(traits=[W[0], W[1], W[0]])
    res = complete_with_llm(Persona(seed=RAIN), scripted([twice], [STORY]), taken=set())
    assert res.ok and res.attempts == 2 and res.persona.character == f"{W[0].capitalize()} and {W[1]}."
    llm = scripted([identity(traits=[W[0]] * 3), IDENTITY], [STORY])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set())
    assert res.ok and "character words must differ" in res.errors[0]
    assert W[0] in menu(llm.seen[0][1], "traits") and W[0] not in menu(llm.seen[1][1], "traits")


def test_story_choices_that_would_repeat_the_name_are_not_offered():
    """The name "The Wave" and the goal "ride every trending wave" repeat each other; a story retry cannot rename, so
    such a goal is left off the story's menu."""
    from agents.persona_checks import repeated_fields

    llm = scripted([identity(name="The Wave")], [STORY])
    res = complete_with_llm(Persona(seed="a surfer who streams waves on every trending wave"), llm, taken=set())
    goals = menu(llm.seen[1][1], "goals")
    assert res.ok and "ride every trending wave" not in goals and goals
    assert not any(repeated_fields({"name": "The Wave", "goals": [g]}) for g in goals)


def test_a_backstory_cut_at_the_grammars_length_cap_ends_at_its_last_whole_clause():
    capped = "Grew up in a small town in the mountains, where snow falls on the mountains, and the people are a mix of."
    res = complete_with_llm(Persona(seed=RAIN), scripted([IDENTITY], [story(backstory=capped)]), taken=set())
    assert (
        res.ok
        and res.persona.backstory == "Grew up in a small town in the mountains, where snow falls on the mountains."
    )
    whole = "Grew up in a small coastal town, where the sea was a part of the town."  # under the cap: as written
    res = complete_with_llm(Persona(seed=RAIN), scripted([IDENTITY], [story(backstory=whole)]), taken=set())
    assert res.ok and res.persona.backstory == whole


def test_a_model_that_keeps_repeating_falls_back_offline_and_says_so():
    llm = scripted([IDENTITY], [PARROT])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set(), retries=1)
    assert not res.ok and res.attempts == 3 and len(res.errors) == 2
    # the fallback keeps the identity the model did write, the rest is the offline completion
    assert res.persona.name == "Wren Vale" and res.persona.visual_style.startswith("rain")
    assert res.persona.is_complete()


def test_a_name_that_repeats_the_character_is_refused():
    same = identity(name=f"The {W[1].capitalize()} {W[0].capitalize()}", traits=W)
    llm = scripted([same, IDENTITY], [STORY])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set())
    assert res.ok and res.persona.name == "Wren Vale" and "name must not repeat" in res.errors[0]


def test_a_scene_off_the_menu_a_sentence_as_name_or_an_identifier_is_refused():
    off_menu = identity(scene=SENTENCE)
    llm = scripted(
        [off_menu, identity(name="Calm, gentle, speaks rarely and warmly."), identity(name="The_Tempest_1989")],
        [STORY],
    )
    res = complete_with_llm(Persona(seed=RAIN), llm, taken={"Rain"}, retries=2)
    assert not res.ok and res.attempts == 3
    assert "offered choices" in res.errors[0] and "name" in res.errors[1] and "name" in res.errors[2]


def test_transport_errors_are_retried_then_fall_back():
    llm = scripted([RuntimeError("model offline"), IDENTITY], [STORY])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set(), retries=1)
    assert res.ok and "model offline" in res.errors[0]
    res = complete_with_llm(Persona(seed=RAIN), scripted([RuntimeError("down")], [STORY]), taken=set(), retries=1)
    assert not res.ok and res.persona == Persona(seed=RAIN).complete_offline()


PARENT = Persona(
    seed="a retired lighthouse keeper who streams storms over the sea",
    name="Old Beacon",
    character="gruff, patient, secretly delighted",
    backstory="Forty years on a rock in the North Atlantic.",
    visual_style="stormy sea at night, deep blue and white",
    voice="gruff and short",
    goals=["keep a loyal crowd through quiet rounds"],
    survival_motive="the viewers who stay pay the rent",
)


def test_mutation_changes_the_look_and_goals_not_only_the_name():
    llm = scripted([identity(name="Storm Wren", detail="")], [STORY])
    res = mutate_with_llm(PARENT, llm, taken={"Old Beacon"})
    rf1, rf2 = [rf for _, rf in llm.seen]
    assert res.ok and res.persona.seed == PARENT.seed and res.persona.traits == PARENT.traits
    assert res.persona.visual_style == f"{menu(rf1, 'scene')[0]}, {menu(rf1, 'palette')[0]}"
    changed = {c["field"] for c in res.changes}
    assert {"name", "visual_style", "goals", "character", "survival_motive"} <= changed
    # the menus left out what the parent already had
    assert "stormy sea at night" not in menu(rf1, "scene") and "deep blue and white" not in menu(rf1, "palette")
    assert not {"gruff", "patient"} & set(menu(rf1, "traits"))
    assert PARENT.goals[0] not in menu(rf2, "goals")


def test_a_mutation_that_only_renames_is_refused_and_the_parent_kept():
    rename_only = {
        "name": "Calm",
        "traits": ["gruff", "patient"],
        "scene": "stormy sea at night",
        "palette": "deep blue and white",
        "detail": "",
    }
    same_story = {
        "backstory": PARENT.backstory,
        "voice": PARENT.voice,
        "goals": PARENT.goals,
        "survival_motive": PARENT.survival_motive,
    }
    res = mutate_with_llm(PARENT, scripted([rename_only], [same_story]), taken=set(), retries=1)
    assert not res.ok and res.persona == PARENT and len(res.errors) == 2


def test_the_rename_only_check_holds_when_the_menus_cannot_help():
    """A parent whose style is off the menu: a child with new name, same character and goals, is still refused
    when its style is the parent's (only reachable if the model repeats it)."""
    from agents.persona_checks import STYLE_FIELDS, changed_fields

    old = {"name": "Old Beacon", "visual_style": "a", "goals": ["x y z"], "character": "gruff and kind"}
    assert changed_fields(old, dict(old, name="Calm"), STYLE_FIELDS) == []
    assert changed_fields(old, dict(old, goals=["win more"]), STYLE_FIELDS) == ["goals"]


def test_through_crewai_llm_with_a_scripted_provider():
    from crews.llm_config import LLMSection
    from crews.llm_policy import LLMPolicy
    from tests.crews.scripted import install

    def script(messages, tools, meta):
        answer = STORY if "before streaming" in messages[-1]["content"] else IDENTITY
        return json.dumps(answer(handler.requests[-1]["response_format"]))

    handler = install(script)
    pol = LLMPolicy(LLMSection(model="scripted/test"))
    res = complete_with_llm(Persona(seed=RAIN), pol.completer("spawn0", 0, "persona"), taken=set())
    assert res.ok and res.persona.visual_style.startswith("rain")
    assert handler.requests[0]["response_format"]["type"] == "json_schema"
    recs = pol.drain_records()
    assert [r["purpose"] for r in recs] == ["persona", "persona"] and recs[0]["actor"] == "spawn0"
    assert json.loads(recs[1]["response"])["backstory"] == res.persona.backstory


def test_a_detail_that_repeats_the_palette_is_dropped_from_the_style():
    from agents.scenes import compose_style

    assert (
        compose_style("desert sunset", "red gold and green", "Red gold and green")
        == "desert sunset, red gold and green"
    )


def test_a_goal_picked_twice_is_kept_once_without_asking_again():
    def twice(rf):
        return STORY(rf) | {"goals": [menu(rf, "goals")[0]] * 2}

    llm = scripted([IDENTITY], [twice])
    res = complete_with_llm(Persona(seed=RAIN), llm, taken=set())
    assert res.ok and res.attempts == 2 and len(res.persona.goals) == 1
