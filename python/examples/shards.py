"""One NumPy array over 100 shard files, with no copy and no concatenation:
vmplace.MView maps the files back to back in one reservation, and
numpy.frombuffer sees them as one buffer. More shards are appended into the
reserved room without moving the array's base.

    /usr/bin/python3 shards.py [DIRECTORY] [ROWS_PER_SHARD]

Writes the shards into DIRECTORY (a new temporary one by default, removed at
the end), each holding ROWS_PER_SHARD float32 rows of 8 columns (a multiple of
the page, as the library wants of every shard but the last), then checks
the column means over all of them. Exits 0 when they are right.
"""

import os
import shutil
import sys
import tempfile

import numpy as np

import vmplace

SHARDS = 100
COLUMNS = 8


def write_shards(directory, rows):
    paths = []
    for i in range(SHARDS):
        block = np.empty((rows, COLUMNS), dtype=np.float32)
        block[:] = np.arange(COLUMNS, dtype=np.float32) + i  # column c of shard i holds c + i
        path = os.path.join(directory, "shard-%03d.f32" % i)
        block.tofile(path)
        paths.append(path)
    return paths


def main():
    own_dir = len(sys.argv) < 2
    directory = tempfile.mkdtemp(prefix="vmplace-shards-") if own_dir else sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 16384  # 512 KiB a shard
    try:
        paths = write_shards(directory, rows)
        shard_bytes = rows * COLUMNS * 4
        # Room for twice as many shards, so that appending never moves the base.
        with vmplace.MView(paths[:SHARDS // 2], capacity=2 * SHARDS * shard_bytes) as view:
            for path in paths[SHARDS // 2:]:
                view.append(path)
            table = np.frombuffer(view, dtype=np.float32).reshape(-1, COLUMNS)
            means = table.mean(axis=0, dtype=np.float64)
            expected = np.arange(COLUMNS) + (SHARDS - 1) / 2
            shard, offset = view.locate(73 * shard_bytes + 40)
            ok = (table.shape == (SHARDS * rows, COLUMNS)
                  and np.allclose(means, expected)
                  and table.__array_interface__["data"][0] == view.base
                  and (shard, offset) == (73, 40))
            del table  # the view cannot close while the array uses it
        print("shards: %d files, %d rows, one array at no copy; column means %s: %s"
              % (SHARDS, SHARDS * rows, np.round(means, 2).tolist(), "ok" if ok else "WRONG"))
        return 0 if ok else 1
    finally:
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
