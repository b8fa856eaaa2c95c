#!/usr/bin/env python3
"""Write a reference CSV of a GOES XRS netCDF file the way fixtures/noaa-archive/reference/*.csv
were made: what h5py (libhdf5) reads, independent of the Rust reader.

  time   converted with the file's own `units` attribute ("<unit> since <date>"), ISO UTC,
         millisecond precision (datetime + timedelta rounds to microseconds; isoformat
         truncates to milliseconds)
  floats Python repr of the stored value widened to f64
  ints   decimal (flags stored as floats are written as integers)
  empty  where the value equals the variable's _FillValue

Usage: reference_csv.py FILE.nc VAR [VAR...] > out.csv   (time is always the first column;
lines end in CRLF, as in the shared reference files)
Requires h5py and numpy.
"""
import datetime
import sys

import h5py
import numpy as np

UNIT_SECONDS = {"seconds": 1, "second": 1, "milliseconds": 1e-3, "minutes": 60,
                "hours": 3600, "days": 86400}


def epoch_and_scale(units):
    unit, _, ref = units.strip().partition(" since ")
    ref = ref.strip()
    for suffix in (" UTC", "Z"):
        if ref.endswith(suffix):
            ref = ref[: -len(suffix)].strip()
    return datetime.datetime.fromisoformat(ref.replace(" ", "T")), UNIT_SECONDS[unit.strip().lower()]


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def cell(value, fill, integer):
    if fill is not None and value == fill:
        return ""
    if integer:
        return str(int(value))
    return repr(float(value))


def main():
    path, names = sys.argv[1], sys.argv[2:]
    with h5py.File(path, "r") as f:
        epoch, scale = epoch_and_scale(text(f["time"].attrs["units"]))
        times = f["time"][...]
        columns = []
        for name in names:
            ds = f[name]
            fill = ds.attrs.get("_FillValue")
            fill = None if fill is None else np.asarray(fill).reshape(-1)[0]
            integer = np.issubdtype(ds.dtype, np.integer) or "flag" in name
            columns.append((ds[...], fill, integer))
        out = sys.stdout
        out.write(",".join(["time", *names]) + "\r\n")
        for i, t in enumerate(times):
            iso = (epoch + datetime.timedelta(seconds=float(t) * scale)).isoformat(timespec="milliseconds")
            out.write(",".join([iso, *(cell(c[i], fill, integer) for c, fill, integer in columns)]) + "\r\n")


if __name__ == "__main__":
    main()
