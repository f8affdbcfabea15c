//! What `check-config` reports: one [`Problem`] per mistake, each saying where it is, what is
//! wrong and what to write instead.

use std::fmt;

/// One mistake in the configuration.
///
/// `Display` gives `file:line:column: key: message; hint`, the form editors and CI logs turn
/// into clickable locations. A problem without a position in a file (an environment override,
/// or settings built in code) prints without `:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the problem is in, as given by the operator, or `environment variable NAME`.
    pub file: String,
    /// 1-based line; 0 when there is no position.
    pub line: usize,
    /// 1-based column in characters; 0 when there is no position.
    pub column: usize,
    /// Dotted path of the key, e.g. `substation[3].network` (array indices count from 0);
    /// empty for syntax errors.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub hint: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            f.write_str(&self.file)?;
            if self.line > 0 {
                write!(f, ":{}:{}", self.line, self.column)?;
            }
            f.write_str(": ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if !self.hint.is_empty() {
            write!(f, "; {}", self.hint)?;
        }
        Ok(())
    }
}

/// Every problem found in a configuration; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Byte offsets to 1-based line and column (columns count characters, so `ś` is one column).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Index the line starts of `text`.
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// Line and column of byte `offset` in `text` (the text this index was built from).
    pub(crate) fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line.saturating_sub(1)];
        let column = text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line, column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_position() {
        let mut p = Problem {
            file: "a.toml".into(),
            line: 3,
            column: 7,
            key: "substation[3].network".into(),
            message: "no network `net-x`".into(),
            hint: "did you mean `net-1`?".into(),
        };
        assert_eq!(
            p.to_string(),
            "a.toml:3:7: substation[3].network: no network `net-x`; did you mean `net-1`?"
        );
        p.line = 0;
        p.file = "environment variable HEATKPI__SITE__TIMEZONE".into();
        p.hint.clear();
        assert_eq!(
            p.to_string(),
            "environment variable HEATKPI__SITE__TIMEZONE: substation[3].network: no network `net-x`"
        );
    }

    #[test]
    fn positions_count_characters() {
        let text = "a = 1\nname = \"Łódź\" x\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.position(text, 0), (1, 1));
        assert_eq!(idx.position(text, 6), (2, 1));
        let x = text.find(" x").unwrap() + 1;
        // `name = "Łódź" ` is 14 characters, so `x` is in column 15.
        assert_eq!(idx.position(text, x), (2, 15));
        assert_eq!(idx.position(text, text.len()), (3, 1));
    }
}
