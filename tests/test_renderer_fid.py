"""FID (renderer.fid) on hand-made feature sets; the optional feature network says why it is absent."""

from __future__ import annotations

import numpy as np
import pytest

from ned_server.renderer.fid import face_feature_extractor, frechet_distance


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Same covariance, mean moved by (1, 2, 2): the distance is |d|^2 = 9.
    assert frechet_distance(a, a + np.array([1.0, 2.0, 2.0])) == pytest.approx(9.0, rel=1e-6)
    # Same mean, one axis scaled by 2: (1 + 4 - 2 * 2) = 1 from that axis.
    b = a * np.array([2.0, 1.0, 1.0])
    assert frechet_distance(a, b) == pytest.approx(1.0, rel=0.05)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(a, a[:, :2])
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance(a[:1], a)


def test_the_face_feature_network_is_found_or_named_as_missing():
    extract, description = face_feature_extractor()
    if extract is None:
        assert "not installed" in description
    else:
        faces = np.random.default_rng(1).random((2, 64, 64, 3)).astype(np.float32)
        assert extract(faces).shape == (2, 128) and "dlib" in description
