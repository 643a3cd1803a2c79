//! A small parser of the jail.conf(5) grammar, used to check generated files:
//! blocks, `name [= | +=] value[, value...];` parameters, `$variables`, the three
//! comment styles, quoting, and variable expansion as jail(8) does it.
//! May touch: nothing (pure).

use std::collections::HashMap;

/// A parsed jail.conf file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JailConf {
    /// Parameters outside any block (they apply to every jail).
    pub global: Vec<Param>,
    pub jails: Vec<JailBlock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailBlock {
    pub name: String,
    pub line: usize,
    pub params: Vec<Param>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Parameter name, or `$name` for a variable.
    pub name: String,
    pub line: usize,
    /// `true` for `+=`.
    pub append: bool,
    /// Values as jail(8) sees them after quote removal and variable expansion.
    pub values: Vec<String>,
}

impl JailBlock {
    /// All values of a parameter, `+=` lines appended in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|p| p.name == name)
            .flat_map(|p| p.values.iter().map(String::as_str))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Var(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A word or quoted string, as pieces of literal text and variable refs.
    Str(Vec<Piece>),
    LBrace,
    RBrace,
    Semi,
    Eq,
    PlusEq,
    Comma,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !"{};,=\"'#".contains(c)
}

/// Reads a `$name` or `${name}` reference after the `$`; `None` when the `$`
/// is literal (jaillex.l: `$` not followed by a name or `{`).
fn var_ref(chars: &[char], i: &mut usize, line: usize) -> Result<Option<String>, ParseError> {
    let start = *i;
    if chars.get(start) == Some(&'{') {
        let mut j = start + 1;
        let mut name = String::new();
        while let Some(&c) = chars.get(j) {
            if c == '}' {
                break;
            }
            name.push(c);
            j += 1;
        }
        if chars.get(j) != Some(&'}') || name.is_empty() {
            return err(line, "unterminated ${...} variable reference");
        }
        *i = j + 1;
        return Ok(Some(name));
    }
    let mut j = start;
    let mut name = String::new();
    while let Some(&c) = chars.get(j) {
        if c.is_ascii_alphanumeric() || c == '_' || (c == '.' && !name.is_empty()) {
            name.push(c);
            j += 1;
        } else {
            break;
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(None);
    }
    *i = j;
    Ok(Some(name))
}

fn push_lit(pieces: &mut Vec<Piece>, c: char) {
    if let Some(Piece::Lit(s)) = pieces.last_mut() {
        s.push(c);
    } else {
        pieces.push(Piece::Lit(c.to_string()));
    }
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let start = line;
                i += 2;
                loop {
                    match chars.get(i) {
                        None => return err(start, "unterminated /* comment"),
                        Some('*') if chars.get(i + 1) == Some(&'/') => {
                            i += 2;
                            break;
                        }
                        Some('\n') => {
                            line += 1;
                            i += 1;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            '{' => {
                toks.push((line, Tok::LBrace));
                i += 1;
            }
            '}' => {
                toks.push((line, Tok::RBrace));
                i += 1;
            }
            ';' => {
                toks.push((line, Tok::Semi));
                i += 1;
            }
            ',' => {
                toks.push((line, Tok::Comma));
                i += 1;
            }
            '=' => {
                toks.push((line, Tok::Eq));
                i += 1;
            }
            '+' if chars.get(i + 1) == Some(&'=') => {
                toks.push((line, Tok::PlusEq));
                i += 2;
            }
            '\'' => {
                let start = line;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err(start, "unterminated '...' string"),
                        Some('\'') => break,
                        Some(&ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                toks.push((start, Tok::Str(vec![Piece::Lit(s)])));
            }
            '"' => {
                let start = line;
                let mut pieces = Vec::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err(start, "unterminated \"...\" string"),
                        Some('"') => break,
                        Some('\\') => {
                            let Some(&n) = chars.get(i + 1) else {
                                return err(line, "backslash at end of file");
                            };
                            match n {
                                '\n' => line += 1,
                                'n' => push_lit(&mut pieces, '\n'),
                                't' => push_lit(&mut pieces, '\t'),
                                other => push_lit(&mut pieces, other),
                            }
                            i += 2;
                        }
                        Some('$') => {
                            i += 1;
                            match var_ref(&chars, &mut i, line)? {
                                Some(v) => pieces.push(Piece::Var(v)),
                                None => push_lit(&mut pieces, '$'),
                            }
                        }
                        Some(&ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            push_lit(&mut pieces, ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                toks.push((start, Tok::Str(pieces)));
            }
            _ => {
                let mut pieces = Vec::new();
                while i < chars.len() && is_word_char(chars[i]) {
                    if chars[i] == '+' && chars.get(i + 1) == Some(&'=') {
                        break;
                    }
                    if chars[i] == '$' {
                        i += 1;
                        match var_ref(&chars, &mut i, line)? {
                            Some(v) => pieces.push(Piece::Var(v)),
                            None => push_lit(&mut pieces, '$'),
                        }
                    } else {
                        push_lit(&mut pieces, chars[i]);
                        i += 1;
                    }
                }
                if pieces.is_empty() {
                    return err(line, format!("unexpected character {:?}", chars[i]));
                }
                toks.push((line, Tok::Str(pieces)));
            }
        }
    }
    Ok(toks)
}

/// A name token: one literal piece (a leading `$` marks a variable).
fn name_of(t: &Tok) -> Option<String> {
    match t {
        Tok::Str(p) => match p.as_slice() {
            [Piece::Lit(s)] => Some(s.clone()),
            [Piece::Var(v)] => Some(format!("${v}")),
            _ => None,
        },
        _ => None,
    }
}

struct RawParam {
    name: String,
    line: usize,
    append: bool,
    values: Vec<Vec<Piece>>,
}

fn parse_param(
    toks: &[(usize, Tok)],
    i: &mut usize,
    name: String,
    line: usize,
) -> Result<RawParam, ParseError> {
    let mut p = RawParam {
        name,
        line,
        append: false,
        values: Vec::new(),
    };
    match toks.get(*i).map(|t| &t.1) {
        Some(Tok::Semi) => {
            *i += 1;
            return Ok(p);
        }
        Some(Tok::Eq) => *i += 1,
        Some(Tok::PlusEq) => {
            p.append = true;
            *i += 1;
        }
        // jailparse.y also takes `name value;` without '='.
        Some(Tok::Str(_)) => {}
        _ => {
            return err(
                line,
                format!("after {:?} expected '=', '+=' or ';'", p.name),
            );
        }
    }
    loop {
        match toks.get(*i) {
            Some((_, Tok::Str(pieces))) => {
                let mut v = pieces.clone();
                *i += 1;
                // Adjacent strings concatenate.
                while let Some((_, Tok::Str(more))) = toks.get(*i) {
                    v.extend(more.iter().cloned());
                    *i += 1;
                }
                p.values.push(v);
            }
            _ => return err(line, format!("{:?}: expected a value", p.name)),
        }
        match toks.get(*i).map(|t| &t.1) {
            Some(Tok::Comma) => *i += 1,
            Some(Tok::Semi) => {
                *i += 1;
                return Ok(p);
            }
            _ => {
                return err(
                    line,
                    format!("{:?}: expected ',' or ';' after a value", p.name),
                );
            }
        }
    }
}

fn expand(
    raw: &[RawParam],
    scope_name: Option<&str>,
    outer: &HashMap<String, String>,
) -> Result<(Vec<Param>, HashMap<String, String>), ParseError> {
    let mut vars = outer.clone();
    if let Some(n) = scope_name {
        vars.insert("name".into(), n.into());
    }
    let mut out = Vec::new();
    for p in raw {
        let mut values = Vec::new();
        for v in &p.values {
            let mut s = String::new();
            for piece in v {
                match piece {
                    Piece::Lit(l) => s.push_str(l),
                    Piece::Var(name) => match vars.get(name) {
                        Some(val) => s.push_str(val),
                        None => {
                            return err(
                                p.line,
                                format!(
                                    "{}: variable ${name} not found (jail(8) would fail the jail)",
                                    p.name
                                ),
                            );
                        }
                    },
                }
            }
            values.push(s);
        }
        let key = p.name.strip_prefix('$').unwrap_or(&p.name).to_string();
        if p.append {
            let prev = vars.get(&key).cloned().unwrap_or_default();
            vars.insert(
                key,
                format!("{prev} {}", values.join(",")).trim().to_string(),
            );
        } else {
            vars.insert(key, values.join(","));
        }
        out.push(Param {
            name: p.name.clone(),
            line: p.line,
            append: p.append,
            values,
        });
    }
    Ok((out, vars))
}

/// Parses and expands a jail.conf file.
pub fn parse(text: &str) -> Result<JailConf, ParseError> {
    let toks = lex(text)?;
    let mut i = 0;
    let mut global_raw = Vec::new();
    let mut blocks: Vec<(String, usize, Vec<RawParam>)> = Vec::new();
    while i < toks.len() {
        let (line, t) = &toks[i];
        if *t == Tok::Semi {
            i += 1;
            continue;
        }
        let Some(name) = name_of(t) else {
            return err(*line, "expected a jail name, a parameter or .include");
        };
        i += 1;
        if name == ".include" {
            match (toks.get(i), toks.get(i + 1)) {
                (Some((_, Tok::Str(_))), Some((_, Tok::Semi))) => i += 2,
                _ => return err(*line, ".include: expected a file name and ';'"),
            }
            continue;
        }
        if let Some((_, Tok::LBrace)) = toks.get(i) {
            let ok = name == "*"
                || name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if !ok {
                return err(*line, format!("{name:?} is not a valid jail name"));
            }
            i += 1;
            let mut params = Vec::new();
            loop {
                match toks.get(i) {
                    None => return err(*line, format!("jail {name}: missing '}}'")),
                    Some((_, Tok::RBrace)) => {
                        i += 1;
                        break;
                    }
                    Some((_, Tok::Semi)) => i += 1,
                    Some((pl, Tok::Str(_)))
                        if matches!(toks.get(i + 1), Some((_, Tok::LBrace))) =>
                    {
                        return err(*pl, "nested jail blocks are not used by vpnjail");
                    }
                    Some((pl, pt)) => {
                        let Some(pn) = name_of(pt) else {
                            return err(*pl, "expected a parameter name");
                        };
                        i += 1;
                        params.push(parse_param(&toks, &mut i, pn, *pl)?);
                    }
                }
            }
            blocks.push((name, *line, params));
        } else {
            global_raw.push(parse_param(&toks, &mut i, name, *line)?);
        }
    }
    let (global, gvars) = expand(&global_raw, None, &HashMap::new())?;
    let mut jails = Vec::new();
    for (name, line, raw) in blocks {
        let (params, _) = expand(&raw, Some(&name), &gvars)?;
        jails.push(JailBlock { name, line, params });
    }
    Ok(JailConf { global, jails })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_variables_and_keeps_escaped_dollars() {
        let c = parse(
            "j1 {\n  $ea = \"e0a_j1\";\n  vnet;\n  exec.prestart = \"ep=\\$(ifconfig epair create) && ifconfig \\${ep} name $ea\";\n  exec.prestart += 'x $y';\n}\n",
        )
        .unwrap();
        let j = &c.jails[0];
        assert_eq!(j.name, "j1");
        assert_eq!(
            j.values("exec.prestart"),
            vec![
                "ep=$(ifconfig epair create) && ifconfig ${ep} name e0a_j1",
                "x $y"
            ]
        );
    }

    #[test]
    fn rejects_undefined_variable() {
        let e = parse("j { exec.start = \"ifconfig $nope up\"; }").unwrap_err();
        assert!(e.message.contains("$nope not found"), "{e}");
    }

    #[test]
    fn rejects_missing_semicolon_and_brace() {
        assert!(parse("j { path = \"/x\" }").is_err());
        assert!(parse("j { path = \"/x\";").is_err());
        assert!(parse("j { path = \"/x; }").is_err());
        assert!(parse("j { k { path = \"/x\"; } }").is_err());
        assert!(parse("j { path = ; }").is_err());
    }

    #[test]
    fn comments_lists_and_global_params() {
        let c = parse(
            "# c\n/* b\n */ exec.clean; // x\nj { ip4.addr = 1.2.3.4, 5.6.7.8; mount.devfs; }",
        )
        .unwrap();
        assert_eq!(c.global[0].name, "exec.clean");
        assert_eq!(c.jails[0].values("ip4.addr"), vec!["1.2.3.4", "5.6.7.8"]);
        let c = parse("j { $eb = e0b_j; vnet.interface = $eb; ; persist; path /x; }").unwrap();
        assert_eq!(c.jails[0].values("path"), vec!["/x"]);
        assert_eq!(c.jails[0].values("vnet.interface"), vec!["e0b_j"]);
    }
}
