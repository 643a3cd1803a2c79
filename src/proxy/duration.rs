//! Durations as the config writes them (`"1500ms"`, `"2s"`, `"24h"`).
//! Pure: shared by the vpndns config and vpnjail's site checks.

use std::time::Duration;

/// `"1500ms"`, `"1.5s"`, `"2s"`, `"1m"`, `"24h"`, `"7d"`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => num / 1000.0,
        "s" => num,
        "m" => num * 60.0,
        "h" => num * 3600.0,
        "d" => num * 86400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}
