"""The arena's chat room without a season: what a streamer is shown, what counts as answering, and the
audience's `chat` term (answered viewers stay a little longer; an ignored busy chat earns nothing)."""

from __future__ import annotations

from agents.persona import Persona
from arena.chat_config import ChatSection
from arena.chat_room import ChatRoom
from arena.roster import LiveStreamer
from media.settings import GeneratorLimits, StreamSettings
from policies.decide import DecisionOutcome
from tests.arena.test_audience import TICKS, make, view
from tools.control import ActionRecord, StreamControl
from tools.observation import Observation


def _streamer(slot: str, sid: int) -> LiveStreamer:
    control = StreamControl(slot, StreamSettings(prompt="misty lake"), GeneratorLimits())
    return LiveStreamer(sid, slot, f"Streamer {slot}", Persona(seed="a calm painter of lakes"), control, 0)


def _obs(slot: str) -> Observation:
    return Observation(
        stream_id=slot,
        name=slot,
        round=2,
        rounds_total=3,
        rounds_to_relegation=0,
        persona_summary="",
        topic_demand={"ocean": 5},
    )


def test_shown_chat_answered_and_ignored():
    room = ChatRoom(ChatSection(shown=4), seed=1)
    a, b, c = _streamer("s01", 1), _streamer("s02", 2), _streamer("s03", 3)
    for i in range(6):  # a busy chat on s01 and s02, nothing on s03
        room.board.post("s01", f"v{i}", f"hello {i}", source="sim")
        room.board.post("s02", f"v{i}", f"hello {i}", source="sim")
    room.board.post("s01", "ann", "!style Ocean", source="web")
    rows, events = room.drain(1, 1, [a, b, c])
    assert len(rows) == 13 and [k for k, _ in events].count("style_request") == 1
    obs = room.observe({s.slot: _obs(s.slot) for s in (a, b, c)})
    assert [m.text for m in obs["s01"].chat] == ["hello 3", "hello 4", "hello 5", "Ocean"]  # the last `shown`
    assert obs["s01"].style_requests[0].topic == "ocean"  # resolved against the topics choose_prompt takes
    assert obs["s03"].chat == [] and obs["s03"].style_requests == []
    a.control.update(prompt="ocean, calm lake colours")
    room.after_decisions(
        [a, b, c],
        [
            DecisionOutcome(
                "s01",
                True,
                0.1,
                actions=[
                    ActionRecord("choose_prompt", {"topic": "ocean"}, "ok", True),
                    ActionRecord("speak", {"text": "hi all"}, "ok", True),
                    ActionRecord("speak", {"text": "ocean coming up"}, "ok", True),
                ],
            ),
            DecisionOutcome("s02", True, 0.1, actions=[]),  # ignores its busy chat
            DecisionOutcome("s03", True, 0.1, actions=[ActionRecord("speak", {"text": "anyone?"}, "ok", True)]),
        ],
    )
    assert room.answered == {"s01": 1.0, "s02": 0.0, "s03": 0.0}  # talking to an empty chat earns nothing
    assert room.said["s01"] == "ocean coming up"
    _, events = room.drain(2, 1, [a, b, c])
    approved = [p for k, p in events if k == "style_approved"]
    assert approved and approved[0]["by"] == "agent" and approved[0]["slot"] == "s01"


def test_answered_chat_keeps_a_few_more_viewers_modestly():
    aud, topics = make(size=10000, w_social=0.0)
    answered = view("answered", topics[0])
    answered.chat_answered = 1.0
    ra = [aud.step_round([answered, view("ignored", topics[0])], TICKS) for _ in range(2)][-1]
    assert ra.terms["answered"]["chat"] > 0 and ra.terms["ignored"]["chat"] == 0
    gain = ra.ern["answered"]["mean"] / ra.ern["ignored"]["mean"]
    aud2, _ = make(size=10000, w_social=0.0)
    ra2 = [aud2.step_round([view("novel", topics[0], novelty=1.0), view("plain", topics[0])], TICKS) for _ in range(2)][
        -1
    ]
    assert 1.0 < gain < ra2.ern["novel"]["mean"] / ra2.ern["plain"]["mean"]  # real, but below novelty's pull
