#!/usr/bin/env python3
"""Write NCEI GOES XRS 1-minute average files (sci_xrsf-l2-avg1m_gNN_dYYYYMMDD_vX-Y-Z.nc) with
the exact layout of the real GOES-16 sample (fixtures/noaa-archive/
sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc): same variables, dimensions, dtypes (incl. the
big-endian quad_diode scale), attributes (names, order, HDF5 string kinds, values), dimension
scales, chunking (one chunk per variable along time), gzip level 4, superblock version 0.
Only the data and the data-dependent global attributes (id, platform, time coverage, dates,
input file names, history) change. One file is one full UTC day: 1440 rows, 00:00 .. 23:59.

The files are SYNTHETIC: the `history` attribute says so. Variables this project does not read
are filled plainly: xrsa1/xrsb1 = the primary flux, xrsb1_flux_observed = xrsb_flux, the
*_electrons of channel 1 = 0, *_num = 60 (0 for a missing minute), *_flag_excluded = 0
(missing_data for a missing minute); channel 2, au_factor, roll_angle and the quad-diode
currents are fill values.

Inputs (one of):
  --csv FILE     header `time,xrsa_flux,xrsb_flux[,xrsa_flag,xrsb_flag]` (or `minute` 0..1439
                 instead of `time`); time ISO UTC on a whole minute (`2024-05-01T00:03:00Z`);
                 an empty cell is a missing value. Writes one file (--date and --satellite given).
  --json FILE    the same rows as a JSON array of objects (null = missing), or an object of
                 columns {"xrsa_flux": [1440 values], "xrsb_flux": [...], ...} indexed by minute.
  --swpc-json FILE[.gz]
                 an SWPC X-ray feed payload (xrays-7-day.json shape): writes one file per UTC
                 day it covers into --out-dir; `flux` of energy 0.05-0.4nm / 0.1-0.8nm becomes
                 xrsa_flux / xrsb_flux, `electron_contaminaton` sets e_contam_significant.
Minutes absent from the input are missing (fill values). Flags default to 0 (good_data,
e_correction_valid) for a present value and to the fill value 255 for a missing one; given
flags are written as they are (e.g. 1 = eclipse, 2 = bad_data, 4 = e_contam_significant, per
the flag_meanings/flag_masks/flag_values written with them).

Examples:
  gen_goes_avg1m.py --csv day.csv --date 2024-05-01 --satellite 16 --out-dir out/
  gen_goes_avg1m.py --swpc-json fixtures/sample-30d/xrays.json.gz --out-dir archive/
  gen_goes_avg1m.py --csv day.csv --date 2024-05-01 --satellite 16 \\
      --omit-variable xrsb_flux --out broken.nc      # a file missing a variable, for tests

Requires Python 3, h5py and numpy only.
"""
import argparse
import csv
import datetime as dt
import gzip
import json
import os

import h5py
import numpy as np

ROWS = 1440
EPOCH = dt.datetime(2000, 1, 1, 12, 0, 0)  # the layout's time units: seconds since this
DEFAULT_VERSION = "2-1-0"

STR = "vlen-utf8"  # h5py str -> variable-length UTF-8 scalar attribute (as h5netcdf writes)
FIXED_ASCII = "fixed-ascii"  # fixed-length ASCII, null-padded (_NCProperties)
SCALAR = "scalar"
ARRAY = "array"

