"""Where a face picker's thumbnails come from: Track names each face's largest box, the host crops it."""

from __future__ import annotations

import numpy as np

from ned_plugin.exr import Frame, Window, encode_exr
from ned_plugin.face_thumbnails import face_thumbnails
from ned_plugin.wire import pb
from ned_server.tracking.detection import FaceDetection
from ned_server.tracking.identities import FaceSummary, FaceTrack
from ned_server.tracking.result import ShotTrack


def test_each_face_names_the_frame_of_its_largest_box_and_the_track_file_keeps_it(tmp_path) -> None:
    face = FaceTrack(id=3)
    for index, size in enumerate((10.0, 30.0, 20.0)):
        face.detections[index] = FaceDetection(box=np.array([5, 5, 5 + size, 5 + size], np.float32),
                                               landmarks=np.zeros((68, 2), np.float32))
    summary = face.summary([1001, 1002, 1003])
    assert (summary.thumbnail_frame, summary.thumbnail_box) == (1002, (5.0, 5.0, 35.0, 35.0))
    rng = np.random.default_rng(0)
    n = 3
    track = ShotTrack(frames=np.arange(1001, 1004), tracked=np.ones(n, bool), notes=[""] * n, face_id=3,
                      faces=[summary, FaceSummary(4, 1, 1003, 1003, 9.0)], boxes=rng.random((n, 4)),
                      landmarks=rng.random((n, 68, 2)), shape=rng.random(100), expression=rng.random((n, 50)),
                      pose=rng.random((n, 15)), camera=rng.random((n, 3)), expression51=rng.random((n, 51)),
                      pupils=rng.random((n, 2, 2)), blink=rng.random(n), alignment=rng.random((n, 2, 3)),
                      frame_size=(64, 48))
    back = ShotTrack.load(track.save(tmp_path / "track.npz"))
    assert back.faces[0] == summary
    assert back.faces[1].thumbnail_frame == -1 and back.faces[1].thumbnail_box == ()  # none known: none sent
    # a track file written before thumbnails existed still loads
    arrays = dict(np.load(tmp_path / "track.npz"))
    del arrays["face_thumbnail_frame"], arrays["face_thumbnail_box"]
    np.savez(tmp_path / "old.npz", **arrays)
    assert ShotTrack.load(tmp_path / "old.npz").faces[0].thumbnail_frame == -1


def test_the_host_crops_each_face_from_its_own_plate(tmp_path) -> None:
    import OpenImageIO as oiio

    pixels = np.zeros((48, 64, 4), np.float32)
    pixels[..., 3] = 1
    pixels[4:20, 4:20, 0] = 1.0  # a red face on the left, a green one on the right
    pixels[10:40, 30:60, 1] = 0.5
    window = Window(0, 0, 64, 48)
    plate = tmp_path / "plate.1002.exr"
    plate.write_bytes(encode_exr(Frame(pixels, ("R", "G", "B", "A"), window, window)))
    faces = [pb.FaceInfo(face_id=0, thumbnail_frame=1002, thumbnail_box=[4, 4, 20, 20]),
             pb.FaceInfo(face_id=1, thumbnail_frame=1002, thumbnail_box=[30, 10, 60, 40]),
             pb.FaceInfo(face_id=2, thumbnail_frame=999, thumbnail_box=[0, 0, 4, 4]),  # frame not here
             pb.FaceInfo(face_id=3)]  # an older server: no box
    out = face_thumbnails(faces, {1002: plate}, tmp_path / "faces", size=32)
    assert sorted(out) == [0, 1]
    red = oiio.ImageBuf(str(out[0])).get_pixels(oiio.UINT8)
    green = oiio.ImageBuf(str(out[1])).get_pixels(oiio.UINT8)
    assert red.shape[2] == 3 and max(red.shape[:2]) == 32
    assert red[16, 16, 0] == 255 and red[16, 16, 1] == 0  # linear 1.0 shown as sRGB white-red
    assert green[16, 16, 1] > 150 and green[16, 16, 0] == 0  # linear 0.5 is brighter than 128 in sRGB
    assert red[0, 0].max() == 0  # the margin around the box: the plate's black
