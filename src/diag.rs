//! The diagnostic kit of the two file checkers (`proxy::config`,
//! `deploy::check`): one [`Problem`] type, where a byte offset is, and a
//! list of problems written one a line. Pure; touches nothing.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a file a checker read, located as well as it can
/// be, written `file:line:column: key: message` with the parts it has not
/// left out (`file: message` for the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    /// 1-based; 0 when only the line is known (the site checker's problems).
    pub column: usize,
    /// The key, written as a path (`host[alpha].jail[vpnus].provider_dns`);
    /// empty when the message names it (the vpndns config's problems).
    pub key: String,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl Problem {
    /// A problem at 1-based `(line, column)` of `file`.
    pub fn at(
        file: impl Into<PathBuf>,
        (line, column): (usize, usize),
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            file: file.into(),
            line,
            column,
            key: String::new(),
            message: message.into(),
        }
    }

    /// A problem about `file` as a whole.
    pub fn whole(file: impl Into<PathBuf>, message: impl Into<String>) -> Problem {
        Problem::at(file, (0, 0), message)
    }

    /// A problem with `key` at 1-based `line` of `file` (0: the whole file).
    pub fn keyed(
        file: impl Into<PathBuf>,
        line: usize,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            key: key.into(),
            ..Problem::at(file, (line, 0), message)
        }
    }

    /// The line and column, when both are known.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        (self.line > 0 && self.column > 0).then_some((self.line, self.column))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// 1-based line and column of byte `offset` in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src.as_bytes()[..offset.min(src.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

/// Writes `problems` one a line, without a newline after the last.
pub fn write_lines<T: fmt::Display>(f: &mut fmt::Formatter<'_>, problems: &[T]) -> fmt::Result {
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            f.write_str("\n")?;
        }
        write!(f, "{p}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_writes_the_parts_it_has() {
        let f = "/etc/vpndns/vpndns.toml";
        assert_eq!(
            Problem::at(f, (3, 11), "timeout: expected a duration").to_string(),
            "/etc/vpndns/vpndns.toml:3:11: timeout: expected a duration"
        );
        assert_eq!(
            Problem::whole(f, "cannot read config: gone").to_string(),
            "/etc/vpndns/vpndns.toml: cannot read config: gone"
        );
        let site = Problem::keyed("site.toml", 7, "host[alpha].name", "must be set");
        assert_eq!(
            site.to_string(),
            "site.toml:7: host[alpha].name: must be set"
        );
        assert_eq!(site.line_col(), None, "a line without a column");
        assert_eq!(
            Problem::keyed("site.toml", 0, "site file", "bad").to_string(),
            "site.toml: site file: bad"
        );
        assert_eq!(Problem::at(f, (3, 11), "x").line_col(), Some((3, 11)));
    }
}
