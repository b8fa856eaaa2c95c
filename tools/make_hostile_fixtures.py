#!/usr/bin/env python3
"""Write the small malformed avg1m files of fixtures/goes-avg1m-hostile/ (3 rows each).

Each file is a minimal netCDF-4 file (time dimension scale, xrsa/xrsb flux and flag variables
with the GOES-16 sample's attributes) with one thing wrong, named after it:
  bad_time_units.nc      time units "fortnights since 2024-05-01"
  bad_calendar.nc        time calendar "360_day"
  flux_int.nc            xrsb_flux stored as int32
  flux_2d.nc             xrsb_flux of shape (time, 2)
  flux_other_dim.nc      xrsb_flux along another dimension than time
  flag_attrs_mismatch.nc xrsb_flag has 8 meanings but 7 flag_masks
  flag_no_good_data.nc   xrsb_flag without a good_data meaning
  flux_units.nc          xrsb_flux in "erg/cm2/s"
  fill_time.nc           row 1 of time is the fill value -9999 (a row-level reject)
  platform_blank.nc      a valid file whose platform attribute is " " (satellite from the name)
All are for 2024-05-01, satellite 16: use the name sci_xrsf-l2-avg1m_g16_d20240501_v2-1-0.nc.

Usage: make_hostile_fixtures.py OUT_DIR      (requires h5py and numpy)
"""
import os
import sys

import h5py
import numpy as np

EPOCH_2024_05_01 = 767793600.0  # 2024-05-01T00:00:00Z in seconds since 2000-01-01T12:00:00
MEANINGS = ("good_data eclipse bad_data e_contam_significant e_correction_valid "
            "e_correction_invalid e_correction_interp e_correction_decay")
MASKS = np.array([3, 1, 2, 4, 8, 8, 48, 48], dtype="u1")
VALUES = np.array([0, 1, 2, 4, 0, 8, 16, 32], dtype="u1")


def write(path, *, time_units="seconds since 2000-01-01T12:00:00", calendar="proleptic_gregorian",
          time=None, flux_dtype="<f4", flux_shape=None, flux_dim="time", flux_units="W/m2",
          flag_masks=MASKS, meanings=MEANINGS, platform="g16"):
    rows = 3
    with h5py.File(path, "w", libver="earliest") as f:
        f.attrs["platform"] = platform
        f.attrs["time_coverage_resolution"] = "PT1M"
        t = f.create_dataset("time", data=np.asarray(
            time if time is not None else EPOCH_2024_05_01 + 60.0 * np.arange(rows), dtype="<f8"),
            maxshape=(None,), chunks=(rows,))
        t.attrs["_FillValue"] = np.float64(-9999.0)
        t.attrs["units"] = time_units
        t.attrs["calendar"] = calendar
        t.make_scale("time")
        other = None
        if flux_dim != "time" or flux_shape is not None:
            other = f.create_dataset("other", shape=(rows if flux_dim != "time" else 2,), dtype=">f4")
            other.make_scale("This is a netCDF dimension but not a netCDF variable. " + str(other.shape[0]))
        for band in ("xrsa", "xrsb"):
            hostile = band == "xrsb"
            dtype = flux_dtype if hostile else "<f4"
            shape = (flux_shape if hostile and flux_shape else (rows,))
            data = np.full(shape, 1e-7 if dtype == "<f4" else 1, dtype=dtype)
            flux = f.create_dataset(f"{band}_flux", data=data, maxshape=(None,) + shape[1:], chunks=shape)
            flux.attrs["_FillValue"] = np.array(-9999, dtype=dtype)
            flux.attrs["units"] = flux_units if hostile else "W/m2"
            if hostile and flux_dim != "time":
                flux.dims[0].attach_scale(other)
            else:
                flux.dims[0].attach_scale(t)
            if len(shape) == 2:
                flux.dims[1].attach_scale(other)
            flag = f.create_dataset(f"{band}_flag", data=np.zeros(rows, dtype="u1"),
                                    maxshape=(None,), chunks=(rows,))
            flag.attrs["_FillValue"] = np.uint8(255)
            flag.attrs["flag_masks"] = flag_masks if hostile else MASKS
            flag.attrs["flag_values"] = VALUES
            flag.attrs["flag_meanings"] = meanings if hostile else MEANINGS
            flag.dims[0].attach_scale(t)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    cases = {
        "bad_time_units.nc": dict(time_units="fortnights since 2024-05-01"),
        "bad_calendar.nc": dict(calendar="360_day"),
        "flux_int.nc": dict(flux_dtype="<i4"),
        "flux_2d.nc": dict(flux_shape=(3, 2)),
        "flux_other_dim.nc": dict(flux_dim="other"),
        "flag_attrs_mismatch.nc": dict(flag_masks=MASKS[:7]),
        "flag_no_good_data.nc": dict(meanings=MEANINGS.replace("good_data", "nominal")),
        "flux_units.nc": dict(flux_units="erg/cm2/s"),
        "fill_time.nc": dict(time=[EPOCH_2024_05_01, -9999.0, EPOCH_2024_05_01 + 120]),
        "platform_blank.nc": dict(platform=" "),
    }
    for name, kwargs in cases.items():
        write(os.path.join(out, name), **kwargs)
        print(os.path.join(out, name))


if __name__ == "__main__":
    main()
