//! A checker for pf anchor files: every `$macro` used is defined earlier in the
//! same file (an anchor sees no macros of pf.conf), every `<table>` is declared,
//! and statements come in pf.conf(5) order: macros, tables, options,
//! normalization, queueing, translation, filtering; and that a vpn jail's
//! main ruleset blocks by default before its anchors ([`fails_closed`]).
//! May touch: nothing (pure).

use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PfError {
    pub line: usize,
    pub message: String,
}

/// Statement classes, in the order pf.conf(5) requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Macro,
    Table,
    Option,
    Normalization,
    Queueing,
    Translation,
    Filter,
}

fn classify(first: &str, second: Option<&str>) -> Option<Class> {
    if second == Some("=") {
        return Some(Class::Macro);
    }
    Some(match first {
        "table" => Class::Table,
        "set" => Class::Option,
        "scrub" | "scrub-anchor" => Class::Normalization,
        "altq" | "queue" => Class::Queueing,
        "nat" | "rdr" | "binat" | "no" | "nat-anchor" | "rdr-anchor" | "binat-anchor" => {
            Class::Translation
        }
        "pass" | "block" | "anchor" | "antispoof" | "load" => Class::Filter,
        _ => return None,
    })
}

/// One logical statement: continuation lines joined, comments removed.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (n, raw) in text.lines().enumerate() {
        let line = match raw.find('#') {
            Some(i) => &raw[..i],
            None => raw,
        };
        if cur.is_empty() {
            start = n + 1;
        }
        let t = line.trim_end();
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        if !cur.trim().is_empty() {
            out.push((start, cur.trim().to_string()));
        }
        cur.clear();
    }
    out
}

fn names_after(s: &str, sigil: char, end: Option<char>) -> Vec<String> {
    let mut v = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((_, c)) = it.next() {
        if c != sigil {
            continue;
        }
        let mut name = String::new();
        while let Some(&(_, n)) = it.peek() {
            if n.is_ascii_alphanumeric() || n == '_' {
                name.push(n);
                it.next();
            } else {
                break;
            }
        }
        let closed = match end {
            Some(e) => it.peek().map(|&(_, n)| n) == Some(e),
            None => true,
        };
        if !name.is_empty() && closed {
            v.push(name);
        }
    }
    v
}

/// Checks one anchor (or main ruleset) file; returns the statement classes in order.
pub fn check(text: &str) -> Result<Vec<Class>, PfError> {
    let mut macros = HashSet::new();
    let mut tables = HashSet::new();
    let mut last = Class::Macro;
    let mut classes = Vec::new();
    for (line, st) in statements(text) {
        let e = |message: String| Err(PfError { line, message });
        let mut words = st.split_whitespace();
        let first = words.next().unwrap_or_default();
        let Some(class) = classify(first, words.next()) else {
            return e(format!("unknown statement {first:?}"));
        };
        if class < last {
            return e(format!(
                "{class:?} statement after {last:?}: pf.conf(5) orders macros, tables, options, normalization, queueing, translation, filtering"
            ));
        }
        last = class;
        classes.push(class);
        let (depth_b, depth_p) = st.chars().fold((0i32, 0i32), |(b, p), c| match c {
            '{' => (b + 1, p),
            '}' => (b - 1, p),
            '(' => (b, p + 1),
            ')' => (b, p - 1),
            _ => (b, p),
        });
        if depth_b != 0 || depth_p != 0 {
            return e("unbalanced braces or parentheses".into());
        }
        if st.matches('"').count() % 2 != 0 {
            return e("unterminated quoted string".into());
        }
        let body = if class == Class::Macro {
            st.split_once('=').map(|x| x.1).unwrap_or_default()
        } else {
            &st
        };
        for m in names_after(body, '$', None) {
            if !macros.contains(&m) {
                return e(format!(
                    "macro ${m} is used but not defined in this file (anchors do not see pf.conf's macros)"
                ));
            }
        }
        match class {
            Class::Macro => {
                macros.insert(first.to_string());
            }
            Class::Table => {
                for t in names_after(&st, '<', Some('>')).into_iter().take(1) {
                    tables.insert(t);
                }
            }
            _ => {
                for t in names_after(&st, '<', Some('>')) {
                    if !tables.contains(&t) {
                        return e(format!("table <{t}> is used but not declared in this file"));
                    }
                }
            }
        }
    }
    Ok(classes)
}

