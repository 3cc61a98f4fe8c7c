"""Cost of the secure record layer: protect + unprotect of ECHONET Lite frames, per AEAD and frame size.

Prints, side by side and measured in the same run, microseconds per protect, per unprotect and per both, the
raw ``cryptography`` encrypt+decrypt cost of the same AEAD and of AES-CCM-16-64-128 (``AESCCM``, tag 8, nonce
13) for the same frame, and the ratios.  Each figure is the best of ``--repeat`` runs of ``--iterations``
operations (the minimum is the least noisy estimate of the cost itself).

    python tools/bench_secure_records.py [--iterations 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from secure.records.oscore import ALGORITHMS, AeadAlgorithm, SecurityContext

FRAME_SIZES = (64, 200)
TARGET_US = 15.0


def echonet_frame(size: int) -> bytes:
    """A format-1 ECHONET Lite INF (battery 0x027D01 -> controller) padded with one vendor property to ``size``."""
    head = bytes.fromhex("10811234027d0105ff017302e20400001388")
    pdc = size - len(head) - 2
    assert 0 < pdc < 256
    return head + bytes((0xF0, pdc)) + bytes(range(pdc))


def best_us(fn: Callable[[int], None], iterations: int, repeat: int) -> float:
    """Best of ``repeat`` timings of ``fn(iterations)``, in microseconds per iteration."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(iterations)
        best = min(best, time.perf_counter() - start)
    return best / iterations * 1e6


def bench_context(alg: AeadAlgorithm, frame: bytes, iterations: int, repeat: int) -> tuple[float, float]:
    secret = os.urandom(16)
    a = SecurityContext(secret, sender_id=b"\x01", recipient_id=b"\x02", alg=alg, now=0.0)
    b = SecurityContext(secret, sender_id=b"\x02", recipient_id=b"\x01", alg=alg, now=0.0)
    protect, unprotect = a.protect, b.unprotect
    queue: list[bytes] = []

    def run_protect(n: int) -> None:
        queue.clear()
        append = queue.append
        for _ in range(n):
            append(protect(frame, 0.0))

    def run_unprotect(n: int) -> None:
        for record in queue[:n]:
            unprotect(record, 0.0)

    protect_us = unprotect_us = float("inf")
    for _ in range(repeat):  # interleaved: every unprotect run consumes the records of the protect run before
        protect_us = min(protect_us, best_us(run_protect, iterations, 1))
        unprotect_us = min(unprotect_us, best_us(run_unprotect, iterations, 1))
    return protect_us, unprotect_us


def bench_raw(alg: AeadAlgorithm, frame: bytes, iterations: int, repeat: int) -> float:
    p = ALGORITHMS[alg]
    key, nonce, aad = os.urandom(p.key_len), os.urandom(p.nonce_len), os.urandom(24)
    aead: AESCCM | AESGCM | ChaCha20Poly1305
    if alg is AeadAlgorithm.AES_CCM_16_64_128:
        aead = AESCCM(key, tag_length=8)
    elif alg is AeadAlgorithm.A128GCM:
        aead = AESGCM(key)
    else:
        aead = ChaCha20Poly1305(key)
    encrypt, decrypt = aead.encrypt, aead.decrypt

    def run(n: int) -> None:
        for _ in range(n):
            decrypt(nonce, encrypt(nonce, frame, aad), aad)

    return best_us(run, iterations, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    rows = []
    for size in FRAME_SIZES:
        frame = echonet_frame(size)
        raw_ccm = bench_raw(AeadAlgorithm.AES_CCM_16_64_128, frame, args.iterations, args.repeat)
        for alg in (AeadAlgorithm.AES_CCM_16_64_128, AeadAlgorithm.A128GCM, AeadAlgorithm.CHACHA20_POLY1305):
            protect_us, unprotect_us = bench_context(alg, frame, args.iterations, args.repeat)
            raw_same = bench_raw(alg, frame, args.iterations, args.repeat)
            rows.append((alg.name, size, protect_us, unprotect_us, raw_same, raw_ccm))

    print(f"python {sys.version.split()[0]}, {args.iterations} iterations, best of {args.repeat}; times in us")
    header = (
        f"{'AEAD':<18} {'frame':>5} {'protect':>8} {'unprot.':>8} {'both':>7} "
        f"{'raw same':>9} {'raw CCM':>8} {'both/raw same':>14} {'both/raw CCM':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, size, p_us, u_us, raw_same, raw_ccm in rows:
        both = p_us + u_us
        print(
            f"{name:<18} {size:>5} {p_us:>8.2f} {u_us:>8.2f} {both:>7.2f} "
            f"{raw_same:>9.2f} {raw_ccm:>8.2f} {both / raw_same:>14.2f} {both / raw_ccm:>13.2f}"
        )
    ccm_64 = next(r for r in rows if r[0] == "AES_CCM_16_64_128" and r[1] == 64)
    both = ccm_64[2] + ccm_64[3]
    verdict = "meets" if both < TARGET_US else "MISSES"
    print(
        f"\nAES-CCM-16-64-128, 64-byte frame: protect+unprotect {both:.2f} us, {verdict} the {TARGET_US:.0f} us target"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