# --- Layout of the GOES-16 sample, attributes in the sample's storage order. ---
# Extracted from the sample with h5py; data-dependent global values are replaced per file.
GLOBAL_ATTRS = [
    ('Conventions', STR, 'ACDD-1.3, Spase v2.2.6'),
    ('title', STR, 'L2 XRS 1 minute average'),
    ('summary', STR, 'The EXIS X-Ray Sensor (XRS) measures in a short wavelength channel (XRS-A) between 0.05 and 0.4 nm and in a longer wavelength channel (XRS-B) between 0.1 and 0.8 nm. The X-ray flux average product consists of 1 minute averages of the 1-s X-ray solar measurements. Flux is provided with and without electron contamination removed.'),
    ('keywords', STR, 'NumericalData.MeasurementType.Irradiance'),
    ('keywords_vocabulary', STR, 'SPASE: Space Physics Archive Search and Extract Data Model version 2.2.6, GCMD: NASA Global Change Master Directory (GCMD) Earth Science Keywords version 8.5'),
    ('naming_authority', STR, 'gov.nesdis.noaa'),
    ('history', STR, 'See algorithm information.'),
    ('source', STR, 'GOES-R EXIS/XRS L2 xrsf-l2-flx1s'),
    ('processing_level', STR, 'Level 2'),
    ('processing_level_description', STR, 'Derived products'),
    ('license', STR, 'These data may be redistributed and used without restriction. '),
    ('metadata_link', STR, ''),
    ('creator_name', STR, 'Janet Machol'),
    ('creator_type', STR, 'person'),
    ('creator_institution', STR, 'DOC/NOAA/NESDIS/NCEI/OGSSD/STP'),
    ('creator_email', STR, 'goesr.exis@noaa.gov'),
    ('creator_url', STR, 'https://www.ncei.noaa.gov/'),
    ('institution', STR, 'DOC/NOAA/NESDIS'),
    ('publisher_name', STR, 'National Centers for Environmental Information'),
    ('publisher_type', STR, 'institution'),
    ('publisher_institution', STR, 'DOC/NOAA/NESDIS/NCEI'),
    ('publisher_email', STR, 'goesr.exis@noaa.gov'),
    ('publisher_url', STR, 'https://www.ncei.noaa.gov/'),
    ('references', STR, 'GOES-R XRS.04 Algorithm Theoretical Basis Document'),
    ('instrument', STR, 'GOES R Series Extreme Ultraviolet Sensor and X-ray Irradiance Sensors (EXIS)'),
    ('program', STR, 'Geostationary Operational Environmental Satellite, R-Series (GOES-R)'),
    ('project', STR, 'Geostationary Operational Environmental Satellite R-Series (GOES-R) Core Ground Segment, Satellite Product Analysis and Distribution System (SPADES)'),
    ('time_coverage_resolution', STR, 'PT1M'),
    ('algorithm_parameters', STR, 'None'),
    ('id', STR, 'sci_xrsf-l2-avg1m_g16_d20210101_v2-1-0.nc'),
    ('date_created', STR, '2021-03-26T23:12:53.328Z'),
    ('instrument_id', STR, 'FM1'),
    ('orbital_slot', STR, 'GOES-East'),
    ('platform', STR, 'g16'),
    ('L1b_system_environment', STR, 'SCI'),
    ('L1b_production_site', STR, 'NCEI Boulder'),
    ('time_coverage_start', STR, '2021-01-01T00:00:00.000Z'),
    ('time_coverage_end', STR, '2021-01-02T00:00:00.000Z'),
    ('processing_parameters_file', STR, 'g16_xrs-avg-electron-contam-lut_v1.h5'),
    ('algorithm', STR, 'cli-xrs04_avg'),
    ('algorithm_version', ARRAY, '<i8', [2, 1]),
    ('algorithm_date', STR, '2021-03-19'),
    ('input_system_environments', STR, 'sci'),
    ('input_files_first', STR, 'sci_mpsh-l2-avg1m_g16_d20210101_v1-0-3.nc, sci_xrsf-l2-flx1s_g16_d20210101_v2-1-0.nc'),
    ('input_files_last', STR, 'sci_mpsh-l2-avg1m_g16_d20210101_v1-0-3.nc, sci_xrsf-l2-flx1s_g16_d20210101_v2-1-0.nc'),
    ('input_files_total', SCALAR, '<i8', 2),
    ('_NCProperties', FIXED_ASCII, 'version=2,h5netcdf=1.0.2,hdf5=1.12.2,h5py=3.7.0'),
]
VARIABLES = [
    ('au_factor', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, '1-AU factor.'),
        ('comments', STR, 'Multiplicative factor to convert fluxes to values at 1 AU.'),
    ]),
    ('corrected_current_xrsb2', '<f4', (4,), [
        ('_Netcdf4Coordinates', ARRAY, '<i4', [0, 1]),
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'Corrected currents for XRS-B2 quad diodes.'),
        ('units', STR, 'A'),
        ('valid_min', SCALAR, '<f4', 0.0),
        ('valid_max', SCALAR, '<f4', 1e-07),
        ('ancillary_variables', STR, 'xrsb2_flag xrsb2_num xrsb_flag_excluded'),
    ]),
    ('quad_diode', '>f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 1),
    ]),
    ('roll_angle', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'Angular offset of SPP relative to the celestial north rotational pole measured counterclockwise.'),
        ('comments', STR, 'Set to 180 degrees in normal orientation and 0 degrees when satellite is yaw flipped, if roll angle is unavailable from L1b.'),
        ('units', STR, 'degrees'),
    ]),
    ('time', '<f8', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f8', -9999.0),
        ('long_name', STR, 'Record start time, neglecting leap seconds.'),
        ('units', STR, 'seconds since 2000-01-01T12:00:00'),
        ('calendar', STR, 'proleptic_gregorian'),
    ]),
    ('xrsa1_flux', '<f4', (), [
        ('valid_min', SCALAR, '<f4', 1e-09),
        ('valid_max', SCALAR, '<f4', 0.003),
        ('ancillary_variables', STR, 'xrsa1_flag xrsa1_num xrsa1_flag_excluded'),
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-A1 average flux.'),
        ('comments', STR, 'Electron contamination has been removed. xrsa1_flux =  xrsa1_flux_observed - xrsa1_flux_electrons'),
        ('units', STR, 'W/m2'),
    ]),
    ('xrsa1_flux_electrons', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-A1 electron contamination.'),
        ('comments', STR, 'Estimated electron contamination in XRS-A1 flux measurement based on SEISS MPSHI measurements.'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 0.0),
        ('valid_max', SCALAR, '<f4', 1e-06),
        ('ancillary_variables', STR, 'xrsa1_flag'),
    ]),
    ('xrsa2_flux', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-A2 average flux.'),
        ('comments', STR, 'Electron contamination has been removed. xrsa2_flux =  xrsa2_flux_observed - xrsa2_flux_electrons'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 3e-08),
        ('valid_max', SCALAR, '<f4', 0.2),
        ('ancillary_variables', STR, 'xrsa2_flag xrsa2_num xrsa2_flag_excluded'),
    ]),
    ('xrsa2_flux_electrons', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-A2 electron contamination.'),
        ('comments', STR, 'Estimated electron contamination in XRS-A2 flux measurement based on SEISS MPSHI measurements.'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 0.0),
        ('valid_max', SCALAR, '<f4', 1e-06),
        ('ancillary_variables', STR, 'xrsa2_flag'),
    ]),
    ('xrsa_flag', '|u1', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '|u1', 255),
        ('long_name', STR, 'Flags for xrsa_flux.'),
        ('comments', STR, 'e_contam_significant is set when the electron contamination is greater than 50% of observed signal. good_data is independent of electron contamination flags. electron_correction_interp is set when the electron contamination is interpolated because a short period of SEISS MPSHI is missing. electron_correction_decay is set when the correction is smoothly turned off with a decay over a ~2 hour period because SEISS MPSHI data is missing, and no future value is known. electron_correction_invalid is set after 1 hour of decay.'),
        ('flag_masks', ARRAY, '|u1', [3, 1, 2, 4, 8, 8, 48, 48]),
        ('flag_values', ARRAY, '|u1', [0, 1, 2, 4, 0, 8, 16, 32]),
        ('flag_meanings', STR, 'good_data eclipse bad_data e_contam_significant e_correction_valid e_correction_invalid e_correction_interp e_correction_decay'),
    ]),
    ('xrsa_flag_excluded', '<u2', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<u2', 65535),
        ('long_name', STR, 'Flags on data excluded from xrsa_flux average.'),
        ('comments', STR, 'Union of flags set for data points that were excluded from the XRS-A average.'),
        ('flag_masks', ARRAY, '<u2', [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
        ('flag_values', ARRAY, '<u2', [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
        ('flag_meanings', STR, 'eclipse particle_spike calibration off_point temperature_error data_quality_error pointing_error invalid_mode missing_data L0_error'),
    ]),
    ('xrsa_flux', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-A primary average flux.'),
        ('comments', STR, 'Electron contamination has been removed. xrsa_flux =  xrsa_flux_observed - xrsa_flux_electrons'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 1e-09),
        ('valid_max', SCALAR, '<f4', 0.003),
        ('ancillary_variables', STR, 'xrsa_flag xrsa_num xrsa_flag_excluded'),
    ]),
    ('xrsa_num', '|u1', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '|u1', 255),
        ('long_name', STR, 'Number of averaged measurements in xrsa_flux.'),
    ]),
    ('xrsb1_flux', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-B1 average flux.'),
        ('comments', STR, 'Electron contamination has been removed. xrsb1_flux =  xrsb1_flux_observed - xrsb1_flux_electrons'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 1e-09),
        ('valid_max', SCALAR, '<f4', 0.003),
        ('ancillary_variables', STR, 'xrsb1_flag xrsb1_num xrsb1_flag_excluded'),
    ]),
    ('xrsb1_flux_electrons', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-B1 electron contamination.'),
        ('comments', STR, 'Estimated electron contamination in XRS-B1 flux measurement based on SEISS MPSHI measurements.'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 0.0),
        ('valid_max', SCALAR, '<f4', 1e-06),
        ('ancillary_variables', STR, 'xrsa2_flag'),
    ]),
    ('xrsb1_flux_observed', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-B1 average flux, without electron contamination correction.'),
        ('comments', STR, 'Average of XRS-B1 flux reported by the sensor.'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 1e-09),
        ('valid_max', SCALAR, '<f4', 0.003),
        ('ancillary_variables', STR, 'xrsb1_flag xrsb1_num xrsb1_flag_excluded'),
    ]),
    ('xrsb2_flux', '<f4', (), [
        ('ancillary_variables', STR, 'xrsb2_flag xrsb2_num xrsb2_flag_excluded'),
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-B2 average flux.'),
        ('comments', STR, 'Electron contamination has been removed. xrsb2_flux =  xrsb2_flux_observed - xrsb2_flux_electrons'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 3e-08),
        ('valid_max', SCALAR, '<f4', 0.2),
    ]),
    ('xrsb2_flux_electrons', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-B2 electron contamination.'),
        ('comments', STR, 'Estimated electron contamination in XRS-B2 flux measurement based on SEISS MPSHI measurements.'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 0.0),
        ('valid_max', SCALAR, '<f4', 1e-06),
        ('ancillary_variables', STR, 'xrsb2_flag'),
    ]),
    ('xrsb_flag', '|u1', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '|u1', 255),
        ('long_name', STR, 'Flags for xrsb_flux.'),
        ('comments', STR, 'e_contam_significant is set when the electron contamination is greater than 50% of observed signal. good_data is independent of electron contamination flags. electron_correction_interp is set when the electron contamination is interpolated because a short period of SEISS MPSHI is missing. electron_correction_decay is set when the correction is smoothly turned off with a decay over a ~2 hour period because SEISS MPSHI data is missing, and no future value is known. electron_correction_invalid is set after 1 hour of decay.'),
        ('flag_masks', ARRAY, '|u1', [3, 1, 2, 4, 8, 8, 48, 48]),
        ('flag_values', ARRAY, '|u1', [0, 1, 2, 4, 0, 8, 16, 32]),
        ('flag_meanings', STR, 'good_data eclipse bad_data e_contam_significant e_correction_valid e_correction_invalid e_correction_interp e_correction_decay'),
    ]),
    ('xrsb_flag_excluded', '<u2', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<u2', 65535),
        ('long_name', STR, 'Flags on data excluded from xrsb_flux average.'),
        ('comments', STR, 'Union of flags set for data points that were excluded from the XRS-B average.'),
        ('flag_masks', ARRAY, '<u2', [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
        ('flag_values', ARRAY, '<u2', [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
        ('flag_meanings', STR, 'eclipse particle_spike calibration off_point temperature_error data_quality_error pointing_error invalid_mode missing_data L0_error'),
    ]),
    ('xrsb_flux', '<f4', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '<f4', -9999.0),
        ('long_name', STR, 'XRS-B primary average flux.'),
        ('comments', STR, 'Electron contamination has been removed. xrsb_flux =  xrsb_flux_observed - xrsb_flux_electrons'),
        ('units', STR, 'W/m2'),
        ('valid_min', SCALAR, '<f4', 1e-09),
        ('valid_max', SCALAR, '<f4', 0.2),
        ('ancillary_variables', STR, 'xrsb_flag xrsb_num xrsb_flag_excluded'),
    ]),
    ('xrsb_num', '|u1', (), [
        ('_Netcdf4Dimid', SCALAR, '<i4', 0),
        ('_FillValue', SCALAR, '|u1', 255),
        ('long_name', STR, 'Number of averaged measurements in xrsb_flux.'),
    ]),
]

