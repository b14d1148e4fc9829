"""Face sliders in the NED_Director: a keyed slider reaches Preview frame (one frame from the cached
track) as the curve's value at that frame, so a slider change is seen in seconds before a Render.

Same set-up as tests/test_nodes_nuke_polish.py (the fake `nuke`, the fake NED server over gRPC).
"""

from __future__ import annotations

import importlib

import pytest

from tests.test_nodes_nuke import finish, make_director, press  # puts the fake `nuke` on sys.path
from tests.test_nodes_nuke_polish import fake, script, track  # noqa: F401  (fixtures)

nuke = importlib.import_module("nuke")  # the fake, importable once the imports above ran


def test_a_slider_change_previews_through_preview_frame(fake, script) -> None:  # noqa: F811
    node = make_director(fake, script)
    press(node, "connect")
    track(node)
    node["slider_smile"].setValueAt(0.0, 1001)
    node["slider_smile"].setValueAt(0.8, 1005)
    node["slider_gaze_horizontal"].setValue(-6.0)
    nuke.frame(1003)
    press(node, "preview")
    finish(node)
    assert nuke.messages == [], nuke.messages
    sent = fake.recorded.manipulate_settings[-1]
    assert (sent.range.first, sent.range.last) == (1003, 1003)
    curves = {c.name: [(k.frame, k.value) for k in c.keys] for c in sent.sliders}
    assert curves["gaze_horizontal"] == [(1003, pytest.approx(-6.0))]
    [(frame, value)] = curves["smile"]  # the keyed curve, sampled at the previewed frame
    assert frame == 1003 and 0.0 < value < 0.8
