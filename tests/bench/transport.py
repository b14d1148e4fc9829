"""Frame transport over loopback: gRPC chunk streaming against a raw TCP socket, in the same run.

Streams N frames of 2048x1080 RGBA half EXR from a client to a server and back, through the same
chunking, checksums, reassembly and channel options as the NED server and client, and the same
bytes through a plain loopback TCP echo. Prints MB/s and frames/s of both and their ratio
(goal: gRPC >= 0.8 of raw). A third figure is grpcio's own ceiling on this machine: the same bytes
in 1 MiB messages through a gRPC echo with no protobuf, no chunk headers and no checksums
(identity serializers); our path against it shows what NED's framing costs on top of the library.

Plates read in place (the farm case: the server reads the client's files from shared storage under
its trusted roots) are measured one way, client to server, against the same frames streamed one way
through gRPC and the same bytes through one-way raw TCP: frames/s of each and
``in_place_vs_raw_ratio`` (goal above 1: no bytes cross the socket; the client still reads each
file once to checksum it, and the server reads and checks it again).

It ends with the EXR encode and decode frames/s of the same plate for ZIP, PIZ and DWAA (the codec
half of the transport budget; tests/bench/codec.py has the fuller codec study).

    python tests/bench/transport.py [--quick] [--frames N]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec import plate, rate  # tests/bench, the script folder

from ned_plugin.chunks import FrameAssembler, reassemble, split_frame
from ned_plugin.client import MESSAGE_LIMIT
from ned_plugin.exr import Frame, Window, decode_exr, encode_exr
from ned_plugin.plate_files import PlateFileRef, describe_file
from ned_plugin.wire import pb
from ned_server.runtime.plate_paths import read_in_place, resolve_roots
from ned_server.runtime.streaming import EventStream

ECHO_METHOD = "/nedbench.Echo/Frames"


def _connected(channel: grpc.Channel) -> grpc.Channel:
    """The channel once its connection is up: the raw TCP baselines connect before their clock starts,
    so the gRPC paths do too (else a short run mostly times the HTTP/2 handshake)."""
    grpc.channel_ready_future(channel).result(timeout=30)
    return channel


def make_frame_bytes(width: int = 2048, height: int = 1080, seed: int = 0) -> bytes:
    """A plate-like RGBA half EXR: smooth gradients plus grain, so ZIP compresses it as it would a plate."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 50.0) * np.cos(y / 70.0)], -1)
    rgb += rng.normal(0, 0.02, rgb.shape).astype(np.float32)
    rgba = np.concatenate([rgb, np.ones((height, width, 1), np.float32)], -1).astype(np.float16)
    win = Window(0, 0, width, height)
    return encode_exr(Frame(rgba, ("R", "G", "B", "A"), win, win, {}), compression="zip", pixel_type="half")


def _echo(requests, context):  # type: ignore[no-untyped-def]
    """As the NED server's streaming RPCs: a worker reads and reassembles while this thread sends."""
    def work(emit, stopped):  # type: ignore[no-untyped-def]
        for frame in reassemble(requests):
            emit(frame)

    for frame, data in EventStream(work, lambda: not context.is_active(), name="bench-echo"):
        yield from split_frame(frame, data)