# Dimension scales: name -> the NAME attribute netCDF-4 gives it.
TIME_SCALE_NAME = "time"
QUAD_DIODE_SCALE_NAME = "This is a netCDF dimension but not a netCDF variable.         4"
CHUNKED = dict(compression="gzip", compression_opts=4, shuffle=False, fletcher32=False, fill_time="alloc")

INSTRUMENT_ID = {16: "FM1", 17: "FM2", 18: "FM3", 19: "FM4"}
ORBITAL_SLOT = {16: "GOES-East", 17: "GOES-West", 18: "GOES-West", 19: "GOES-East"}


def flag_bit(meaning):
    """The flag value of a meaning, read from the layout (not hard-coded)."""
    attrs = dict((a[0], a[-1]) for a in next(v for v in VARIABLES if v[0] == "xrsa_flag")[3])
    words = attrs["flag_meanings"].split()
    return attrs["flag_values"][words.index(meaning)]


def excluded_bit(meaning):
    attrs = dict((a[0], a[-1]) for a in next(v for v in VARIABLES if v[0] == "xrsa_flag_excluded")[3])
    return attrs["flag_values"][attrs["flag_meanings"].split().index(meaning)]


# ---------------------------------------------------------------- inputs -> per-minute series

class Day:
    """One UTC day of minute data: fluxes (float or None) and flags (int or None)."""

    def __init__(self, date):
        self.date = date
        self.columns = {k: [None] * ROWS for k in ("xrsa_flux", "xrsb_flux", "xrsa_flag", "xrsb_flag")}

    def set(self, minute, key, value):
        if not 0 <= minute < ROWS:
            raise SystemExit(f"minute {minute} is outside 0..1439")
        self.columns[key][minute] = value


