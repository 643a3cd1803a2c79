//! Names the table and key a site-file parse error points at
//! (`link[2] (gamma–alpha)`, `host[alpha].jail[vpnus].kind`) and words serde's
//! message for people (`missing key inner`). May touch: nothing (pure).

use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The key path of the deepest key or value of `text` that holds `span`'s
/// start, else of the table whose header comes last before it (a table's own
/// span is only its header); when `text` is not even TOML, the header line
/// the error follows.
pub fn locate(text: &str, span: Range<usize>) -> String {
    let Ok(doc) = DeTable::parse(text) else {
        return header_before(text, span.start);
    };
    let mut spots = Vec::new();
    walk(text, doc.get_ref(), "", &mut spots);
    let at = span.start;
    let inside = spots
        .iter()
        .rev() // on a tie the later spot is the deeper one: the element, not its array
        .filter(|s| s.span.start <= at && at < s.span.end.max(s.span.start + 1))
        .min_by_key(|s| s.span.len());
    let under = spots
        .iter()
        .filter(|s| s.header && s.span.start <= at)
        .max_by_key(|s| s.span.start);
    match inside.or(under) {
        Some(s) => s.path.clone(),
        None => "site file".into(),
    }
}

/// A place in the document: a key, a value, or a table header.
struct Spot {
    span: Range<usize>,
    path: String,
    /// A `[table]` / `[[array]]` element, which owns the keys after it.
    header: bool,
}

fn walk(text: &str, table: &DeTable<'_>, base: &str, spots: &mut Vec<Spot>) {
    for (key, value) in table {
        let path = join(base, key.get_ref());
        spots.push(Spot {
            span: key.span(),
            path: path.clone(),
            header: false,
        });
        match value.get_ref() {
            DeValue::Table(t) => {
                spots.push(Spot {
                    span: value.span(),
                    path: path.clone(),
                    header: is_header(text, value),
                });
                walk(text, t, &path, spots);
            }
            DeValue::Array(items) => {
                spots.push(Spot {
                    span: value.span(),
                    path: path.clone(),
                    header: false,
                });
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}{}", label(key.get_ref(), i, item));
                    if let DeValue::Table(t) = item.get_ref() {
                        spots.push(Spot {
                            span: item.span(),
                            path: p.clone(),
                            header: is_header(text, item),
                        });
                        walk(text, t, &p, spots);
                    } else {
                        spots.push(Spot {
                            span: item.span(),
                            path: p,
                            header: false,
                        });
                    }
                }
            }
            _ => spots.push(Spot {
                span: value.span(),
                path,
                header: false,
            }),
        }
    }
}

/// A `[table]`'s span starts with `[`; an inline table's with `{`.
fn is_header(text: &str, v: &Spanned<DeValue<'_>>) -> bool {
    text.as_bytes().get(v.span().start) == Some(&b'[')
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

/// serde's wording, in the site file's terms: `missing field `inner`` →
/// `missing key inner`; `unknown field `x`, expected ...` → `unknown key x; expected ...`.
pub fn message(serde: &str) -> String {
    let m = serde.trim();
    if let Some(rest) = m.strip_prefix("missing field ") {
        return format!("missing key {}", rest.trim_matches('`'));
    }
    if let Some(rest) = m.strip_prefix("unknown field ") {
        if let Some((key, expected)) = rest.split_once(", ") {
            return format!("unknown key {}; {expected}", key.trim_matches('`'));
        }
        return format!("unknown key {}", rest.trim_matches('`'));
    }
    m.to_string()
}

/// `[alpha]` for a table with a `name`, `[2] (gamma–alpha)` for a link,
/// `[i]` otherwise.
fn label(array: &str, i: usize, item: &Spanned<DeValue<'_>>) -> String {
    let DeValue::Table(t) = item.get_ref() else {
        return format!("[{i}]");
    };
    let get = |k: &str| t.iter().find(|(key, _)| key.get_ref() == k).map(|(_, v)| v);
    if let Some(DeValue::String(n)) = get("name").map(|v| v.get_ref()) {
        return format!("[{n}]");
    }
    if array == "link"
        && let Some(DeValue::Array(hs)) = get("hosts").map(|v| v.get_ref())
    {
        let names: Vec<&str> = hs
            .iter()
            .filter_map(|h| match h.get_ref() {
                DeValue::String(s) => Some(s.as_ref()),
                _ => None,
            })
            .collect();
        return format!("[{i}] ({})", names.join("–"));
    }
    format!("[{i}]")
}

/// The last `[table]` or `[[array]]` header at or before `offset`.
fn header_before(text: &str, offset: usize) -> String {
    let end = offset.min(text.len());
    let head = text.get(..end).unwrap_or(text);
    head.lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.split('#').next().unwrap_or(l).trim().to_string())
        .unwrap_or_else(|| "top of the file".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "[site]\nname = \"w\"\n\
        [[host]]\nname = \"alpha\"\n[[host.jail]]\nname = \"vpnus\"\nkind = 1\n\
        [[link]]\nhosts = [\"a\", \"b\"]\n[[link]]\nhosts = [\"b\", \"c\"]\n[[link]]\nhosts = [\"gamma\", \"alpha\"]\nmode = \"swanctl\"\n";

    #[test]
    fn names_the_array_element_and_key() {
        let at = |needle: &str| {
            let start = SITE.find(needle).expect("in text");
            start..start + needle.len()
        };
        assert_eq!(locate(SITE, at("1\n")), "host[alpha].jail[vpnus].kind");
        // A whole table (serde's span for a missing key).
        let third = SITE.rfind("[[link]]").expect("third link");
        assert_eq!(locate(SITE, third..SITE.len()), "link[2] (gamma–alpha)");
        assert_eq!(
            locate(SITE, at("\"swanctl\"")),
            "link[2] (gamma–alpha).mode"
        );
        assert_eq!(locate(SITE, at("name = \"w\"")), "site.name");
        // A lone [[link]]: its array and its element share a span.
        let one = "[site]\nname = \"w\"\n[[link]]\nhosts = [\"a\", \"b\"]\n";
        let l = one.find("[[link]]").expect("link");
        assert_eq!(locate(one, l..l + 8), "link[0] (a–b)");
    }

    #[test]
    fn a_syntax_error_names_the_header_it_follows() {
        let t = "[site]\nname = \"w\"\n[[host]]\nname = = 3\n";
        let at = t.find("= =").expect("in text");
        assert_eq!(locate(t, at..at + 1), "[[host]]");
        assert_eq!(locate("x = = 1", 2..3), "top of the file");
    }

    #[test]
    fn words_serde_messages_for_people() {
        assert_eq!(message("missing field `inner`"), "missing key inner");
        assert_eq!(
            message("unknown field `foo`, expected one of `a`, `b`"),
            "unknown key foo; expected one of `a`, `b`"
        );
        assert_eq!(
            message("invalid type: string, expected i64"),
            "invalid type: string, expected i64"
        );
    }
}
