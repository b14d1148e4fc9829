"""Settings of the 3D face analysis stage, with the defaults the Track RPC and `ned track` use.

Each group is its own small dataclass so a caller (or a test) changes one knob without restating
the others. Units are stated per field; time constants are in Hz at ``fps`` because the One-Euro
filter is defined in those terms, and positions are filtered in face-size units (landmarks divided
by the face's size) so that the same settings suit a 128 px thumbnail and a 4K plate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DetectionConfig:
    """Face detection and landmarks (face-alignment's S3FD + 2D FAN, or dlib offline: landmarkers.py)."""

    # Folder searched first for the face-alignment weights (as <models>/torch_hub/checkpoints/...),
    # before $TORCH_HOME/hub/checkpoints and ~/.cache/torch/hub/checkpoints. None: only those two.
    models_dir: Path | None = None
    # S3FD detections below this confidence are ignored.
    detector_threshold: float = 0.5
    # FAN sees the face crop and its mirror image and averages them (face-alignment's flip_input):
    # steadier landmarks for twice the network time.
    flip_input: bool = True
    # Which landmarker Track uses: "auto" (FAN when its weights are on the server, else dlib),
    # "fan" or "dlib" (an error when that one is unavailable).
    backend: str = "auto"
    # dlib's HOG detector: plates whose shorter side is under ``dlib_upsample_below`` pixels are
    # searched upsampled ``dlib_upsample`` times (its window finds faces of ~80 px and more), and
    # detections scoring under ``dlib_threshold`` (SVM margin) are dropped.
    dlib_upsample: int = 1
    dlib_upsample_below: int = 400
    dlib_threshold: float = 0.2


@dataclass
class IdentityConfig:
    """Following several faces through a shot as separate identities."""

    # A detection continues a face when its box overlaps the face's last box by at least this IoU...
    min_iou: float = 0.2
    # ...or, on fast motion, when its centre is within this fraction of the face's size.
    max_centre_jump: float = 0.5
    # A face missing for more frames than this is closed; a later detection starts a new identity.
    max_gap: int = 12
    # Faces seen in fewer frames than this are treated as spurious detections (unless nothing else
    # was found): they are listed but never chosen by default.
    min_frames: int = 3


@dataclass
class SmoothingConfig:
    """Zero-lag temporal smoothing: a One-Euro filter run forwards and backwards, outputs averaged.

    The One-Euro filter lowers its cut-off when the signal is still (jitter removed) and raises it
    with speed (fast motion followed). Run in both directions, the opposite lags cancel: the whole
    shot is available offline, so no causal lag needs to be accepted. It smooths the track's 2D
    outputs (landmarks, boxes, pupils, the alignment); the FLAME fit has its own temporal priors
    (FitConfig) and sees the landmarks unsmoothed.
    """

    fps: float = 25.0
    # Cut-off (Hz) when still; lower = smoother.
    min_cutoff: float = 1.0
    # How fast the cut-off rises with speed (per face-size/second).
    beta: float = 10.0
    # Cut-off (Hz) of the speed estimate that drives the adaptation.
    derivative_cutoff: float = 2.0
    # Frames missing for at most this many frames are bridged by the filter (the gap itself stays
    # untracked); longer gaps restart it.
    max_bridge: int = 0
    # The track's face boxes: a Savitzky-Golay filter over time (the paper's smoothing of the
    # detector's boxes), window in frames (odd; shortened to fit a shorter run) and polynomial order.
    box_window: int = 49
    box_polyorder: int = 2


@dataclass
class FitConfig:
    """FLAME fitting to the landmarks of the whole shot at once."""

    # Most Levenberg-Marquardt steps of the full fit (it stops earlier once converged, usually after
    # fewer than ten).
    iterations: int = 50
    # Coarse stage first: only rigid pose and camera, so the expression does not absorb head motion.
    rigid_iterations: int = 30
    # A stage stops once an accepted step lowers the loss by less than this fraction. On real
    # landmarks the last tenth of a percent is the contour sliding along the silhouette, which costs
    # twenty steps and moves no landmark by a visible amount (a 354-frame clip: 38 steps at 1e-5,
    # loss 0.07 % lower than at 1e-4).
    convergence_gain: float = 1e-4
    # Number of FLAME identity coefficients optimised (the rest stay 0).
    n_shape: int = 100
    # Priors: squared L2 on the coefficients (FLAME scales them to unit variance), relative to the
    # data term in percent of the face. A coefficient whose unit value moves the landmarks less than
    # sqrt(prior) % of the face is held near 0: with the expression's 0.05, anything subtler than
    # about 0.22 % (a third of a pixel on a 150 px face) is treated as detector noise, not expression.
    shape_prior: float = 2e-3
    expression_prior: float = 0.05
    jaw_prior: float = 1e-2
    # Temporal smoothness: squared second differences over time, per frame, in about the data's units
    # ("% of the face moved", see fitting.py). This is the only smoothing the fit sees: it is given the
    # landmarks as detected (SmoothingConfig smooths the 2D outputs), so that head motion, speech and
    # expression are each smoothed as what they are. The jaw opening's is low (speech opens and closes
    # it in two or three frames); the expression's is high, or the components the landmarks barely see
    # wander from frame to frame (a two-frame blink loses a little depth).
    expression_smoothness: float = 2.0
    jaw_smoothness: float = 0.05
    pose_smoothness: float = 2.0
    camera_smoothness: float = 2.0
    # Landmark weights by region (iBUG-68 groups); contour points move along the silhouette and are
    # the least reliable, mouth and eyes carry the expression.
    weight_contour: float = 0.3
    weight_brows: float = 1.0
    weight_nose: float = 1.0
    weight_eyes: float = 2.0
    weight_mouth: float = 2.0
    # A frame whose fitted landmarks miss the observed ones by more than this fraction of the
    # inter-ocular distance on average (occlusion, a profile the landmarker got wrong) is untracked.
    max_error_iod: float = 0.15
    # Before the fit, a frame whose landmarks miss the face template by more than this many
    # inter-ocular distances on average (after the best similarity) is untracked: no face has them.
    max_template_residual: float = 0.35
    # A frame with more than this fraction of its landmarks outside the plate (a face leaving the
    # frame) is untracked.
    max_outside_fraction: float = 0.2
    # Initialise from DECA's encoder when a checkpoint is given (deca_model.tar, official layout).
    deca_checkpoint: Path | None = None
    # Allow a full (pickle) load of the DECA file when a tensors-only load fails. Only for a file
    # you trust: unpickling can run code.
    deca_allow_pickle: bool = False


@dataclass
class EyesConfig:
    """Pupils from the darkest pixels inside each eye contour; blinks from the eyelid aperture."""

    # Fraction of the eye region's pixels (the darkest) that take part in the pupil's mass centre.
    dark_fraction: float = 0.1
    # The eye contour is shrunk towards its centre by this fraction before the pupil is looked for,
    # leaving out the lash lines and the lids' shadows (as dark as the iris) along the landmarks.
    lid_margin: float = 0.25
    # The eye region is resampled so the eye is this many pixels wide, for sub-pixel precision on
    # small plates.
    eye_width_px: int = 40
    # The shot's open-eye aperture is this percentile of the per-frame apertures.
    open_percentile: float = 90.0
    # Aperture (relative to open) at or below which the eye counts as fully closed.
    closed_ratio: float = 0.15


@dataclass
class AlignmentConfig:
    """Similarity alignment of each frame to the face template (see template.py)."""

    crop_size: int = 256
    # Relative weight of the brow points in the Procrustes fit (eye corners and nose weigh 1);
    # brows move with expression, so they only steady the fit a little.
    brow_weight: float = 0.25


@dataclass
class TrackingConfig:
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    eyes: EyesConfig = field(default_factory=EyesConfig)
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)

    @property
    def crop_size(self) -> int:
        return self.alignment.crop_size