def parse_time(text, date):
    text = text.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1]
    t = dt.datetime.fromisoformat(text)
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if t.date() != date:
        raise SystemExit(f"time {text} is not on {date}")
    if t.second or t.microsecond:
        raise SystemExit(f"time {text} is not on a whole minute")
    return t.hour * 60 + t.minute


def number(value, key):
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if key.endswith("_flag"):
        return int(value)
    return float(value)


def day_from_rows(rows, date):
    day = Day(date)
    for row in rows:
        if "minute" in row and row["minute"] not in (None, ""):
            minute = int(row["minute"])
        elif "time" in row:
            minute = parse_time(str(row["time"]), date)
        else:
            raise SystemExit("each row needs `time` or `minute`")
        for key in day.columns:
            if key in row:
                day.set(minute, key, number(row[key], key))
    return day


def read_csv(path, date):
    with open(path, newline="") as f:
        return day_from_rows(csv.DictReader(f), date)


def read_json(path, date):
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, list):
        return day_from_rows(data, date)
    if isinstance(data, dict):
        day = Day(date)
        for key, values in data.items():
            if key not in day.columns:
                raise SystemExit(f"unknown column {key!r}")
            if len(values) != ROWS:
                raise SystemExit(f"column {key} has {len(values)} values, expected {ROWS}")
            for minute, v in enumerate(values):
                day.set(minute, key, number(v, key))
        return day
    raise SystemExit("JSON input must be an array of rows or an object of columns")