/// Checks that a vpn jail's main ruleset fails closed: a `block log all`
/// comes before every anchor and `load anchor`, and the file itself passes
/// nothing (its anchors decide what passes, so an anchor that failed to load
/// leaves everything blocked).
pub fn fails_closed(text: &str) -> Result<(), PfError> {
    let mut blocked = false;
    for (line, st) in statements(text) {
        let words: Vec<&str> = st.split_whitespace().collect();
        let e = |message: &str| {
            Err(PfError {
                line,
                message: message.into(),
            })
        };
        match words.first().copied() {
            Some("block") => {
                let is_default = words.contains(&"log") && words.last() == Some(&"all");
                let quick = words.contains(&"quick");
                if is_default && !quick {
                    blocked = true;
                }
            }
            Some("pass") => return e("a vpn jail's pf.conf must not pass anything itself"),
            Some("anchor") | Some("load") if !blocked => {
                return e("the anchors come before `block log all`: the jail would fail open");
            }
            _ => {}
        }
    }
    if blocked {
        Ok(())
    } else {
        Err(PfError {
            line: 0,
            message: "no `block log all`: a vpn jail must block by default".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vpn_main_ruleset_must_block_before_its_anchors() {
        let good = "set skip on lo0\nnat-anchor \"vpnjail/*\"\nblock log all\nanchor \"vpnjail/*\"\nload anchor \"vpnjail/dns\" from \"/x\"\n";
        assert_eq!(fails_closed(good), Ok(()));
        let late = "anchor \"vpnjail/*\"\nblock log all\n";
        assert!(
            fails_closed(late)
                .unwrap_err()
                .message
                .contains("fail open")
        );
        assert!(fails_closed("anchor \"vpnjail/*\"\n").is_err());
        assert!(fails_closed("block log all\npass all\n").is_err());
        // A quick block is not a default.
        assert!(fails_closed("block log quick all\nanchor \"a\"\n").is_err());
    }

    #[test]
    fn accepts_platform_reference_anchor() {
        let text = "lan_if = \"e0b_vpn1\"\nlan_net = \"10.10.1.0/24\"\nvpn_dns = \"10.8.0.1\"\nnat on tun0 inet from $lan_net to any -> (tun0)\nrdr on $lan_if inet proto { udp tcp } from any to ($lan_if) port 53 -> $vpn_dns port 53\npass in quick on $lan_if inet proto { udp tcp } to $vpn_dns port 53\npass out quick on tun0 keep state\n";
        let c = check(text).unwrap();
        assert_eq!(c.last(), Some(&Class::Filter));
    }

    #[test]
    fn rejects_undefined_macro() {
        let e = check("nat on $ext_if from any to any -> ($ext_if)\n").unwrap_err();
        assert!(e.message.contains("$ext_if"), "{e}");
    }

    #[test]
    fn rejects_filter_before_translation() {
        let e = check("pass all\nnat on em0 from any to any -> (em0)\n").unwrap_err();
        assert!(
            e.message.contains("Translation statement after Filter"),
            "{e}"
        );
    }

    #[test]
    fn rejects_undeclared_table_and_unbalanced() {
        assert!(check("pass in from <x> to any\n").is_err());
        assert!(check("pass in proto { udp tcp to any\n").is_err());
        assert!(check("table <x> const { 10.0.0.0/8 }\npass in from <x> to any\n").is_ok());
    }
}
