//! Splits an SRS into its sections and yields the data lines of Sections I and IA.
//!
//! A section starts at a line `I.`, `IA.`, `II.`, `III.` (any case; the text after the
//! numeral varies by era). Lines before Section I are the preamble; inside a section, blank
//! lines, the column header (`NMBR ...`) and `NONE` are not data. `NNN` (the old teletype
//! end-of-message mark) ends the product. Sections only move forward (I, IA, II, III), so a
//! comment line such as `I.E. ...` in Section III is not taken for a Section I header.

/// Sections of an SRS, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Section {
    /// `I. Regions with Sunspots`.
    Spots,
    /// `IA. H-alpha Plages without Spots`.
    Plages,
    /// `II. Regions Due to Return`.
    DueToReturn,
    /// `III. Comments` and any later numeral: free text.
    Other,
}

impl Section {
    /// The section a (trimmed, upper-cased) line opens, if it is a section header.
    pub(crate) fn of_header(upper: &str) -> Option<Section> {
        let (numeral, _) = upper.split_once('.')?;
        match numeral {
            "I" => Some(Section::Spots),
            "IA" => Some(Section::Plages),
            "II" => Some(Section::DueToReturn),
            "III" | "IV" | "V" => Some(Section::Other),
            _ => None,
        }
    }
}

/// One candidate data line of Section I or IA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DataLine<'a> {
    /// 1-based line number in the file.
    pub line: usize,
    pub section: Section,
    /// The line as written (without its line break).
    pub text: &'a str,
}

/// What a scan of the file found.
#[derive(Debug, Default)]
pub(crate) struct Scan<'a> {
    /// Whether a Section I header was seen (an SRS has one even when it lists no region).
    pub has_spots_section: bool,
    /// Data lines of Sections I and IA, in file order.
    pub lines: Vec<DataLine<'a>>,
}

pub(crate) fn scan(text: &str) -> Scan<'_> {
    let mut out = Scan::default();
    let mut current: Option<Section> = None;
    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        let upper = trimmed.to_ascii_uppercase();
        if upper == "NNN" {
            break;
        }
        if let Some(section) = Section::of_header(&upper) {
            if current.is_none_or(|c| section > c) {
                out.has_spots_section |= section == Section::Spots;
                current = Some(section);
                continue;
            }
        }
        let Some(section @ (Section::Spots | Section::Plages)) = current else {
            continue;
        };
        if upper.is_empty() || upper.starts_with("NMBR") || upper == "NONE" {
            continue;
        }
        out.lines.push(DataLine {
            line: index + 1,
            section,
            text: raw,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_by_numeral() {
        assert_eq!(
            Section::of_header("I.  REGIONS WITH SUNSPOTS."),
            Some(Section::Spots)
        );
        assert_eq!(
            Section::of_header("IA. H-ALPHA PLAGES"),
            Some(Section::Plages)
        );
        assert_eq!(
            Section::of_header("II. REGIONS DUE"),
            Some(Section::DueToReturn)
        );
        assert_eq!(Section::of_header("III. COMMENTS"), Some(Section::Other));
        assert_eq!(Section::of_header("7938  N12W41"), None);
        assert_eq!(Section::of_header("SEC.NOAA.GOV/MIXEDCASE.HTML"), None);
        assert_eq!(Section::of_header(""), None);
    }

    #[test]
    fn only_data_lines_of_i_and_ia() {
        let text = "preamble 1234\nI. Regions\nNmbr Location\n\n0001 N21W48\nIA. Plages\nNone\n9997  N17W72   016\nII. Return\n9973 S15 211\nIII. x\n1 2\n";
        let s = scan(text);
        assert!(s.has_spots_section);
        let got: Vec<_> = s
            .lines
            .iter()
            .map(|l| (l.line, l.section, l.text))
            .collect();
        assert_eq!(
            got,
            vec![
                (5, Section::Spots, "0001 N21W48"),
                (8, Section::Plages, "9997  N17W72   016"),
            ]
        );
        let backwards = scan("I. R\nII. R\nI.E. text\n1 N\n");
        assert!(backwards.lines.is_empty());
        let stopped = scan("I. R\n1 N\nNNN\n2 N\n");
        assert_eq!(stopped.lines.len(), 1);
        assert!(!scan("II. only\n1 2 3\n").has_spots_section);
    }
}