def read_swpc(path):
    """SWPC feed -> ({date: Day}, satellite numbers seen)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        records = json.load(f)
    contam = flag_bit("e_contam_significant")
    days, satellites = {}, set()
    band = {"0.05-0.4nm": "xrsa", "0.1-0.8nm": "xrsb"}
    for r in records:
        prefix = band.get(r.get("energy"))
        if prefix is None:
            continue
        t = dt.datetime.fromisoformat(r["time_tag"].replace("Z", "+00:00")).astimezone(dt.timezone.utc)
        if t.second or t.microsecond:
            raise SystemExit(f"time_tag {r['time_tag']} is not on a whole minute")
        day = days.setdefault(t.date(), Day(t.date()))
        minute = t.hour * 60 + t.minute
        flux = r.get("flux")
        day.set(minute, f"{prefix}_flux", None if flux is None else float(flux))
        day.set(minute, f"{prefix}_flag", contam if r.get("electron_contaminaton") else 0)
        if r.get("satellite") is not None:
            satellites.add(int(r["satellite"]))
    return days, satellites


# ---------------------------------------------------------------- writing

def file_name(satellite, date, version):
    return f"sci_xrsf-l2-avg1m_g{satellite:02d}_d{date:%Y%m%d}_v{version}.nc"


def global_attrs(satellite, date, version, source):
    day = f"{date:%Y%m%d}"
    nxt = date + dt.timedelta(days=1)
    inputs = (f"sci_mpsh-l2-avg1m_g{satellite:02d}_d{day}_v1-0-3.nc, "
              f"sci_xrsf-l2-flx1s_g{satellite:02d}_d{day}_v{version}.nc")
    replaced = {
        "history": f"Synthetic file written by flare-plus tools/gen_goes_avg1m.py from {source}; "
                   "not NOAA data. See algorithm information.",
        "id": file_name(satellite, date, version),
        "date_created": f"{nxt:%Y-%m-%d}T00:00:00.000Z",
        "instrument_id": INSTRUMENT_ID.get(satellite, ""),
        "orbital_slot": ORBITAL_SLOT.get(satellite, ""),
        "platform": f"g{satellite:02d}",
        "time_coverage_start": f"{date:%Y-%m-%d}T00:00:00.000Z",
        "time_coverage_end": f"{nxt:%Y-%m-%d}T00:00:00.000Z",
        "processing_parameters_file": f"g{satellite:02d}_xrs-avg-electron-contam-lut_v1.h5",
        "input_files_first": inputs,
        "input_files_last": inputs,
    }
    out = []
    for attr in GLOBAL_ATTRS:
        name = attr[0]
        out.append((name, attr[1], replaced[name]) if name in replaced else attr)
    return out


def write_attr(obj, attr):
    name, kind = attr[0], attr[1]
    if kind == STR:
        obj.attrs[name] = attr[2]
    elif kind == FIXED_ASCII:
        value = attr[2].encode("ascii")
        tid = h5py.h5t.C_S1.copy()
        tid.set_size(len(value))
        tid.set_strpad(h5py.h5t.STR_NULLPAD)
        aid = h5py.h5a.create(obj.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
        aid.write(np.array(value, dtype=f"S{len(value)}"), mtype=tid)
    elif kind == SCALAR:
        obj.attrs.create(name, np.array(attr[3], dtype=attr[2]))
    elif kind == ARRAY:
        obj.attrs.create(name, np.array(attr[3], dtype=attr[2]))
    else:
        raise ValueError(kind)


def variable_data(day):
    """Every variable's data for one day, from the four input columns."""
    def f32(values):
        return np.array([FILL_F4 if v is None else v for v in values], dtype="<f4")

    a, b = day.columns["xrsa_flux"], day.columns["xrsb_flux"]
    present_a = np.array([v is not None for v in a])
    present_b = np.array([v is not None for v in b])

    def flags(values, present):
        return np.array([(0 if p else FILL_U1) if v is None else v for v, p in zip(values, present)],
                        dtype="u1")

    def zeros_where(present):
        return np.where(present, np.float32(0.0), FILL_F4).astype("<f4")

    fill = np.full(ROWS, FILL_F4, dtype="<f4")
    missing = excluded_bit("missing_data")
    start = (dt.datetime.combine(day.date, dt.time()) - EPOCH).total_seconds()
    return {
        "time": start + 60.0 * np.arange(ROWS, dtype="<f8"),
        "xrsa_flux": f32(a), "xrsb_flux": f32(b),
        "xrsa_flag": flags(day.columns["xrsa_flag"], present_a),
        "xrsb_flag": flags(day.columns["xrsb_flag"], present_b),
        "xrsa1_flux": f32(a), "xrsb1_flux": f32(b), "xrsb1_flux_observed": f32(b),
        "xrsa1_flux_electrons": zeros_where(present_a), "xrsb1_flux_electrons": zeros_where(present_b),
        "xrsa2_flux": fill, "xrsa2_flux_electrons": fill,
        "xrsb2_flux": fill, "xrsb2_flux_electrons": fill,
        "xrsa_num": np.where(present_a, 60, 0).astype("u1"),
        "xrsb_num": np.where(present_b, 60, 0).astype("u1"),
        "xrsa_flag_excluded": np.where(present_a, 0, missing).astype("<u2"),
        "xrsb_flag_excluded": np.where(present_b, 0, missing).astype("<u2"),
        "au_factor": fill, "roll_angle": fill,
        "corrected_current_xrsb2": np.full((ROWS, 4), FILL_F4, dtype="<f4"),
    }


