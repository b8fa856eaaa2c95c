#!/usr/bin/env python3
"""Write SWPC Solar Region Summary files (YYYYMMDDSRS.txt) in the current layout (that of the
real fixtures/srs/20150306SRS.txt) from an SWPC regions JSON payload (solar_regions.json shape).

The files are SYNTHETIC: the regions of the JSON's `observed_date` D become the SRS issued on
D + 1 at 0030 UTC (which describes D at 24:00Z). Regions with a `spot_class` go to Section I,
the others (plages) to Section IA; Section II lists none. `mag_class` letter codes are written
as SRS words (BGD -> Beta-Gamma-Delta), region numbers with their last four digits, as SWPC does.

  make_srs.py --json fixtures/sample-30d/solar_regions.json --from 2024-05-21 --to 2024-05-23 \\
      --out-dir out/          # observed dates; writes 20240522SRS.txt .. 20240524SRS.txt

Requires Python 3 only.
"""
import argparse
import datetime as dt
import json
import os

WORDS = {"A": "Alpha", "B": "Beta", "G": "Gamma", "D": "Delta"}


def mag_words(code):
    if not code:
        return ""
    return "-".join(WORDS[c] for c in code)


def srs_text(observed, regions, number):
    issued = observed + dt.timedelta(days=1)
    lines = [
        f":Product: {issued:%m%d}SRS.txt",
        f":Issued: {issued:%Y %b %d} 0030 UTC",
        "# Prepared jointly by the U.S. Dept. of Commerce, NOAA,",
        "# Space Weather Prediction Center and the U.S. Air Force.",
        "#",
        "Joint USAF/NOAA Solar Region Summary",
        f"SRS Number {number} Issued at 0030Z on {issued:%d %b %Y}",
        f"Report compiled from data received at SWO on {observed:%d %b}",
        f"I.  Regions with Sunspots.  Locations Valid at {observed:%d}/2400Z ",
        "Nmbr Location  Lo  Area  Z   LL   NN Mag Type",
    ]
    spots = [r for r in regions if r["spot_class"]]
    plages = [r for r in regions if not r["spot_class"]]
    if not spots:
        lines.append("None")
    for r in spots:
        lines.append(
            f"{r['region'] % 10000:04d} {r['location']:<7}  {r['carrington_longitude']:03d}  "
            f"{r['area']:04d} {r['spot_class']:<3}  {r['extent']:02d}   {r['number_spots']:02d} "
            f"{mag_words(r['mag_class'])}"
        )
    lines.append(
        f"IA. H-alpha Plages without Spots.  Locations Valid at {observed:%d}/2400Z {observed:%b}"
    )
    lines.append("Nmbr  Location  Lo")
    if not plages:
        lines.append("None")
    for r in plages:
        lines.append(f"{r['region'] % 10000:04d}  {r['location']:<7}  {r['carrington_longitude']:03d}")
    ret_from = issued
    ret_to = issued + dt.timedelta(days=2)
    lines.append(f"II. Regions Due to Return {ret_from:%d %b} to {ret_to:%d %b}")
    lines.append("Nmbr Lat    Lo")
    lines.append("None")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True)
    ap.add_argument("--from", dest="start", required=True, type=dt.date.fromisoformat)
    ap.add_argument("--to", dest="end", required=True, type=dt.date.fromisoformat)
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()
    with open(args.json) as f:
        records = json.load(f)
    os.makedirs(args.out_dir, exist_ok=True)
    day = args.start
    while day <= args.end:
        regions = sorted(
            (r for r in records if r["observed_date"] == day.isoformat()), key=lambda r: r["region"]
        )
        issued = day + dt.timedelta(days=1)
        number = issued.timetuple().tm_yday
        path = os.path.join(args.out_dir, f"{issued:%Y%m%d}SRS.txt")
        with open(path, "w") as f:
            f.write(srs_text(day, regions, number))
        print(path)
        day += dt.timedelta(days=1)


if __name__ == "__main__":
    main()
