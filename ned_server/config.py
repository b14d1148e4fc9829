"""The server's settings: one typed place with defaults, filled from the command line and env.

Each pipeline stage owns a small dataclass of its own settings (in its sub-package's config.py);
ServerConfig composes them (``tracking``, ``manipulator``, ``composite``) beside the server's own,
and is built once, by the CLI or a test, then handed down: no stage builds a default of its own
behind the server's back. Per-request values (emotion, intensity, blend...) are not here: their
ranges and defaults are the one parameter table, ``ned_plugin.parameters``. Environment variables
exist for what a farm wrapper or a container sets once (NED_TOKEN, NED_STORE, NED_MODELS,
NED_DEVICE).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ned_server.composite.config import CompositeConfig
from ned_server.manipulator.config import InferenceConfig
from ned_server.runtime.limits import LimitsConfig
from ned_server.tracking.config import TrackingConfig

DEFAULT_PORT = 50551
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _default_store() -> Path:
    return Path(os.environ.get("NED_STORE") or Path.home() / ".local" / "share" / "ned" / "store")


def _default_models() -> Path:
    env = os.environ.get("NED_MODELS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "models"


def resolve_device(name: str) -> str:
    """"auto" picks the first CUDA device when torch sees one, else the CPU."""
    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda:0"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = field(default_factory=lambda: os.environ.get("NED_TOKEN") or None)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Health checks usually come from load balancers that hold no token; reflection lists the API,
    # which is worth protecting.
    auth_health: bool = False
    auth_reflection: bool = True
    store_dir: Path = field(default_factory=_default_store)
    models_dir: Path = field(default_factory=_default_models)
    device: str = field(default_factory=lambda: os.environ.get("NED_DEVICE", "auto"))
    workers: int = 16
    # torch's CPU threads for the pipeline; 0 keeps torch's default (one per core). Small networks
    # on a busy CPU often run fastest on one.
    torch_threads: int = 0
    shutdown_grace_s: float = 30.0
    resume_interrupted_jobs: bool = True
    # Iterations between TrainActor checkpoints (what a killed server can lose at most); None keeps
    # the preset's (100 for tiny, 500 for paper). A server setting, not a wire field: it trades disk
    # writes against lost work on this machine, which is the operator's call, not the artist's.
    checkpoint_every: int | None = None
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    # The stages' own settings. ``tracking.detection.models_dir`` follows ``models_dir`` (see
    # __post_init__). The manipulator's defaults differ from the library's in one place: the jaw
    # floor is 0 (closed) on the server, since an unseen actor's style pushed the jaw below closed
    # and tore the lips; ``keep_details`` (``--keep-details``) is the paper's output when False.
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    manipulator: InferenceConfig = field(default_factory=lambda: InferenceConfig(jaw_floor=0.0))
    composite: CompositeConfig = field(default_factory=CompositeConfig)
    # Folders under which the server reads plates in place when a client names them by path (the
    # farm case: shared storage); empty, the default, means every frame's bytes are streamed.
    read_roots: tuple[Path, ...] = ()
    # A token sent in clear text can be sniffed: off loopback it needs TLS unless this says otherwise
    # (a private network the operator trusts).
    allow_insecure_token: bool = False

    def __post_init__(self) -> None:
        self.models_dir = Path(self.models_dir)
        self.store_dir = Path(self.store_dir)
        if self.tracking.detection.models_dir is None:
            self.tracking.detection.models_dir = self.models_dir

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """Only an address that is loopback by itself counts: a host name such as "127.example.com"
        resolves to whatever its DNS says, so it needs a token like any other address."""
        if self.host in LOOPBACK_HOSTS:
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def validate(self) -> None:
        """Refuse settings that would expose the server or cannot work, before anything binds."""
        if not self.is_loopback and not self.token:
            raise ValueError(
                f"refusing to listen on {self.host}: a non-loopback address needs a token "
                "(--token-file FILE or NED_TOKEN); the default 127.0.0.1 needs none"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both --tls-cert and --tls-key")
        if not self.is_loopback and self.tls_cert is None and not self.allow_insecure_token:
            raise ValueError(
                f"refusing to listen on {self.host} without TLS: the token would cross the network in clear "
                "text; give --tls-cert and --tls-key, or --allow-insecure-token on a network you trust"
            )
        for root in self.read_roots:
            if not Path(root).is_dir():
                raise ValueError(f"--read-root {root}: not a folder on this server")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"TLS file not found: {path}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.limits.device_slots < 1 or self.limits.max_waiting < 0:
            raise ValueError("device_slots must be >= 1 and max_waiting >= 0")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1 iteration, got {self.checkpoint_every}")