def grpc_round_trip(payload: bytes, frames: int) -> float:
    """Seconds to send `frames` copies of payload to an echo server and get them all back, checked."""
    options = [("grpc.max_receive_message_length", MESSAGE_LIMIT), ("grpc.max_send_message_length", MESSAGE_LIMIT)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
    handler = grpc.method_handlers_generic_handler("nedbench.Echo", {
        "Frames": grpc.stream_stream_rpc_method_handler(
            _echo, request_deserializer=pb.FrameChunk.FromString,
            response_serializer=pb.FrameChunk.SerializeToString),
    })
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with _connected(grpc.insecure_channel(f"127.0.0.1:{port}", options=options)) as channel:
            call = channel.stream_stream(ECHO_METHOD, request_serializer=pb.FrameChunk.SerializeToString,
                                         response_deserializer=pb.FrameChunk.FromString)
            chunks = (c for n in range(frames) for c in split_frame(1001 + n, payload))
            assembler = FrameAssembler()
            received = 0
            t0 = time.perf_counter()
            for chunk in call(chunks):
                done = assembler.add(chunk)
                if done is not None:
                    assert len(done[1]) == len(payload)
                    received += 1
            elapsed = time.perf_counter() - t0
            assert received == frames, received
    finally:
        server.stop(0)
    return elapsed


def grpc_bytes_round_trip(payload: bytes, frames: int) -> float:
    """The same bytes through gRPC itself: 1 MiB messages, identity serializers (no protobuf, no checks)."""
    def identity(b: bytes) -> bytes:
        return b

    def echo(requests, context):  # type: ignore[no-untyped-def]
        yield from requests

    options = [("grpc.max_receive_message_length", MESSAGE_LIMIT), ("grpc.max_send_message_length", MESSAGE_LIMIT)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
    handler = grpc.method_handlers_generic_handler("nedbench.Bytes", {
        "Echo": grpc.stream_stream_rpc_method_handler(echo, request_deserializer=identity,
                                                      response_serializer=identity)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    view = memoryview(payload)
    try:
        with _connected(grpc.insecure_channel(f"127.0.0.1:{port}", options=options)) as channel:
            call = channel.stream_stream("/nedbench.Bytes/Echo", request_serializer=identity,
                                         response_deserializer=identity)
            messages = (bytes(view[i:i + (1 << 20)]) for _ in range(frames) for i in range(0, len(view), 1 << 20))
            t0 = time.perf_counter()
            got = sum(len(m) for m in call(messages))
            elapsed = time.perf_counter() - t0
    finally:
        server.stop(0)
    assert got == len(payload) * frames
    return elapsed


def raw_round_trip(payload: bytes, frames: int) -> float:
    """The same bytes through a loopback TCP echo, sent and received concurrently in 1 MiB writes."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    total = len(payload) * frames

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            buf = bytearray(1 << 20)
            left = total
            while left:
                n = conn.recv_into(buf, min(len(buf), left))
                if not n:
                    break
                conn.sendall(memoryview(buf)[:n])
                left -= n

    echo = threading.Thread(target=serve, daemon=True)
    echo.start()
    sock = socket.create_connection(("127.0.0.1", port))
    view = memoryview(payload)

    def send() -> None:
        for _ in range(frames):
            for i in range(0, len(view), 1 << 20):
                sock.sendall(view[i : i + (1 << 20)])

    t0 = time.perf_counter()
    sender = threading.Thread(target=send)
    sender.start()
    buf = bytearray(1 << 20)
    got = 0
    while got < total:
        n = sock.recv_into(buf)
        if not n:
            break
        got += n
    elapsed = time.perf_counter() - t0
    sender.join()
    sock.close()
    listener.close()
    assert got == total
    return elapsed


def _upload_server(handler, name: str):  # type: ignore[no-untyped-def]
    options = [("grpc.max_receive_message_length", MESSAGE_LIMIT), ("grpc.max_send_message_length", MESSAGE_LIMIT)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("nedbench.Upload", {
        name: grpc.stream_unary_rpc_method_handler(handler, request_deserializer=pb.TrackRequest.FromString,
                                                   response_serializer=pb.FrameChunk.SerializeToString)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, _connected(grpc.insecure_channel(f"127.0.0.1:{port}", options=options))


def streamed_upload(files: list[tuple[int, Path]], size: int) -> float:
    """Seconds to send the files' bytes one way as NED does (chunks, reassembly, CRC check on arrival)."""
    def handler(requests, context):  # type: ignore[no-untyped-def]
        assembler, frames = FrameAssembler(), 0
        for message in requests:
            done = assembler.add(message.chunk)
            if done is not None:
                assert len(done[1]) == size
                frames += 1
        assembler.finish()
        return pb.FrameChunk(frame=frames)

    server, channel = _upload_server(handler, "Streamed")
    try:
        call = channel.stream_unary("/nedbench.Upload/Streamed", request_serializer=pb.TrackRequest.SerializeToString,
                                    response_deserializer=pb.FrameChunk.FromString)
        t0 = time.perf_counter()
        got = call(pb.TrackRequest(chunk=c) for n, p in files for c in split_frame(n, p.read_bytes()))
        elapsed = time.perf_counter() - t0
    finally:
        channel.close()
        server.stop(0)
    assert got.frame == len(files)
    return elapsed


def in_place_upload(files: list[tuple[int, Path]], size: int, root: Path) -> float:
    """Seconds to name the files by path (the client stats and checksums each) and have the server read
    and verify each under its trusted root, as the NED server does."""
    roots = resolve_roots([root])

    def handler(requests, context):  # type: ignore[no-untyped-def]
        frames = 0
        for message in requests:
            r = message.frame_path
            data = read_in_place(PlateFileRef(r.frame, r.path, r.size, r.mtime_ns, r.crc32), roots, 1 << 30)
            assert len(data) == size
            frames += 1
        return pb.FrameChunk(frame=frames)

    def requests():  # type: ignore[no-untyped-def]
        for n, p in files:
            ref = describe_file(n, p)
            yield pb.TrackRequest(frame_path=pb.FramePath(frame=n, path=ref.path, size=ref.size,
                                                          mtime_ns=ref.mtime_ns, crc32=ref.crc32))

    server, channel = _upload_server(handler, "InPlace")
    try:
        call = channel.stream_unary("/nedbench.Upload/InPlace", request_serializer=pb.TrackRequest.SerializeToString,
                                    response_deserializer=pb.FrameChunk.FromString)
        t0 = time.perf_counter()
        got = call(requests())
        elapsed = time.perf_counter() - t0
    finally:
        channel.close()
        server.stop(0)
    assert got.frame == len(files)
    return elapsed


def raw_upload(payload: bytes, frames: int) -> float:
    """Seconds to push the same bytes one way through a loopback TCP socket (the receiver counts them)."""
    listener = socket.create_server(("127.0.0.1", 0))
    total = len(payload) * frames
    received = [0]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            buf = bytearray(1 << 20)
            while received[0] < total:
                n = conn.recv_into(buf)
                if not n:
                    break
                received[0] += n

    sink = threading.Thread(target=serve, daemon=True)
    sink.start()
    sock = socket.create_connection(listener.getsockname())
    view = memoryview(payload)
    t0 = time.perf_counter()
    for _ in range(frames):
        for i in range(0, len(view), 1 << 20):
            sock.sendall(view[i : i + (1 << 20)])
    sink.join()
    elapsed = time.perf_counter() - t0
    sock.close()
    listener.close()
    assert received[0] == total
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (under a minute)")
    parser.add_argument("--frames", type=int)
    args = parser.parse_args(argv)
    frames = args.frames or (20 if args.quick else 100)
    payload = make_frame_bytes()
    mb = len(payload) * frames * 2 / 1e6  # there and back
    grpc_round_trip(payload, 2)  # warm up
    t_grpc = min(grpc_round_trip(payload, frames) for _ in range(1 if args.quick else 2))
    t_raw = min(raw_round_trip(payload, frames) for _ in range(2))
    t_bytes = min(grpc_bytes_round_trip(payload, frames) for _ in range(1 if args.quick else 2))
    print(f"frame: 2048x1080 RGBA half EXR (zip), {len(payload) / 1e6:.2f} MB; {frames} frames there and back")
    print(f"grpc_mb_per_s: {mb / t_grpc:.1f}")
    print(f"grpc_frames_per_s: {frames / t_grpc:.1f}")
    print(f"raw_tcp_mb_per_s: {mb / t_raw:.1f}")
    print(f"raw_tcp_frames_per_s: {frames / t_raw:.1f}")
    print(f"grpc_bytes_only_mb_per_s: {mb / t_bytes:.1f}")
    print(f"grpc_vs_raw_ratio: {t_raw / t_grpc:.3f}")
    print(f"grpc_bytes_only_vs_raw_ratio: {t_raw / t_bytes:.3f}")
    print(f"grpc_vs_grpc_bytes_only_ratio: {t_bytes / t_grpc:.3f}")
    with tempfile.TemporaryDirectory(prefix="ned-bench-plates-") as tmp:
        root = Path(tmp)
        files = [(1001 + n, root / f"plate.{1001 + n:04d}.exr") for n in range(frames)]
        for _, path in files:
            path.write_bytes(payload)
        repeats = 1 if args.quick else 2
        t_in_place = min(in_place_upload(files, len(payload), root) for _ in range(repeats + 1))
        t_streamed = min(streamed_upload(files, len(payload)) for _ in range(repeats))
    t_raw_up = min(raw_upload(payload, frames) for _ in range(2))
    print(f"one way, {frames} frames: plates read in place vs streamed through gRPC vs raw TCP")
    print(f"in_place_frames_per_s: {frames / t_in_place:.1f}")
    print(f"streamed_upload_frames_per_s: {frames / t_streamed:.1f}")
    print(f"raw_tcp_upload_frames_per_s: {frames / t_raw_up:.1f}")
    print(f"in_place_vs_raw_ratio: {t_raw_up / t_in_place:.3f}")
    print(f"in_place_vs_streamed_ratio: {t_streamed / t_in_place:.3f}")
    print(f"streamed_upload_vs_raw_ratio: {t_raw_up / t_streamed:.3f}")
    frame = plate(2048, 1080)
    for comp in ("zip", "piz", "dwaa"):
        data = encode_exr(frame, compression=comp)
        codec_frames = 2 if args.quick else 8
        print(f"exr_{comp}_encode_fps: {rate(lambda c=comp: encode_exr(frame, compression=c), codec_frames):.2f}")
        print(f"exr_{comp}_decode_fps: {rate(lambda d=data: decode_exr(d), codec_frames):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
