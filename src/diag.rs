//! The diagnostic kit of the two file checkers (`proxy::config`,
//! `deploy::check`): where a byte offset is, and a list of problems written
//! one a line. Pure; touches nothing.

use std::fmt;

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
