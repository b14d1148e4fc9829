from . import frames_pb2 as _frames_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "api", "device", "torch_version", "emotions", "actors", "assets", "parameters", "colour_spaces", "default_colour", "max_chunk_bytes", "blend_methods", "compressions", "rpcs", "max_frame_pixels", "max_shot_frames", "read_roots", "render_modes", "tracking")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    API_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TORCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    EMOTIONS_FIELD_NUMBER: _ClassVar[int]
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    COLOUR_SPACES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_COLOUR_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    BLEND_METHODS_FIELD_NUMBER: _ClassVar[int]
    COMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    RPCS_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAME_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_SHOT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    READ_ROOTS_FIELD_NUMBER: _ClassVar[int]
    RENDER_MODES_FIELD_NUMBER: _ClassVar[int]
    TRACKING_FIELD_NUMBER: _ClassVar[int]
    version: str
    api: str
    device: str
    torch_version: str
    emotions: _containers.RepeatedScalarFieldContainer[str]
    actors: _containers.RepeatedCompositeFieldContainer[ActorInfo]
    assets: _containers.RepeatedCompositeFieldContainer[AssetInfo]
    parameters: _containers.RepeatedCompositeFieldContainer[ParameterInfo]
    colour_spaces: _containers.RepeatedScalarFieldContainer[str]
    default_colour: _frames_pb2.ColourSettings
    max_chunk_bytes: int
    blend_methods: _containers.RepeatedScalarFieldContainer[str]
    compressions: _containers.RepeatedScalarFieldContainer[str]
    rpcs: _containers.RepeatedCompositeFieldContainer[RpcInfo]
    max_frame_pixels: int
    max_shot_frames: int
    read_roots: _containers.RepeatedScalarFieldContainer[str]
    render_modes: _containers.RepeatedScalarFieldContainer[str]
    tracking: TrackingBackendInfo
    def __init__(self, version: _Optional[str] = ..., api: _Optional[str] = ..., device: _Optional[str] = ..., torch_version: _Optional[str] = ..., emotions: _Optional[_Iterable[str]] = ..., actors: _Optional[_Iterable[_Union[ActorInfo, _Mapping]]] = ..., assets: _Optional[_Iterable[_Union[AssetInfo, _Mapping]]] = ..., parameters: _Optional[_Iterable[_Union[ParameterInfo, _Mapping]]] = ..., colour_spaces: _Optional[_Iterable[str]] = ..., default_colour: _Optional[_Union[_frames_pb2.ColourSettings, _Mapping]] = ..., max_chunk_bytes: _Optional[int] = ..., blend_methods: _Optional[_Iterable[str]] = ..., compressions: _Optional[_Iterable[str]] = ..., rpcs: _Optional[_Iterable[_Union[RpcInfo, _Mapping]]] = ..., max_frame_pixels: _Optional[int] = ..., max_shot_frames: _Optional[int] = ..., read_roots: _Optional[_Iterable[str]] = ..., render_modes: _Optional[_Iterable[str]] = ..., tracking: _Optional[_Union[TrackingBackendInfo, _Mapping]] = ...) -> None: ...

class TrackingBackendInfo(_message.Message):
    __slots__ = ("landmarker", "landmarker_description", "landmarker_licence", "landmarker_note", "tracker", "tracker_licence", "detail")
    LANDMARKER_FIELD_NUMBER: _ClassVar[int]
    LANDMARKER_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LANDMARKER_LICENCE_FIELD_NUMBER: _ClassVar[int]
    LANDMARKER_NOTE_FIELD_NUMBER: _ClassVar[int]
    TRACKER_FIELD_NUMBER: _ClassVar[int]
    TRACKER_LICENCE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    landmarker: str
    landmarker_description: str
    landmarker_licence: str
    landmarker_note: str
    tracker: str
    tracker_licence: str
    detail: bool
    def __init__(self, landmarker: _Optional[str] = ..., landmarker_description: _Optional[str] = ..., landmarker_licence: _Optional[str] = ..., landmarker_note: _Optional[str] = ..., tracker: _Optional[str] = ..., tracker_licence: _Optional[str] = ..., detail: _Optional[bool] = ...) -> None: ...

