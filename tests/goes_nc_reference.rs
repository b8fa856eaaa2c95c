//! Every sample file, read by the low-level reader, equals what h5py (libhdf5) read from it:
//! times to the millisecond, floats bit for bit, flags exactly, fill values as missing.

mod goes_nc_support;

use chrono::NaiveDateTime;
use flare_plus::sources::goes_nc::{read_xrs, read_xrs_path, XrsFile};
use goes_nc_support::{archive, bytes, Csv};

/// (file, reference CSV). The leap-second file has no shared reference; its CSV was written
/// here by tools/reference_csv.py, which reproduces the five shared ones byte for byte.
const SAMPLES: [(&str, &str); 6] = [
    (
        "sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc",
        "sci_xrsf-l2-avg1m_g16_d20210101_truncated.csv",
    ),
    (
        "sci_xrsf-l2-avg1m_g15_d20190102_truncated.nc",
        "sci_xrsf-l2-avg1m_g15_d20190102_truncated.csv",
    ),
    (
        "sci_gxrs-l2-irrad_g13_d20170901_truncated.nc",
        "sci_gxrs-l2-irrad_g13_d20170901_truncated.csv",
    ),
    (
        "sci_gxrs-l2-irrad_g15_d20131028_truncated.nc",
        "sci_gxrs-l2-irrad_g15_d20131028_truncated.csv",
    ),
    (
        "sci_xrsf-l2-flx1s_g17_d20201016_truncated.nc",
        "sci_xrsf-l2-flx1s_g17_d20201016_truncated.csv",
    ),
    ("goes_13_leap_second.nc", "goes_13_leap_second.local.csv"),
];

#[derive(Debug, Clone, Copy)]
enum Column {
    Flux(Band),
    Flag(Band),
}

#[derive(Debug, Clone, Copy)]
enum Band {
    Short,
    Long,
}

fn band(file: &XrsFile, band: Band) -> &flare_plus::sources::goes_nc::XrsBand {
    match band {
        Band::Short => &file.short,
        Band::Long => &file.long,
    }
}

/// Compares one file with its CSV; returns the number of cells compared.
fn check(nc: &str, csv: &str) -> usize {
    let file = read_xrs(&bytes(&archive(nc))).unwrap_or_else(|e| panic!("{nc}: {e}"));
    assert_eq!(
        read_xrs_path(&archive(nc)).unwrap(),
        file,
        "{nc}: path and bytes readers differ"
    );
    let reference = Csv::read(&archive(csv));
    assert_eq!(file.rows(), reference.rows.len(), "{nc}: row count");

    // The reference columns this reader produces: time, both fluxes, both flags.
    let mut columns = Vec::new();
    for (name, column) in [
        (&file.short.flux_variable, Column::Flux(Band::Short)),
        (&file.long.flux_variable, Column::Flux(Band::Long)),
        (&file.short.flag_variable, Column::Flag(Band::Short)),
        (&file.long.flag_variable, Column::Flag(Band::Long)),
    ] {
        let index = reference
            .column(name)
            .unwrap_or_else(|| panic!("{csv} lacks column {name}"));
        columns.push((index, column));
    }
    let time_index = reference.column("time").expect("time column");

    let mut compared = 0;
    for (row, cells) in reference.rows.iter().enumerate() {
        let want = NaiveDateTime::parse_from_str(&cells[time_index], "%Y-%m-%dT%H:%M:%S%.3f")
            .unwrap_or_else(|e| panic!("{csv} row {row}: {e}"))
            .and_utc();
        let got = file.times[row].unwrap_or_else(|| panic!("{nc} row {row}: no time"));
        // The reference truncates to milliseconds (Python isoformat), so compare that way.
        assert_eq!(
            got.timestamp_millis(),
            want.timestamp_millis(),
            "{nc} row {row}: time {got} vs {want}"
        );
        compared += 1;
        for &(index, column) in &columns {
            let cell = &cells[index];
            match column {
                Column::Flux(b) => {
                    let got = band(&file, b).flux[row];
                    let want = (!cell.is_empty()).then(|| cell.parse::<f64>().unwrap());
                    assert_eq!(
                        got.map(f64::to_bits),
                        want.map(f64::to_bits),
                        "{nc} row {row} {}: {got:?} vs {cell}",
                        band(&file, b).flux_variable
                    );
                }
                Column::Flag(b) => {
                    let got = band(&file, b).flags[row];
                    let want = (!cell.is_empty()).then(|| cell.parse::<u64>().unwrap());
                    assert_eq!(got, want, "{nc} row {row} {}", band(&file, b).flag_variable);
                }
            }
            compared += 1;
        }
    }
    compared
}

