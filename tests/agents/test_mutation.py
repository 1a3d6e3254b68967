import numpy as np

from agents.mutation import mutate_persona, mutate_traits, unique_name
from agents.persona import Persona, Traits


def test_unique_name_league_suffixes():
    assert unique_name("Moss", set()) == "Moss"
    assert unique_name("Moss", {"Moss"}) == "Moss II"
    assert unique_name("Moss II", {"Moss", "Moss II"}) == "Moss III"
    assert unique_name("Moss", {"Moss", "Moss II", "Moss III"}) == "Moss IV"


def test_mutated_traits_follow_pbt_and_stay_in_range():
    rng = np.random.default_rng(0)
    base = Traits(boldness=0.5, trend_following=0.5, patience=0.5, quality_focus=0.5)
    hows = []
    for _ in range(200):
        t, changes = mutate_traits(base, rng)
        for c in changes:
            hows.append(c["how"])
            assert 0.0 <= c["new"] <= 1.0
            if c["how"] == "x0.8":
                assert abs(c["new"] - 0.4) < 1e-9
            if c["how"] == "x1.2":
                assert abs(c["new"] - 0.6) < 1e-9
    share = hows.count("resample") / len(hows)
    assert 0.18 < share < 0.32  # Ray Tune's resample probability 0.25


def test_mutate_persona_logs_and_renames():
    p = Persona(seed="a quiet monk", name="Moss")
    child, changes = mutate_persona(p, np.random.default_rng(1), {"Moss"})
    assert child.name == "Moss II"
    assert {c["field"] for c in changes} >= {"name", "traits.boldness"}
