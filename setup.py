"""NED for VFX: host-side client runtime (default install) and the GPU server (`.[server]`)."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
VERSION = "0.1.0"

CLIENT_REQUIRES = [
    "grpcio>=1.60",
    "protobuf>=6.31",
    "numpy>=1.24",
    "openimageio>=2.5",
    "opencolorio>=2.2",
]
SERVER_REQUIRES = [
    # Users bring their own CUDA build of torch; any 2.x from 2.1 works.
    "torch>=2.1,<3",
    "opencv-python-headless>=4.8",
    "face-alignment>=1.4",
    "moderngl>=5.8",
    "grpcio-health-checking>=1.60",
    "grpcio-reflection>=1.60",
    "scipy>=1.10",
    "tqdm>=4.60",
    "matplotlib>=3.7",
    "psutil>=5.9",
]
TEST_REQUIRES = [
    "pytest>=7.4",
    "hypothesis>=6.80",
    "ruff>=0.5",
    "grpcio-tools>=1.60",
]

setup(
    name="ned-vfx",
    version=VERSION,
    description="Neural Emotion Director for compositing hosts: gRPC client runtime, host nodes and GPU server",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[
        "ned_plugin",
        "ned_plugin.wire",
        "ned_shaders",
    ]
    + [
        ".".join(p.relative_to(HERE).parts)
        for p in sorted(HERE.joinpath("ned_server").rglob("__init__.py"))
        for p in [p.parent]
    ],
    package_dir={"ned_plugin": "plugin/ned_plugin", "ned_shaders": "shaders"},
    package_data={"ned_shaders": ["*.glsl", "*.vert", "*.frag", "*.geom"], "ned_plugin.wire": ["*.pyi"]},
    install_requires=CLIENT_REQUIRES,
    extras_require={
        "server": SERVER_REQUIRES,
        "test": SERVER_REQUIRES + TEST_REQUIRES,
    },
    entry_points={
        "console_scripts": [
            "ned-server=ned_server.cli:main",
            "ned=ned_plugin.cli:main",
        ]
    },
)
