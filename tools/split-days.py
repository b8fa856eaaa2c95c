#!/usr/bin/env python3
"""Split a recorded dataset (gen_dataset.py output or the sample: xrays.json[.gz],
solar_regions.json, donki_flares.json) into daily directories OUT/YYYY-MM-DD/ in the same
formats, the layout `flare-plus backfill --source DIR` reads.

X-ray records go to the day of their time_tag, regions to their observed_date, DONKI flares
to the day of their beginTime. Standard library only.

usage: split-days.py INPUT_DIR OUT_DIR
"""
import gzip
import json
import os
import sys
from collections import defaultdict


def load(path):
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rt") as f:
                return json.load(f)
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    days = defaultdict(lambda: defaultdict(list))
    for name, key in (("xrays.json", lambda r: r["time_tag"][:10]),
                      ("solar_regions.json", lambda r: r["observed_date"][:10]),
                      ("donki_flares.json", lambda r: r["beginTime"][:10])):
        records = load(os.path.join(src, name))
        if records is None:
            continue
        for r in records:
            days[key(r)][name].append(r)
    for day, files in sorted(days.items()):
        d = os.path.join(out, day)
        os.makedirs(d, exist_ok=True)
        for name, records in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write("[\n" + ",\n".join(json.dumps(r, separators=(",", ":")) for r in records) + "\n]\n")
    print(f"{len(days)} days written to {out}")


if __name__ == "__main__":
    main()
