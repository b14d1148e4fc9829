"""Thumbnails of the faces Track found, cropped by the host from its own plate, for a face picker.

Track's summary names each face with the frame where its box is largest and that box
(FaceInfo.thumbnail_frame/thumbnail_box); the host already has that frame on disk, so no pixels
travel back. The crop (with a margin), resize and the display encoding are OpenImageIO's; a
thumbnail is only a picture to recognise someone by, so OIIO's built-in linear -> sRGB is enough.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .wire import pb

SIZE = 64  # pixels, the longer side
MARGIN = 0.2  # of the box size, on every side


def face_thumbnails(faces: Sequence[pb.FaceInfo], frames: Mapping[int, Path], folder: Path,
                    size: int = SIZE) -> dict[int, Path]:
    """face id -> a PNG thumbnail in ``folder``, for the faces whose frame is among ``frames``.

    Faces without a thumbnail box (an older server), or whose frame file cannot be read, are left
    out: the picker then shows the face's id and frame count alone.
    """
    import OpenImageIO as oiio

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[int, Path] = {}
    for face in faces:
        path = frames.get(int(face.thumbnail_frame))
        if len(face.thumbnail_box) != 4 or path is None:
            continue
        source = oiio.ImageBuf(str(path))
        if source.has_error:
            continue
        x0, y0, x1, y1 = face.thumbnail_box
        pad = MARGIN * max(x1 - x0, y1 - y0)
        spec = source.spec()
        full = oiio.ROI(spec.full_x, spec.full_x + spec.full_width, spec.full_y, spec.full_y + spec.full_height)
        roi = oiio.ROI(max(int(x0 - pad), full.xbegin), min(int(x1 + pad) + 1, full.xend),
                       max(int(y0 - pad), full.ybegin), min(int(y1 + pad) + 1, full.yend), 0, 1, 0, 3)
        if roi.width <= 0 or roi.height <= 0:
            continue
        crop = oiio.ImageBufAlgo.channels(oiio.ImageBufAlgo.cut(source, roi), (0, 1, 2))  # a picture: no alpha
        scale = size / max(roi.width, roi.height)
        w, h = max(1, round(roi.width * scale)), max(1, round(roi.height * scale))
        small = oiio.ImageBufAlgo.resize(crop, roi=oiio.ROI(0, w, 0, h, 0, 1, 0, 3))
        shown = oiio.ImageBufAlgo.colorconvert(small, "linear", "sRGB")
        if shown.has_error:  # an OIIO without colour management: the linear picture still identifies
            shown = small
        target = folder / f"face_{int(face.face_id)}.png"
        shown.set_write_format(oiio.UINT8)
        if shown.write(str(target)):
            out[int(face.face_id)] = target
    return out
