"""Build the embedded mnist1989 file: the MNIST images the anchor's two selection orders use.

    python scripts/build_embedded.py [--mnist DIR] [--out PATH]

The bytes come from `lecun1989.data.build_embedded_bytes` (format described there); the same
MNIST files always give the same bytes, which tests/test_data.py checks against the shipped
file. MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, CC BY-SA 3.0 (the embedded selection too).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from lecun1989 import data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", type=Path, default=data.data_root() / "mnist",
                    help="folder with the four MNIST IDX files (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=data.embedded_path(),
                    help="file to write (default: the shipped file, %(default)s)")
    args = ap.parse_args(argv)
    try:
        blob = data.build_embedded_bytes(args.mnist)
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{args.out.name}.", suffix=".part", dir=args.out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the file ships in the package
        os.replace(tmp, args.out)
    except BaseException:
        os.unlink(tmp)
        raise
    payload = data.payload_sha256(blob)
    print(f"wrote {args.out}: {len(blob):,} bytes, sha256 {hashlib.sha256(blob).hexdigest()}")
    print(f"payload sha256 {payload}")
    if payload != data.EMBEDDED_PAYLOAD_SHA256:
        print("note: EMBEDDED_PAYLOAD_SHA256 in src/lecun1989/data.py differs; set it to the "
              "payload sha256 above", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
