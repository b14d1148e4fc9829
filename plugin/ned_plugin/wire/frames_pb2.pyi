from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class FrameChunk(_message.Message):
    __slots__ = ("frame", "index", "count", "total_size", "crc32", "data")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    CRC32_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    frame: int
    index: int
    count: int
    total_size: int
    crc32: int
    data: bytes
    def __init__(self, frame: _Optional[int] = ..., index: _Optional[int] = ..., count: _Optional[int] = ..., total_size: _Optional[int] = ..., crc32: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Window(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    width: int
    height: int
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ColourSettings(_message.Message):
    __slots__ = ("config", "input_space")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    INPUT_SPACE_FIELD_NUMBER: _ClassVar[int]
    config: str
    input_space: str
    def __init__(self, config: _Optional[str] = ..., input_space: _Optional[str] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "done", "total", "message", "job_id", "eta_seconds")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    done: int
    total: int
    message: str
    job_id: str
    eta_seconds: float
    def __init__(self, stage: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., message: _Optional[str] = ..., job_id: _Optional[str] = ..., eta_seconds: _Optional[float] = ...) -> None: ...

class FramePath(_message.Message):
    __slots__ = ("frame", "path", "size", "mtime_ns", "crc32")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    CRC32_FIELD_NUMBER: _ClassVar[int]
    frame: int
    path: str
    size: int
    mtime_ns: int
    crc32: int
    def __init__(self, frame: _Optional[int] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., mtime_ns: _Optional[int] = ..., crc32: _Optional[int] = ...) -> None: ...
