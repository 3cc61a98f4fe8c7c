"""`echonet set` and `get` against a peer that answers, but not as it should: the command says what arrived (a
malformed datagram, an answer that matched nothing, an answer from instance 0x00) instead of "no answer"; and
`--force` sends a typed value the tables refuse, as long as it fits the property's bytes.

The peer is a plain UDP socket on a loopback address of its own that answers each request with bytes the test
chooses, so that the command line meets exactly the datagram a broken device would send."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from echonet.cli import main

Answer = Callable[[bytes], bytes | None]


def _own_ip() -> str:
    return f"127.0.{random.randint(1, 254)}.{random.randint(2, 250)}"


class RawPeer:
    """A UDP socket answering each datagram it gets with ``answer(datagram)`` (nothing for ``None``)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.ip = _own_ip()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ip, 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            self.received.append(data)
            reply = self.answer(data)
            if reply is not None:
                self.sock.sendto(reply, addr)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def peer_with() -> Iterator[Callable[[Answer], RawPeer]]:
    peers: list[RawPeer] = []

    def make(answer: Answer) -> RawPeer:
        peers.append(RawPeer(answer))
        return peers[-1]

    yield make
    for p in peers:
        p.close()


def answer_from(seoj: str, esv: int, props: bytes) -> Answer:
    """An answer to the request with its TID, from ``seoj`` to the request's SEOJ, with ``props`` (OPC included)."""

    def answer(request: bytes) -> bytes:
        return request[:4] + bytes.fromhex(seoj) + request[4:7] + bytes((esv,)) + props

    return answer


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def options(peer: RawPeer, timeout: str = "0.3") -> list[str]:
    return [
        "--port",
        str(peer.port),
        "--bind",
        "127.0.0.1",
        "--timeout",
        timeout,
        "--retries",
        "1",
        "--local-port",
        "0",
    ]


# what arrived ------------------------------------------------------------------------------------------------------


def test_a_malformed_setc_sna_is_named_with_its_sender_and_reason_instead_of_no_answer(
    capsys: pytest.CaptureFixture[str], peer_with: Callable[[Answer], RawPeer]
) -> None:
    peer = peer_with(answer_from("027D01", 0x51, bytes.fromhex("01a601")))  # PDC 1 and no EDT byte
    code, out, err = cli(capsys, "set", peer.ip, "027D01", "acChargeUpperLimit=50", *options(peer))
    assert code == 4 and out == ""
    [line] = err.splitlines()
    assert "Traceback" not in err and "no valid answer from" in line
    assert f"2 malformed datagrams from {peer.ip} (offset 14: PDC 1 of EPC 0xA6 overruns the datagram" in line
    assert len(peer.received) == 2  # both attempts went out, and were answered badly


def test_with_json_the_timeout_is_an_error_document_on_stdout_and_the_same_line_on_stderr(
    capsys: pytest.CaptureFixture[str], peer_with: Callable[[Answer], RawPeer]
) -> None:
    peer = peer_with(answer_from("027D01", 0x51, bytes.fromhex("01a601")))
    code, out, err = cli(capsys, "set", peer.ip, "battery", "acChargeUpperLimit=50", "--json", *options(peer))
    assert code == 4
    doc = json.loads(out)
    assert doc == {"error": {"code": 4, "kind": "timeout", "message": doc["error"]["message"]}}
    assert "malformed datagram" in doc["error"]["message"]
    assert err.strip() == f"echonet: {doc['error']['message']}"


def test_an_answer_from_instance_0_is_taken_as_the_objects_refusal_at_once(
    capsys: pytest.CaptureFixture[str], peer_with: Callable[[Answer], RawPeer]
) -> None:
    peer = peer_with(answer_from("027D00", 0x51, bytes.fromhex("01a600")))
    started = time.monotonic()
    code, out, err = cli(capsys, "set", peer.ip, "027D01", "acChargeUpperLimit=50", *options(peer, timeout="5"))
    assert time.monotonic() - started < 4  # not after the 2 x 5 s of the attempts
    assert code == 3 and out == ""
    [line] = err.splitlines()
    assert "refused" in line and "027D00 (instance 0x00), taken as the object's refusal" in line
    assert "SetC_SNA for 0xA6" in line


def test_an_answer_from_another_instance_is_named_as_an_answer_that_matched_nothing(
    capsys: pytest.CaptureFixture[str], peer_with: Callable[[Answer], RawPeer]
) -> None:
    peer = peer_with(answer_from("027D02", 0x72, bytes.fromhex("01e40132")))
    code, _, err = cli(capsys, "get", peer.ip, "027D01", "E4", *options(peer))
    assert code == 4
    [line] = err.splitlines()
    assert f"unexpected answers from {peer.ip} (Get_Res from 027D02" in line and "matching no request" in line


def test_a_silent_peer_is_still_plainly_no_answer(
    capsys: pytest.CaptureFixture[str], peer_with: Callable[[Answer], RawPeer]
) -> None:
    peer = peer_with(lambda request: None)
    code, _, err = cli(capsys, "get", peer.ip, "027D01", "E4", *options(peer, timeout="0.2"))
    assert code == 4 and len(err.splitlines()) == 1
    assert f"timeout: no answer from {peer.ip} port {peer.port} for 027D01 (Storage battery)" in err


# --force ------------------------------------------------------------------------------------------------------------


def test_force_sends_an_out_of_range_typed_value_that_fits_its_bytes(
    capsys: pytest.CaptureFixture[str], peer_with: Callable[[Answer], RawPeer]
) -> None:
    peer = peer_with(answer_from("027D01", 0x71, bytes.fromhex("01a600")))
    code, out, err = cli(capsys, "set", peer.ip, "027D01", "acChargeUpperLimit=140", "--force", *options(peer))
    assert code == 0, err
    assert "accepted" in out
    [request] = peer.received
    assert request[10] == 0x61 and request[12:15] == bytes.fromhex("a6018c")  # SetC of 0xA6 = 140 (0x8C)
    assert "--force: sending acChargeUpperLimit (0xA6) = 8c although 140 % is outside 0 %..100 %" in err


@pytest.mark.parametrize(
    ("assignment", "force", "needle"),
    [
        ("acChargeUpperLimit=140", False, "--force sends it anyway"),
        ("acChargeUpperLimit=300", True, "does not fit uint8"),
    ],
)
def test_a_value_refused_locally_is_one_line_exit_2_and_nothing_is_sent(
    capsys: pytest.CaptureFixture[str],
    peer_with: Callable[[Answer], RawPeer],
    assignment: str,
    force: bool,
    needle: str,
) -> None:
    peer = peer_with(answer_from("027D01", 0x71, bytes.fromhex("01a600")))
    argv = ["set", peer.ip, "027D01", assignment, *(["--force"] if force else []), *options(peer)]
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and needle in err
    time.sleep(0.1)
    assert peer.received == []