#[test]
fn goes16_avg1m_matches_reference() {
    assert_eq!(check(SAMPLES[0].0, SAMPLES[0].1), 100 * 5);
}

#[test]
fn goes15_avg1m_matches_reference() {
    assert_eq!(check(SAMPLES[1].0, SAMPLES[1].1), 51 * 5);
}

#[test]
fn goes13_irradiance_matches_reference() {
    assert_eq!(check(SAMPLES[2].0, SAMPLES[2].1), 601 * 5);
}

#[test]
fn goes15_irradiance_matches_reference() {
    assert_eq!(check(SAMPLES[3].0, SAMPLES[3].1), 601 * 5);
}

#[test]
fn goes17_flx1s_matches_reference() {
    assert_eq!(check(SAMPLES[4].0, SAMPLES[4].1), 51 * 5);
}

#[test]
fn goes13_leap_second_matches_reference() {
    assert_eq!(check(SAMPLES[5].0, SAMPLES[5].1), 100 * 5);
}

#[test]
fn variables_units_and_attributes_are_the_files_own() {
    let g16 = read_xrs(&bytes(&archive(SAMPLES[0].0))).unwrap();
    assert_eq!(g16.platform.as_deref(), Some("g16"));
    assert_eq!(g16.time_coverage_resolution.as_deref(), Some("PT1M"));
    assert_eq!(g16.time_units, "seconds since 2000-01-01T12:00:00");
    assert_eq!(
        (
            g16.short.flag_variable.as_str(),
            g16.long.flux_variable.as_str()
        ),
        ("xrsa_flag", "xrsb_flux")
    );
    assert!(g16.short.flag_spec.defines("e_contam_significant"));

    let g15 = read_xrs(&bytes(&archive(SAMPLES[1].0))).unwrap();
    assert_eq!(g15.platform.as_deref(), Some("g15"));
    assert!(!g15.short.flag_spec.defines("e_contam_significant"));
    assert!(g15.short.flag_spec.defines("temperature_recovery"));

    let irrad = read_xrs(&bytes(&archive(SAMPLES[2].0))).unwrap();
    // Blank platform attribute: unknown, not "".
    assert_eq!(irrad.platform, None);
    assert_eq!(irrad.time_units, "seconds since 1970-01-01 00:00:00.0 UTC");
    assert_eq!(
        (
            irrad.short.flux_variable.as_str(),
            irrad.long.flag_variable.as_str()
        ),
        ("a_flux", "b_flags")
    );

    let flx1s = read_xrs(&bytes(&archive(SAMPLES[4].0))).unwrap();
    assert_eq!(flx1s.short.flag_variable, "xrsa_flags");
    assert_eq!(flx1s.time_coverage_resolution.as_deref(), Some("PT1S"));
}

#[test]
fn leap_second_file_ends_before_the_inserted_second() {
    // POSIX-style seconds since 1970: 2015-06-30T23:59:60 is not representable; the file
    // runs up to 23:59:59.965 and the times increase throughout.
    let file = read_xrs(&bytes(&archive(SAMPLES[5].0))).unwrap();
    let times: Vec<_> = file.times.iter().map(|t| t.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        times.last().unwrap().to_rfc3339(),
        "2015-06-30T23:59:59.965+00:00"
    );
}
