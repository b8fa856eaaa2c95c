//! Fixture paths and a minimal CSV reader for the GOES netCDF tests.
#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

/// `fixtures/noaa-archive/<name>`: real NCEI files and their h5py reference CSVs.
pub fn archive(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/noaa-archive")
        .join(name)
}

/// `fixtures/goes-avg1m-generated/<name>`: files written by tools/gen_goes_avg1m.py.
pub fn generated(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/goes-avg1m-generated")
        .join(name)
}

pub fn bytes(path: &PathBuf) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A CSV without quoting (all fixtures are plain): header, then rows of cells. CRLF or LF.
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    pub fn read(path: &PathBuf) -> Csv {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
        let header: Vec<String> = lines
            .next()
            .expect("CSV has a header")
            .split(',')
            .map(str::to_string)
            .collect();
        let rows: Vec<Vec<String>> = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        for row in &rows {
            assert_eq!(
                row.len(),
                header.len(),
                "{}: ragged row {row:?}",
                path.display()
            );
        }
        Csv { header, rows }
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}