FILL_F4 = np.float32(-9999.0)
FILL_U1 = 255


def write_day(path, day, satellite, version, source, omit=()):
    data = variable_data(day)
    with h5py.File(path, "w", libver="earliest") as f:
        for attr in global_attrs(satellite, day.date, version, source):
            write_attr(f, attr)
        # Dimension scales first and attached before attributes are written, as h5netcdf
        # does, so attributes end up in the sample's storage order.
        quad = f.create_dataset("quad_diode", shape=(4,), dtype=">f4")
        quad.make_scale(QUAD_DIODE_SCALE_NAME)
        time = None
        if "time" not in omit:
            time = create(f, "time", data)
            time.make_scale(TIME_SCALE_NAME)
        for name, _, _, attrs in VARIABLES:
            if name in omit:
                continue
            if name == "quad_diode":
                ds = quad
            elif name == "time":
                ds = time
            else:
                ds = create(f, name, data)
                if time is not None:
                    ds.dims[0].attach_scale(time)
                if ds.ndim == 2:
                    ds.dims[1].attach_scale(quad)
            for attr in attrs:
                write_attr(ds, attr)


def create(f, name, data):
    _, dtype, extra, attrs = next(v for v in VARIABLES if v[0] == name)
    fill = next(a[3] for a in attrs if a[0] == "_FillValue")
    shape = (ROWS,) + tuple(extra)
    ds = f.create_dataset(name, shape=shape, maxshape=(None,) + tuple(extra), dtype=dtype,
                          chunks=shape, fillvalue=np.array(fill, dtype=dtype), **CHUNKED)
    ds[...] = data[name]
    return ds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv")
    src.add_argument("--json")
    src.add_argument("--swpc-json")
    p.add_argument("--date", type=dt.date.fromisoformat, help="UTC day (csv/json input)")
    p.add_argument("--satellite", type=int, help="GOES number (default for --swpc-json: the feed's)")
    p.add_argument("--version", default=DEFAULT_VERSION, help="file version tag X-Y-Z (default %(default)s)")
    p.add_argument("--out", help="output file (csv/json input); default: the archive name in --out-dir")
    p.add_argument("--out-dir", default=".", help="directory for archive-named output files")
    p.add_argument("--omit-variable", action="append", default=[], help="leave a variable out (test fixtures)")
    args = p.parse_args(argv)

    if args.satellite is not None and not 1 <= args.satellite <= 99:
        raise SystemExit("--satellite must be 1..99")
    os.makedirs(args.out_dir, exist_ok=True)
    if args.swpc_json:
        days, satellites = read_swpc(args.swpc_json)
        satellite = args.satellite
        if satellite is None:
            if len(satellites) != 1:
                raise SystemExit(f"the feed has satellites {sorted(satellites)}; pass --satellite")
            satellite = satellites.pop()
        for date in sorted(days):
            path = os.path.join(args.out_dir, file_name(satellite, date, args.version))
            write_day(path, days[date], satellite, args.version, os.path.basename(args.swpc_json),
                      args.omit_variable)
            print(path)
        return
    if args.date is None or args.satellite is None:
        raise SystemExit("--csv/--json need --date and --satellite")
    day = read_csv(args.csv, args.date) if args.csv else read_json(args.json, args.date)
    path = args.out or os.path.join(args.out_dir, file_name(args.satellite, args.date, args.version))
    write_day(path, day, args.satellite, args.version, os.path.basename(args.csv or args.json),
              args.omit_variable)
    print(path)


if __name__ == "__main__":
    main()