class AssetInfo(_message.Message):
    __slots__ = ("name", "path", "found", "licence", "source", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    found: bool
    licence: str
    source: str
    description: str
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., found: _Optional[bool] = ..., licence: _Optional[str] = ..., source: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ParameterInfo(_message.Message):
    __slots__ = ("name", "minimum", "maximum", "default_value", "description", "animatable", "choices", "default_choice", "unit")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ANIMATABLE_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CHOICE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    minimum: float
    maximum: float
    default_value: float
    description: str
    animatable: bool
    choices: _containers.RepeatedScalarFieldContainer[str]
    default_choice: str
    unit: str
    def __init__(self, name: _Optional[str] = ..., minimum: _Optional[float] = ..., maximum: _Optional[float] = ..., default_value: _Optional[float] = ..., description: _Optional[str] = ..., animatable: _Optional[bool] = ..., choices: _Optional[_Iterable[str]] = ..., default_choice: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class RpcInfo(_message.Message):
    __slots__ = ("name", "available", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    available: bool
    reason: str
    def __init__(self, name: _Optional[str] = ..., available: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class FrameRange(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class FrameLandmarks(_message.Message):
    __slots__ = ("frame", "points")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    frame: int
    points: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, frame: _Optional[int] = ..., points: _Optional[_Iterable[float]] = ...) -> None: ...

class TrackRequest(_message.Message):
    __slots__ = ("settings", "chunk", "frame_path")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    FRAME_PATH_FIELD_NUMBER: _ClassVar[int]
    settings: TrackSettings
    chunk: _frames_pb2.FrameChunk
    frame_path: _frames_pb2.FramePath
    def __init__(self, settings: _Optional[_Union[TrackSettings, _Mapping]] = ..., chunk: _Optional[_Union[_frames_pb2.FrameChunk, _Mapping]] = ..., frame_path: _Optional[_Union[_frames_pb2.FramePath, _Mapping]] = ...) -> None: ...

class TrackSettings(_message.Message):
    __slots__ = ("shot_id", "colour", "face_id", "frame_count", "landmarks", "force")
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    COLOUR_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    shot_id: str
    colour: _frames_pb2.ColourSettings
    face_id: int
    frame_count: int
    landmarks: _containers.RepeatedCompositeFieldContainer[FrameLandmarks]
    force: bool
    def __init__(self, shot_id: _Optional[str] = ..., colour: _Optional[_Union[_frames_pb2.ColourSettings, _Mapping]] = ..., face_id: _Optional[int] = ..., frame_count: _Optional[int] = ..., landmarks: _Optional[_Iterable[_Union[FrameLandmarks, _Mapping]]] = ..., force: _Optional[bool] = ...) -> None: ...

class TrackReply(_message.Message):
    __slots__ = ("progress", "frame", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: _frames_pb2.Progress
    frame: FrameTrack
    summary: TrackSummary
    def __init__(self, progress: _Optional[_Union[_frames_pb2.Progress, _Mapping]] = ..., frame: _Optional[_Union[FrameTrack, _Mapping]] = ..., summary: _Optional[_Union[TrackSummary, _Mapping]] = ...) -> None: ...

class FrameTrack(_message.Message):
    __slots__ = ("frame", "tracked", "note", "face_id", "box", "landmarks", "expression", "shape", "pose", "camera", "pupils", "alignment", "blink", "fit_error")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    TRACKED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    POSE_FIELD_NUMBER: _ClassVar[int]
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    PUPILS_FIELD_NUMBER: _ClassVar[int]
    ALIGNMENT_FIELD_NUMBER: _ClassVar[int]
    BLINK_FIELD_NUMBER: _ClassVar[int]
    FIT_ERROR_FIELD_NUMBER: _ClassVar[int]
    frame: int
    tracked: bool
    note: str
    face_id: int
    box: _containers.RepeatedScalarFieldContainer[float]
    landmarks: _containers.RepeatedScalarFieldContainer[float]
    expression: _containers.RepeatedScalarFieldContainer[float]
    shape: _containers.RepeatedScalarFieldContainer[float]
    pose: _containers.RepeatedScalarFieldContainer[float]
    camera: _containers.RepeatedScalarFieldContainer[float]
    pupils: _containers.RepeatedScalarFieldContainer[float]
    alignment: _containers.RepeatedScalarFieldContainer[float]
    blink: float
    fit_error: float
    def __init__(self, frame: _Optional[int] = ..., tracked: _Optional[bool] = ..., note: _Optional[str] = ..., face_id: _Optional[int] = ..., box: _Optional[_Iterable[float]] = ..., landmarks: _Optional[_Iterable[float]] = ..., expression: _Optional[_Iterable[float]] = ..., shape: _Optional[_Iterable[float]] = ..., pose: _Optional[_Iterable[float]] = ..., camera: _Optional[_Iterable[float]] = ..., pupils: _Optional[_Iterable[float]] = ..., alignment: _Optional[_Iterable[float]] = ..., blink: _Optional[float] = ..., fit_error: _Optional[float] = ...) -> None: ...

class FaceInfo(_message.Message):
    __slots__ = ("face_id", "frames", "first_frame", "last_frame", "mean_size", "thumbnail_frame", "thumbnail_box")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    MEAN_SIZE_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_FRAME_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_BOX_FIELD_NUMBER: _ClassVar[int]
    face_id: int
    frames: int
    first_frame: int
    last_frame: int
    mean_size: float
    thumbnail_frame: int
    thumbnail_box: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, face_id: _Optional[int] = ..., frames: _Optional[int] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., mean_size: _Optional[float] = ..., thumbnail_frame: _Optional[int] = ..., thumbnail_box: _Optional[_Iterable[float]] = ...) -> None: ...

class TrackSummary(_message.Message):
    __slots__ = ("shot_id", "frame_count", "tracked_frames", "from_cache", "face_id", "faces", "display_window", "tracker", "landmarker")
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRACKED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_WINDOW_FIELD_NUMBER: _ClassVar[int]
    TRACKER_FIELD_NUMBER: _ClassVar[int]
    LANDMARKER_FIELD_NUMBER: _ClassVar[int]
    shot_id: str
    frame_count: int
    tracked_frames: int
    from_cache: bool
    face_id: int
    faces: _containers.RepeatedCompositeFieldContainer[FaceInfo]
    display_window: _frames_pb2.Window
    tracker: str
    landmarker: str
    def __init__(self, shot_id: _Optional[str] = ..., frame_count: _Optional[int] = ..., tracked_frames: _Optional[int] = ..., from_cache: _Optional[bool] = ..., face_id: _Optional[int] = ..., faces: _Optional[_Iterable[_Union[FaceInfo, _Mapping]]] = ..., display_window: _Optional[_Union[_frames_pb2.Window, _Mapping]] = ..., tracker: _Optional[str] = ..., landmarker: _Optional[str] = ...) -> None: ...

class ManipulateRequest(_message.Message):
    __slots__ = ("settings", "chunk", "frame_path")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    FRAME_PATH_FIELD_NUMBER: _ClassVar[int]
    settings: ManipulateSettings
    chunk: _frames_pb2.FrameChunk
    frame_path: _frames_pb2.FramePath
    def __init__(self, settings: _Optional[_Union[ManipulateSettings, _Mapping]] = ..., chunk: _Optional[_Union[_frames_pb2.FrameChunk, _Mapping]] = ..., frame_path: _Optional[_Union[_frames_pb2.FramePath, _Mapping]] = ...) -> None: ...

class EmotionKey(_message.Message):
    __slots__ = ("frame", "emotion", "mix", "intensity")
    class MixEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    FRAME_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    MIX_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_FIELD_NUMBER: _ClassVar[int]
    frame: int
    emotion: str
    mix: _containers.ScalarMap[str, float]
    intensity: float
    def __init__(self, frame: _Optional[int] = ..., emotion: _Optional[str] = ..., mix: _Optional[_Mapping[str, float]] = ..., intensity: _Optional[float] = ...) -> None: ...

class EmotionControl(_message.Message):
    __slots__ = ("emotion", "intensity", "mix", "keys", "reference_style", "seed", "speech_preservation")
    class MixEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_FIELD_NUMBER: _ClassVar[int]
    MIX_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_STYLE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SPEECH_PRESERVATION_FIELD_NUMBER: _ClassVar[int]
    emotion: str
    intensity: float
    mix: _containers.ScalarMap[str, float]
    keys: _containers.RepeatedCompositeFieldContainer[EmotionKey]
    reference_style: _containers.RepeatedScalarFieldContainer[float]
    seed: int
    speech_preservation: float
    def __init__(self, emotion: _Optional[str] = ..., intensity: _Optional[float] = ..., mix: _Optional[_Mapping[str, float]] = ..., keys: _Optional[_Iterable[_Union[EmotionKey, _Mapping]]] = ..., reference_style: _Optional[_Iterable[float]] = ..., seed: _Optional[int] = ..., speech_preservation: _Optional[float] = ...) -> None: ...

class BlendSettings(_message.Message):
    __slots__ = ("method", "levels", "erode", "feather")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    ERODE_FIELD_NUMBER: _ClassVar[int]
    FEATHER_FIELD_NUMBER: _ClassVar[int]
    method: str
    levels: int
    erode: float
    feather: float
    def __init__(self, method: _Optional[str] = ..., levels: _Optional[int] = ..., erode: _Optional[float] = ..., feather: _Optional[float] = ...) -> None: ...

class OutputSettings(_message.Message):
    __slots__ = ("compression", "pixel_type")
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    PIXEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    compression: str
    pixel_type: str
    def __init__(self, compression: _Optional[str] = ..., pixel_type: _Optional[str] = ...) -> None: ...

class ManipulateSettings(_message.Message):
    __slots__ = ("shot_id", "actor_id", "emotion", "blend", "colour", "range", "preroll", "output", "face_id", "frame_count", "render", "sliders", "output_frames")
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    BLEND_FIELD_NUMBER: _ClassVar[int]
    COLOUR_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    PREROLL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    RENDER_FIELD_NUMBER: _ClassVar[int]
    SLIDERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    shot_id: str
    actor_id: str
    emotion: EmotionControl
    blend: BlendSettings
    colour: _frames_pb2.ColourSettings
    range: FrameRange
    preroll: int
    output: OutputSettings
    face_id: int
    frame_count: int
    render: str
    sliders: _containers.RepeatedCompositeFieldContainer[SliderCurve]
    output_frames: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, shot_id: _Optional[str] = ..., actor_id: _Optional[str] = ..., emotion: _Optional[_Union[EmotionControl, _Mapping]] = ..., blend: _Optional[_Union[BlendSettings, _Mapping]] = ..., colour: _Optional[_Union[_frames_pb2.ColourSettings, _Mapping]] = ..., range: _Optional[_Union[FrameRange, _Mapping]] = ..., preroll: _Optional[int] = ..., output: _Optional[_Union[OutputSettings, _Mapping]] = ..., face_id: _Optional[int] = ..., frame_count: _Optional[int] = ..., render: _Optional[str] = ..., sliders: _Optional[_Iterable[_Union[SliderCurve, _Mapping]]] = ..., output_frames: _Optional[_Iterable[int]] = ...) -> None: ...

class SliderKey(_message.Message):
    __slots__ = ("frame", "value")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    frame: int
    value: float
    def __init__(self, frame: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...

class SliderCurve(_message.Message):
    __slots__ = ("name", "keys")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    keys: _containers.RepeatedCompositeFieldContainer[SliderKey]
    def __init__(self, name: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[SliderKey, _Mapping]]] = ...) -> None: ...

class PlateHeader(_message.Message):
    __slots__ = ("frame", "tracked", "note", "data_window", "display_window")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    TRACKED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    DATA_WINDOW_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_WINDOW_FIELD_NUMBER: _ClassVar[int]
    frame: int
    tracked: bool
    note: str
    data_window: _frames_pb2.Window
    display_window: _frames_pb2.Window
    def __init__(self, frame: _Optional[int] = ..., tracked: _Optional[bool] = ..., note: _Optional[str] = ..., data_window: _Optional[_Union[_frames_pb2.Window, _Mapping]] = ..., display_window: _Optional[_Union[_frames_pb2.Window, _Mapping]] = ...) -> None: ...

class ManipulateSummary(_message.Message):
    __slots__ = ("shot_id", "frames", "tracked_frames", "tracking_from_cache", "qc")
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    TRACKED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    TRACKING_FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    QC_FIELD_NUMBER: _ClassVar[int]
    shot_id: str
    frames: int
    tracked_frames: int
    tracking_from_cache: bool
    qc: QcReport
    def __init__(self, shot_id: _Optional[str] = ..., frames: _Optional[int] = ..., tracked_frames: _Optional[int] = ..., tracking_from_cache: _Optional[bool] = ..., qc: _Optional[_Union[QcReport, _Mapping]] = ...) -> None: ...

class QcCheck(_message.Message):
    __slots__ = ("name", "value", "threshold", "passed", "message")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    threshold: float
    passed: bool
    message: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., threshold: _Optional[float] = ..., passed: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class QcFrame(_message.Message):
    __slots__ = ("frame", "tracked", "fit_error_px", "fit_error", "confidence", "jaw_original", "jaw_edited", "expression_change", "flicker_plate", "flicker_original", "mouth_original", "mouth_edited")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    TRACKED_FIELD_NUMBER: _ClassVar[int]
    FIT_ERROR_PX_FIELD_NUMBER: _ClassVar[int]
    FIT_ERROR_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    JAW_ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    JAW_EDITED_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_CHANGE_FIELD_NUMBER: _ClassVar[int]
    FLICKER_PLATE_FIELD_NUMBER: _ClassVar[int]
    FLICKER_ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    MOUTH_ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    MOUTH_EDITED_FIELD_NUMBER: _ClassVar[int]
    frame: int
    tracked: bool
    fit_error_px: float
    fit_error: float
    confidence: float
    jaw_original: float
    jaw_edited: float
    expression_change: float
    flicker_plate: float
    flicker_original: float
    mouth_original: float
    mouth_edited: float
    def __init__(self, frame: _Optional[int] = ..., tracked: _Optional[bool] = ..., fit_error_px: _Optional[float] = ..., fit_error: _Optional[float] = ..., confidence: _Optional[float] = ..., jaw_original: _Optional[float] = ..., jaw_edited: _Optional[float] = ..., expression_change: _Optional[float] = ..., flicker_plate: _Optional[float] = ..., flicker_original: _Optional[float] = ..., mouth_original: _Optional[float] = ..., mouth_edited: _Optional[float] = ...) -> None: ...

class QcReport(_message.Message):
    __slots__ = ("status", "summary", "speech_correlation", "flicker_ratio", "checks", "frames")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SPEECH_CORRELATION_FIELD_NUMBER: _ClassVar[int]
    FLICKER_RATIO_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    status: str
    summary: str
    speech_correlation: float
    flicker_ratio: float
    checks: _containers.RepeatedCompositeFieldContainer[QcCheck]
    frames: _containers.RepeatedCompositeFieldContainer[QcFrame]
    def __init__(self, status: _Optional[str] = ..., summary: _Optional[str] = ..., speech_correlation: _Optional[float] = ..., flicker_ratio: _Optional[float] = ..., checks: _Optional[_Iterable[_Union[QcCheck, _Mapping]]] = ..., frames: _Optional[_Iterable[_Union[QcFrame, _Mapping]]] = ...) -> None: ...

class ManipulateReply(_message.Message):
    __slots__ = ("progress", "plate", "chunk", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PLATE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: _frames_pb2.Progress
    plate: PlateHeader
    chunk: _frames_pb2.FrameChunk
    summary: ManipulateSummary
    def __init__(self, progress: _Optional[_Union[_frames_pb2.Progress, _Mapping]] = ..., plate: _Optional[_Union[PlateHeader, _Mapping]] = ..., chunk: _Optional[_Union[_frames_pb2.FrameChunk, _Mapping]] = ..., summary: _Optional[_Union[ManipulateSummary, _Mapping]] = ...) -> None: ...

class ExtractStyleSettings(_message.Message):
    __slots__ = ("shot_id", "range", "colour", "face_id", "frame_count")
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    COLOUR_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    shot_id: str
    range: FrameRange
    colour: _frames_pb2.ColourSettings
    face_id: int
    frame_count: int
    def __init__(self, shot_id: _Optional[str] = ..., range: _Optional[_Union[FrameRange, _Mapping]] = ..., colour: _Optional[_Union[_frames_pb2.ColourSettings, _Mapping]] = ..., face_id: _Optional[int] = ..., frame_count: _Optional[int] = ...) -> None: ...

class ExtractStyleRequest(_message.Message):
    __slots__ = ("settings", "chunk", "frame_path")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    FRAME_PATH_FIELD_NUMBER: _ClassVar[int]
    settings: ExtractStyleSettings
    chunk: _frames_pb2.FrameChunk
    frame_path: _frames_pb2.FramePath
    def __init__(self, settings: _Optional[_Union[ExtractStyleSettings, _Mapping]] = ..., chunk: _Optional[_Union[_frames_pb2.FrameChunk, _Mapping]] = ..., frame_path: _Optional[_Union[_frames_pb2.FramePath, _Mapping]] = ...) -> None: ...

class ExtractStyleReply(_message.Message):
    __slots__ = ("style", "windows", "shot_id", "emotion_similarity")
    class EmotionSimilarityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STYLE_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    EMOTION_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    style: _containers.RepeatedScalarFieldContainer[float]
    windows: int
    shot_id: str
    emotion_similarity: _containers.ScalarMap[str, float]
    def __init__(self, style: _Optional[_Iterable[float]] = ..., windows: _Optional[int] = ..., shot_id: _Optional[str] = ..., emotion_similarity: _Optional[_Mapping[str, float]] = ...) -> None: ...

class JobInfo(_message.Message):
    __slots__ = ("job_id", "kind", "state", "actor_id", "created", "updated", "message", "done", "total")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: str
    state: JobState
    actor_id: str
    created: float
    updated: float
    message: str
    done: int
    total: int
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., actor_id: _Optional[str] = ..., created: _Optional[float] = ..., updated: _Optional[float] = ..., message: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("job", "progress", "losses", "sample_png")
    class LossesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    JOB_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_PNG_FIELD_NUMBER: _ClassVar[int]
    job: JobInfo
    progress: _frames_pb2.Progress
    losses: _containers.ScalarMap[str, float]
    sample_png: bytes
    def __init__(self, job: _Optional[_Union[JobInfo, _Mapping]] = ..., progress: _Optional[_Union[_frames_pb2.Progress, _Mapping]] = ..., losses: _Optional[_Mapping[str, float]] = ..., sample_png: _Optional[bytes] = ...) -> None: ...

class TrainActorRequest(_message.Message):
    __slots__ = ("actor_id", "shot_ids", "preset", "iterations", "init_from", "resume", "detach", "face_id")
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    SHOT_IDS_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    INIT_FROM_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    DETACH_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    actor_id: str
    shot_ids: _containers.RepeatedScalarFieldContainer[str]
    preset: str
    iterations: int
    init_from: str
    resume: bool
    detach: bool
    face_id: int
    def __init__(self, actor_id: _Optional[str] = ..., shot_ids: _Optional[_Iterable[str]] = ..., preset: _Optional[str] = ..., iterations: _Optional[int] = ..., init_from: _Optional[str] = ..., resume: _Optional[bool] = ..., detach: _Optional[bool] = ..., face_id: _Optional[int] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ActorInfo(_message.Message):
    __slots__ = ("actor_id", "ready", "iterations", "resolution", "preset", "shot_ids", "updated", "base")
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    SHOT_IDS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    actor_id: str
    ready: bool
    iterations: int
    resolution: int
    preset: str
    shot_ids: _containers.RepeatedScalarFieldContainer[str]
    updated: float
    base: str
    def __init__(self, actor_id: _Optional[str] = ..., ready: _Optional[bool] = ..., iterations: _Optional[int] = ..., resolution: _Optional[int] = ..., preset: _Optional[str] = ..., shot_ids: _Optional[_Iterable[str]] = ..., updated: _Optional[float] = ..., base: _Optional[str] = ...) -> None: ...

class ListActorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListActorsReply(_message.Message):
    __slots__ = ("actors",)
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    actors: _containers.RepeatedCompositeFieldContainer[ActorInfo]
    def __init__(self, actors: _Optional[_Iterable[_Union[ActorInfo, _Mapping]]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("active_only",)
    ACTIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    active_only: bool
    def __init__(self, active_only: _Optional[bool] = ...) -> None: ...

class ListJobsReply(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobInfo]
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobInfo, _Mapping]]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobReply(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: JobInfo
    def __init__(self, job: _Optional[_Union[JobInfo, _Mapping]] = ...) -> None: ...
