//! Parser of the two DC/OS constraint forms (dcos-commons `MarathonConstraintParser`):
//!
//! * the UI form `field:OP[:param]`, comma-separated, where a backslash escapes `,` and `:`
//!   (any other backslash is kept, so regexes such as `\d+` need no doubling) and every part is
//!   trimmed;
//! * the JSON form: an array of rows `[["field","OP","param"], ...]`, or a single flat row
//!   `["field","OP","param"]`. Numbers are accepted where a string is expected
//!   (`["@zone","GROUP_BY",3]`), as Jackson does.
//!
//! An input whose first non-blank character is `[` is JSON. An empty or blank input is no
//! constraint at all. Every error carries the constraint number and a byte position.

use super::{Constraint, ConstraintError, Field, Operator, Pattern};

/// One part of a constraint as written, with the byte offset where it starts in the input.
#[derive(Debug)]
struct Token {
    text: String,
    pos: usize,
}

/// One constraint as written, before validation.
#[derive(Debug)]
struct Row {
    index: usize,
    pos: usize,
    text: String,
    tokens: Vec<Token>,
    json: bool,
}

impl Row {
    fn error(&self, pos: usize, reason: impl Into<String>) -> ConstraintError {
        ConstraintError {
            index: Some(self.index),
            constraint: Some(self.text.clone()),
            position: pos,
            reason: reason.into(),
        }
    }
}

/// Parses a constraint string in either DC/OS form. See the module documentation.
pub fn parse(input: &str) -> Result<Vec<Constraint>, ConstraintError> {
    let body = input.trim_start();
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let rows = if body.starts_with('[') {
        json_rows(input)?
    } else {
        colon_rows(input)?
    };
    let mut constraints: Vec<Constraint> = Vec::with_capacity(rows.len());
    for row in &rows {
        let constraint = build(row)?;
        // Kubernetes refuses two topology spread constraints with the same topology key and
        // whenUnsatisfiable, so two GROUP_BY on one field cannot be expressed.
        if let Operator::GroupBy(_) = constraint.operator
            && let Some(first) = constraints.iter().find(|c| {
                matches!(c.operator, Operator::GroupBy(_)) && c.label_key() == constraint.label_key()
            })
        {
            return Err(row.error(
                row.tokens.first().map_or(row.pos, |t| t.pos),
                format!(
                    "GROUP_BY on {} is already given by constraint {}; give it once",
                    constraint.label_key(),
                    first.index
                ),
            ));
        }
        constraints.push(constraint);
    }
    Ok(constraints)
}

/// Splits the UI form into rows and tokens, honouring backslash escapes of `,` and `:`.
fn colon_rows(input: &str) -> Result<Vec<Row>, ConstraintError> {
    struct Splitter<'a> {
        input: &'a str,
        rows: Vec<Row>,
        tokens: Vec<Token>,
        buf: String,
        /// Where the current token's first non-blank character is, once there is one.
        start: Option<usize>,
        /// Where the current token's raw text starts (for empty tokens).
        raw_start: usize,
        row_start: usize,
    }

    impl Splitter<'_> {
        fn push(&mut self, c: char, at: usize) {
            if self.buf.is_empty() && c.is_whitespace() {
                return;
            }
            if self.start.is_none() {
                self.start = Some(at);
            }
            self.buf.push(c);
        }

        fn end_token(&mut self, next: usize) {
            let text = self.buf.trim_end().to_string();
            let pos = self.start.unwrap_or(self.raw_start);
            self.tokens.push(Token { text, pos });
            self.buf.clear();
            self.start = None;
            self.raw_start = next;
        }

        fn end_row(&mut self, end: usize) -> Result<(), ConstraintError> {
            self.end_token(end + 1);
            let raw = &self.input[self.row_start..end];
            let text = raw.trim();
            let pos = self.row_start + (raw.len() - raw.trim_start().len());
            let index = self.rows.len() + 1;
            let tokens = std::mem::take(&mut self.tokens);
            self.row_start = end + 1;
            if text.is_empty() {
                return Err(ConstraintError {
                    index: Some(index),
                    constraint: None,
                    position: pos,
                    reason: "empty constraint (two commas in a row, or a comma at an end)".into(),
                });
            }
            self.rows.push(Row {
                index,
                pos,
                text: text.to_string(),
                tokens,
                json: false,
            });
            Ok(())
        }
    }

    let mut s = Splitter {
        input,
        rows: Vec::new(),
        tokens: Vec::new(),
        buf: String::new(),
        start: None,
        raw_start: 0,
        row_start: 0,
    };
    let mut escape_at: Option<usize> = None;
    for (i, c) in input.char_indices() {
        if let Some(at) = escape_at.take() {
            if c != ',' && c != ':' {
                s.push('\\', at);
            }
            s.push(c, at);
            continue;
        }
        match c {
            '\\' => escape_at = Some(i),
            ',' => s.end_row(i)?,
            ':' => s.end_token(i + 1),
            _ => s.push(c, i),
        }
    }
    if let Some(at) = escape_at {
        s.push('\\', at);
    }
    s.end_row(input.len())?;
    Ok(s.rows)
}

/// A JSON value of the constraint form, with its byte span.
#[derive(Debug)]
enum Json {
    Scalar {
        text: String,
        pos: usize,
    },
    Array {
        items: Vec<Json>,
        pos: usize,
        end: usize,
    },
}

impl Json {
    fn pos(&self) -> usize {
        match self {
            Json::Scalar { pos, .. } | Json::Array { pos, .. } => *pos,
        }
    }
}

/// A small JSON reader for arrays (at most two levels) of strings and numbers. It is written
/// here rather than taken from serde_json to know the byte position of every token.
struct JsonReader<'a> {
    s: &'a str,
    pos: usize,
}

fn syntax(pos: usize, reason: impl Into<String>) -> ConstraintError {
    ConstraintError {
        index: None,
        constraint: None,
        position: pos,
        reason: reason.into(),
    }
}

impl JsonReader<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..).and_then(|rest| rest.chars().next())
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, ConstraintError> {
        self.skip_ws();
        match self.peek() {
            Some('[') if depth >= 2 => Err(syntax(
                self.pos,
                "arrays nest at most two levels: [[\"field\",\"OPERATOR\",\"param\"], ...]",
            )),
            Some('[') => self.array(depth),
            Some('"') => self.string(),
            Some(c) if c == '-' || c.is_ascii_digit() => Ok(self.number()),
            Some(c) => Err(syntax(
                self.pos,
                format!("expected a string, a number or '[', found '{c}'"),
            )),
            None => Err(syntax(self.pos, "the input ends where a value is expected")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, ConstraintError> {
        let pos = self.pos;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(Json::Array {
                items,
                pos,
                end: self.pos,
            });
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(Json::Array {
                        items,
                        pos,
                        end: self.pos,
                    });
                }
                Some(c) => return Err(syntax(self.pos, format!("expected ',' or ']', found '{c}'"))),
                None => {
                    return Err(syntax(
                        self.pos,
                        "the input ends inside an array; a ']' is missing",
                    ));
                }
            }
        }
    }

    fn number(&mut self) -> Json {
        let pos = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
                self.pos += 1;
            } else {
                break;
            }
        }
        Json::Scalar {
            text: self.s[pos..self.pos].to_string(),
            pos,
        }
    }

    fn hex4(&mut self) -> Result<u32, ConstraintError> {
        let at = self.pos;
        let digits = self
            .s
            .get(at..at + 4)
            .filter(|d| d.chars().all(|c| c.is_ascii_hexdigit()));
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => Err(syntax(at, "\\u must be followed by four hexadecimal digits")),
        }
    }

    fn string(&mut self) -> Result<Json, ConstraintError> {
        let pos = self.pos;
        self.pos += 1; // '"'
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(syntax(pos, "unterminated string"));
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(Json::Scalar { text, pos }),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(syntax(pos, "unterminated string"));
                    };
                    self.pos += e.len_utf8();
                    match e {
                        '"' => text.push('"'),
                        '\\' => text.push('\\'),
                        '/' => text.push('/'),
                        'b' => text.push('\u{8}'),
                        'f' => text.push('\u{c}'),
                        'n' => text.push('\n'),
                        'r' => text.push('\r'),
                        't' => text.push('\t'),
                        'u' => text.push(self.unicode_escape(at)?),
                        other => {
                            return Err(syntax(
                                at,
                                format!(
                                    "invalid escape '\\{other}' in a JSON string (a regex backslash is written \\\\)"
                                ),
                            ));
                        }
                    }
                }
                c if (c as u32) < 0x20 => {
                    return Err(syntax(at, "control character inside a JSON string"));
                }
                c => text.push(c),
            }
        }
    }

    /// Reads the hex digits after `\u` (the escape started at `at`), with surrogate pairs.
    fn unicode_escape(&mut self, at: usize) -> Result<char, ConstraintError> {
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if self.s.get(self.pos..self.pos + 2) != Some("\\u") {
                return Err(syntax(at, "lone surrogate in a \\u escape"));
            }
            self.pos += 2;
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(syntax(at, "invalid surrogate pair in a \\u escape"));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| syntax(at, "lone surrogate in a \\u escape"))
    }
}

/// Reads the JSON form into rows.
fn json_rows(input: &str) -> Result<Vec<Row>, ConstraintError> {
    let mut reader = JsonReader { s: input, pos: 0 };
    let top = reader.value(0)?;
    reader.skip_ws();
    if reader.pos < input.len() {
        return Err(syntax(reader.pos, "unexpected text after the closing ']'"));
    }
    let Json::Array { items, pos, end } = top else {
        return Err(syntax(top.pos(), "expected a JSON array"));
    };
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let row = |index: usize, items: Vec<Json>, pos: usize, end: usize| -> Result<Row, ConstraintError> {
        let text = input[pos..end].to_string();
        let mut tokens = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Json::Scalar { text, pos } => tokens.push(Token { text, pos }),
                Json::Array { pos: at, .. } => {
                    return Err(ConstraintError {
                        index: Some(index),
                        constraint: Some(text),
                        position: at,
                        reason: "expected a string, found an array".into(),
                    });
                }
            }
        }
        Ok(Row {
            index,
            pos,
            text,
            tokens,
            json: true,
        })
    };
    if matches!(items.first(), Some(Json::Scalar { .. })) {
        // A single flat row: ["hostname","UNIQUE"].
        return Ok(vec![row(1, items, pos, end)?]);
    }
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Json::Array { items, pos, end } => rows.push(row(i + 1, items, pos, end)?),
            Json::Scalar { pos, .. } => {
                return Err(ConstraintError {
                    index: Some(i + 1),
                    constraint: None,
                    position: pos,
                    reason: "expected an array such as [\"hostname\",\"UNIQUE\"], found a string".into(),
                });
            }
        }
    }
    Ok(rows)
}

/// Validates one row into a constraint.
fn build(row: &Row) -> Result<Constraint, ConstraintError> {
    let n = row.tokens.len();
    let (field_tok, op_tok) = match (row.tokens.first(), row.tokens.get(1)) {
        (Some(f), Some(o)) if n <= 3 => (f, o),
        _ => {
            let pos = row.tokens.get(3).map_or(row.pos, |t| t.pos);
            let hint = if row.json {
                ""
            } else {
                "; escape a ':' or ',' inside a value as '\\:' or '\\,'"
            };
            return Err(row.error(
                pos,
                format!("a constraint has 2 or 3 parts (field, operator, optional parameter), got {n}{hint}"),
            ));
        }
    };
    let field = parse_field(row, field_tok)?;
    let param = row.tokens.get(2);
    let op_name = op_tok.text.to_ascii_uppercase();
    let operator = match op_name.as_str() {
        "UNIQUE" => match param {
            Some(p) if !p.text.is_empty() => {
                return Err(row.error(p.pos, format!("UNIQUE takes no parameter, got {:?}", p.text)));
            }
            _ => Operator::Unique,
        },
        "CLUSTER" => match param {
            Some(p) if !p.text.is_empty() => Operator::Cluster(Some(label_value(row, "CLUSTER", p)?)),
            _ => Operator::Cluster(None),
        },
        "GROUP_BY" => match param {
            Some(p) if !p.text.is_empty() => Operator::GroupBy(Some(positive(row, "GROUP_BY", p)?)),
            _ => Operator::GroupBy(None),
        },
        "MAX_PER" => Operator::MaxPer(positive(
            row,
            "MAX_PER",
            required(row, "MAX_PER", op_tok, param)?,
        )?),
        "LIKE" => Operator::Like(pattern(row, "LIKE", required(row, "LIKE", op_tok, param)?)?),
        "UNLIKE" => Operator::Unlike(pattern(row, "UNLIKE", required(row, "UNLIKE", op_tok, param)?)?),
        "IS" => Operator::Is(label_value(row, "IS", required(row, "IS", op_tok, param)?)?),
        "IS_NOT" => Operator::IsNot(label_value(
            row,
            "IS_NOT",
            required(row, "IS_NOT", op_tok, param)?,
        )?),
        _ => {
            return Err(row.error(
                op_tok.pos,
                format!(
                    "unknown operator {:?} (expected one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS, IS_NOT)",
                    op_tok.text
                ),
            ));
        }
    };
    Ok(Constraint {
        field,
        operator,
        index: row.index,
        position: row.pos,
        text: row.text.clone(),
    })
}

fn parse_field(row: &Row, tok: &Token) -> Result<Field, ConstraintError> {
    let name = tok.text.as_str();
    if name.is_empty() {
        return Err(row.error(
            tok.pos,
            "the field is empty (expected hostname, @zone, @region or a node label key)",
        ));
    }
    if name.eq_ignore_ascii_case("hostname") || name.eq_ignore_ascii_case("@hostname") {
        return Ok(Field::Hostname);
    }
    if name.eq_ignore_ascii_case("@zone") || name == "zone" {
        return Ok(Field::Zone);
    }
    if name.eq_ignore_ascii_case("@region") || name == "region" {
        return Ok(Field::Region);
    }
    if name.starts_with('@') {
        return Err(row.error(
            tok.pos,
            format!("unknown field {name:?} (the @ fields are @hostname, @zone and @region)"),
        ));
    }
    match label_key_problem(name) {
        None => Ok(Field::Label(name.to_string())),
        Some(problem) => Err(row.error(
            tok.pos,
            format!("field {name:?} is not a valid node label key: {problem}"),
        )),
    }
}

fn required<'r>(
    row: &Row,
    op: &str,
    op_tok: &Token,
    param: Option<&'r Token>,
) -> Result<&'r Token, ConstraintError> {
    match param {
        Some(p) if !p.text.is_empty() => Ok(p),
        Some(p) => Err(row.error(p.pos, format!("{op} needs a parameter, got an empty one"))),
        None => {
            let what = match op {
                "MAX_PER" => "the maximum number of pods per value",
                "LIKE" | "UNLIKE" => "a regular expression",
                _ => "a value",
            };
            let pos = op_tok.pos + op_tok.text.len();
            Err(row.error(pos, format!("{op} needs a parameter: {what}")))
        }
    }
}

fn positive(row: &Row, op: &str, p: &Token) -> Result<i32, ConstraintError> {
    match p.text.parse::<i32>() {
        Ok(n) if n >= 1 && p.text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(row.error(p.pos, format!("{op} needs a positive integer, got {:?}", p.text))),
    }
}

fn pattern(row: &Row, op: &str, p: &Token) -> Result<Pattern, ConstraintError> {
    Pattern::new(&p.text).map_err(|reason| {
        row.error(
            p.pos,
            format!("{op} needs a valid regular expression, {:?}: {reason}", p.text),
        )
    })
}

fn label_value(row: &Row, op: &str, p: &Token) -> Result<String, ConstraintError> {
    match label_value_problem(&p.text) {
        None => Ok(p.text.clone()),
        Some(problem) => Err(row.error(
            p.pos,
            format!(
                "{op} value {:?} is not a valid node label value: {problem}",
                p.text
            ),
        )),
    }
}

/// Kubernetes `IsQualifiedName`: `[prefix/]name`, the prefix a DNS subdomain.
fn label_key_problem(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => return Some("a label key has at most one '/'".into()),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() || prefix.len() > 253 {
            return Some("the prefix before '/' must have 1 to 253 characters".into());
        }
        let ok = prefix.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
        });
        if !ok {
            return Some(
                "the prefix before '/' must be a DNS subdomain (lower case letters, digits, '-', '.')".into(),
            );
        }
    }
    if name.is_empty() || name.len() > 63 {
        return Some("the name must have 1 to 63 characters".into());
    }
    if !name_chars_ok(name) {
        return Some(
            "the name must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit"
                .into(),
        );
    }
    None
}

/// Kubernetes label value: empty, or at most 63 characters of the name alphabet.
fn label_value_problem(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some("it has more than 63 characters".into());
    }
    if !value.is_empty() && !name_chars_ok(value) {
        return Some(
            "it must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit"
                .into(),
        );
    }
    None
}

fn name_chars_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> Vec<Constraint> {
        match parse(input) {
            Ok(c) => c,
            Err(e) => panic!("{input:?} failed: {e}"),
        }
    }

    fn err(input: &str) -> ConstraintError {
        match parse(input) {
            Ok(c) => panic!("{input:?} parsed: {c:?}"),
            Err(e) => e,
        }
    }

    fn ops(input: &str) -> Vec<(Field, Operator)> {
        ok(input).into_iter().map(|c| (c.field, c.operator)).collect()
    }

    fn pat(s: &str) -> Pattern {
        Pattern::new(s).unwrap()
    }

    // ---- valid forms ----

    #[test]
    fn empty_input_is_no_constraint() {
        assert!(ok("").is_empty());
        assert!(ok("   \n").is_empty());
        assert!(ok("[]").is_empty());
        assert!(ok(" [ ] ").is_empty());
    }

    #[test]
    fn every_operator_in_colon_form() {
        assert_eq!(ops("hostname:UNIQUE"), vec![(Field::Hostname, Operator::Unique)]);
        assert_eq!(
            ops("rack_id:CLUSTER:rack-1"),
            vec![(
                Field::Label("rack_id".into()),
                Operator::Cluster(Some("rack-1".into()))
            )]
        );
        assert_eq!(ops("@zone:CLUSTER"), vec![(Field::Zone, Operator::Cluster(None))]);
        assert_eq!(
            ops("@zone:GROUP_BY"),
            vec![(Field::Zone, Operator::GroupBy(None))]
        );
        assert_eq!(
            ops("@zone:GROUP_BY:3"),
            vec![(Field::Zone, Operator::GroupBy(Some(3)))]
        );
        assert_eq!(
            ops("rack_id:LIKE:rack-[1-3]"),
            vec![(Field::Label("rack_id".into()), Operator::Like(pat("rack-[1-3]")))]
        );
        assert_eq!(
            ops("rack_id:UNLIKE:rack-[7-9]"),
            vec![(
                Field::Label("rack_id".into()),
                Operator::Unlike(pat("rack-[7-9]"))
            )]
        );
        assert_eq!(
            ops("hostname:MAX_PER:2"),
            vec![(Field::Hostname, Operator::MaxPer(2))]
        );
        assert_eq!(
            ops("@region:IS:us-east-1"),
            vec![(Field::Region, Operator::Is("us-east-1".into()))]
        );
        assert_eq!(
            ops("disk:IS_NOT:hdd"),
            vec![(Field::Label("disk".into()), Operator::IsNot("hdd".into()))]
        );
    }

    #[test]
    fn every_operator_in_json_form() {
        let input = r#"[["hostname","UNIQUE"],["rack_id","CLUSTER","rack-1"],["@zone","GROUP_BY","3"],
            ["rack_id","LIKE","rack-[1-3]"],["rack_id","UNLIKE","rack-[7-9]"],["@hostname","MAX_PER","2"],
            ["@region","IS","eu"],["disk","IS_NOT","hdd"],["zone2","CLUSTER"]]"#;
        let rack = || Field::Label("rack_id".into());
        assert_eq!(
            ops(input),
            vec![
                (Field::Hostname, Operator::Unique),
                (rack(), Operator::Cluster(Some("rack-1".into()))),
                (Field::Zone, Operator::GroupBy(Some(3))),
                (rack(), Operator::Like(pat("rack-[1-3]"))),
                (rack(), Operator::Unlike(pat("rack-[7-9]"))),
                (Field::Hostname, Operator::MaxPer(2)),
                (Field::Region, Operator::Is("eu".into())),
                (Field::Label("disk".into()), Operator::IsNot("hdd".into())),
                (Field::Label("zone2".into()), Operator::Cluster(None)),
            ]
        );
    }

    #[test]
    fn reference_doc_examples() {
        // Section 6 of the DC/OS feature inventory: the defaults and the documented examples.
        assert_eq!(
            ops(r#"[["hostname","MAX_PER","1"]]"#),
            vec![(Field::Hostname, Operator::MaxPer(1))]
        );
        assert_eq!(
            ops("hostname:MAX_PER:1"),
            vec![(Field::Hostname, Operator::MaxPer(1))]
        );
        assert_eq!(
            ops(r#"[["hostname","UNIQUE"]]"#),
            vec![(Field::Hostname, Operator::Unique)]
        );
        assert_eq!(
            ops(r#"[["hostname","LIKE","10.0.0.159|10.0.1.202"]]"#),
            vec![(Field::Hostname, Operator::Like(pat("10.0.0.159|10.0.1.202")))]
        );
        assert_eq!(
            ops(r#"[["@zone","GROUP_BY","3"]]"#),
            vec![(Field::Zone, Operator::GroupBy(Some(3)))]
        );
        // The brief's examples.
        assert_eq!(
            ops("hostname:UNIQUE,@zone:GROUP_BY:3"),
            vec![
                (Field::Hostname, Operator::Unique),
                (Field::Zone, Operator::GroupBy(Some(3)))
            ]
        );
        assert_eq!(
            ops(r#"[["hostname","MAX_PER","1"],["@zone","LIKE","us-east-1[ab]"]]"#),
            vec![
                (Field::Hostname, Operator::MaxPer(1)),
                (Field::Zone, Operator::Like(pat("us-east-1[ab]")))
            ]
        );
    }

    #[test]
    fn flat_json_row() {
        assert_eq!(
            ops(r#"["hostname","UNIQUE"]"#),
            vec![(Field::Hostname, Operator::Unique)]
        );
        assert_eq!(
            ops(r#" ["rack_id", "MAX_PER", "2"] "#),
            vec![(Field::Label("rack_id".into()), Operator::MaxPer(2))]
        );
    }

    #[test]
    fn json_numbers_are_accepted_as_parameters() {
        assert_eq!(
            ops(r#"[["@zone","GROUP_BY",3]]"#),
            vec![(Field::Zone, Operator::GroupBy(Some(3)))]
        );
        assert_eq!(
            ops(r#"[["hostname","MAX_PER",1]]"#),
            vec![(Field::Hostname, Operator::MaxPer(1))]
        );
        let e = err(r#"[["hostname","MAX_PER",1.5]]"#);
        assert_eq!(e.reason, "MAX_PER needs a positive integer, got \"1.5\"");
        assert_eq!(e.position, 23);
    }

    #[test]
    fn field_aliases() {
        for f in ["hostname", "@hostname", "HOSTNAME", "@HostName"] {
            assert_eq!(ok(&format!("{f}:UNIQUE"))[0].field, Field::Hostname, "{f}");
        }
        for f in ["@zone", "zone", "@ZONE"] {
            assert_eq!(ok(&format!("{f}:UNIQUE"))[0].field, Field::Zone, "{f}");
        }
        for f in ["@region", "region"] {
            assert_eq!(ok(&format!("{f}:UNIQUE"))[0].field, Field::Region, "{f}");
        }
        // Bare label keys are case-sensitive: "Zone" is a label of its own.
        assert_eq!(ok("Zone:UNIQUE")[0].field, Field::Label("Zone".into()));
        assert_eq!(
            ok("topology.kubernetes.io/zone:UNIQUE")[0].field,
            Field::Label("topology.kubernetes.io/zone".into())
        );
        assert_eq!(
            ok("example.com/rack_id:UNIQUE")[0].field,
            Field::Label("example.com/rack_id".into())
        );
    }

    #[test]
    fn operators_are_case_insensitive() {
        assert_eq!(ops("hostname:unique"), vec![(Field::Hostname, Operator::Unique)]);
        assert_eq!(
            ops("hostname:Max_Per:3"),
            vec![(Field::Hostname, Operator::MaxPer(3))]
        );
        assert_eq!(
            ops("@zone:is_not:a"),
            vec![(Field::Zone, Operator::IsNot("a".into()))]
        );
    }

    #[test]
    fn whitespace_is_trimmed() {
        assert_eq!(
            ops("  hostname : UNIQUE ,  @zone:GROUP_BY: 3 "),
            vec![
                (Field::Hostname, Operator::Unique),
                (Field::Zone, Operator::GroupBy(Some(3)))
            ]
        );
        assert_eq!(
            ops("\n[ [ \"hostname\" ,\n \"UNIQUE\" ] ]\n"),
            vec![(Field::Hostname, Operator::Unique)]
        );
    }

    #[test]
    fn empty_optional_parameters_are_absent() {
        assert_eq!(ops("hostname:UNIQUE:"), vec![(Field::Hostname, Operator::Unique)]);
        assert_eq!(
            ops("@zone:GROUP_BY:"),
            vec![(Field::Zone, Operator::GroupBy(None))]
        );
        assert_eq!(
            ops(r#"[["@zone","CLUSTER",""]]"#),
            vec![(Field::Zone, Operator::Cluster(None))]
        );
    }

    #[test]
    fn backslash_escapes_comma_and_colon() {
        assert_eq!(
            ops(r"rack:LIKE:a\,b\:c"),
            vec![(Field::Label("rack".into()), Operator::Like(pat("a,b:c")))]
        );
        // Other backslashes are kept for the regex.
        assert_eq!(
            ops(r"rack:LIKE:r\d+"),
            vec![(Field::Label("rack".into()), Operator::Like(pat(r"r\d+")))]
        );
        assert_eq!(
            ops(r"rack:LIKE:r\.x\\"),
            vec![(Field::Label("rack".into()), Operator::Like(pat(r"r\.x\\")))]
        );
        // A double backslash does not escape the separator (as in dcos-commons).
        let e = err(r"rack:LIKE:a\\:b");
        assert!(e.reason.contains("2 or 3 parts"), "{e}");
        // A trailing backslash is kept.
        let e = err(r"rack:LIKE:a\");
        assert!(e.reason.contains("regular expression"), "{e}");
    }

    #[test]
    fn json_string_escapes() {
        assert_eq!(
            ops(r#"[["rack","LIKE","r\\d+"]]"#),
            vec![(Field::Label("rack".into()), Operator::Like(pat(r"r\d+")))]
        );
        assert_eq!(
            ops(r#"[["rack","IS","a\u0041"]]"#),
            vec![(Field::Label("rack".into()), Operator::Is("aA".into()))]
        );
        assert_eq!(
            ops(r#"[["rack","LIKE","a\/b\t\"\ud83d\ude00"]]"#),
            vec![(
                Field::Label("rack".into()),
                Operator::Like(pat("a/b\t\"\u{1F600}"))
            )]
        );
        let e = err(r#"[["rack","IS","a\/b"]]"#);
        assert!(
            e.reason
                .starts_with("IS value \"a/b\" is not a valid node label value"),
            "{e}"
        );
    }

    #[test]
    fn constraint_metadata() {
        let c = ok(" hostname:UNIQUE , @zone:GROUP_BY:3");
        assert_eq!(
            (c[0].index, c[0].position, c[0].text.as_str()),
            (1, 1, "hostname:UNIQUE")
        );
        assert_eq!(
            (c[1].index, c[1].position, c[1].text.as_str()),
            (2, 19, "@zone:GROUP_BY:3")
        );
        let c = ok(r#"[["hostname","UNIQUE"], ["@zone","GROUP_BY","3"]]"#);
        assert_eq!(
            (c[0].index, c[0].position, c[0].text.as_str()),
            (1, 1, r#"["hostname","UNIQUE"]"#)
        );
        assert_eq!(
            (c[1].index, c[1].position, c[1].text.as_str()),
            (2, 24, r#"["@zone","GROUP_BY","3"]"#)
        );
        assert_eq!(c[1].to_string(), "@zone:GROUP_BY:3");
    }

    #[test]
    fn duplicates_other_than_group_by_are_allowed() {
        assert_eq!(
            ok("hostname:UNIQUE,hostname:MAX_PER:1,@zone:MAX_PER:2,zone:UNIQUE").len(),
            4
        );
        assert_eq!(ok("@zone:GROUP_BY,hostname:GROUP_BY").len(), 2);
    }

    #[test]
    fn unicode_is_handled_without_panics() {
        let e = err("zöne:UNIQUE");
        assert!(e.reason.contains("not a valid node label key"), "{e}");
        let e = err("hostname:ÜNIQUE");
        assert_eq!(e.position, 9);
        let e = err(r#"[["hostname","MAX_PER","é"]]"#);
        assert_eq!(e.position, 23);
        let e = err("[\"\u{1F600}\"");
        assert!(e.reason.contains("ends inside an array"), "{e}");
        assert!(parse(r#"[["a","IS","\ud83d\ude00"]]"#).is_err()); // valid JSON, invalid label value
    }

    // ---- errors ----

    #[test]
    fn error_message_names_constraint_position_and_reason() {
        let input = "hostname:UNIQUE,@zone:MAX_PER:x";
        let e = err(input);
        assert_eq!(
            e.to_string(),
            "constraint 2 (\"@zone:MAX_PER:x\") at position 30: MAX_PER needs a positive integer, got \"x\""
        );
        assert_eq!(&input[e.position..], "x");
    }

    #[test]
    fn unknown_operator() {
        let e = err("hostname:UNIQUE,hostname:FOO:1");
        assert_eq!(e.index, Some(2));
        assert_eq!(e.position, 25);
        assert!(
            e.reason
                .starts_with("unknown operator \"FOO\" (expected one of UNIQUE"),
            "{e}"
        );
        let e = err(r#"[["hostname","SOMETIMES"]]"#);
        assert_eq!((e.index, e.position), (Some(1), 13));
    }

    #[test]
    fn wrong_part_counts() {
        let e = err("hostname");
        assert_eq!((e.index, e.position), (Some(1), 0));
        assert!(
            e.reason.contains("2 or 3 parts") && e.reason.contains("got 1"),
            "{e}"
        );
        let e = err("rack:LIKE:a:b");
        assert_eq!(e.position, 12);
        assert!(e.reason.contains("got 4") && e.reason.contains("\\:"), "{e}");
        let e = err(r#"[["hostname"]]"#);
        assert!(e.reason.contains("got 1") && !e.reason.contains("escape"), "{e}");
        let e = err(r#"[["a","IS","b","c"]]"#);
        assert_eq!(e.position, 15);
        let e = err(r#"[[]]"#);
        assert!(e.reason.contains("got 0"), "{e}");
    }

    #[test]
    fn empty_constraints_between_commas() {
        let e = err("hostname:UNIQUE,,@zone:GROUP_BY");
        assert_eq!((e.index, e.position), (Some(2), 16));
        assert!(e.reason.contains("empty constraint"), "{e}");
        let e = err("hostname:UNIQUE,");
        assert_eq!((e.index, e.position), (Some(2), 16));
        let e = err(",hostname:UNIQUE");
        assert_eq!((e.index, e.position), (Some(1), 0));
        let e = err("  ,");
        assert_eq!(e.index, Some(1));
    }

    #[test]
    fn empty_field() {
        let e = err(":UNIQUE");
        assert!(e.reason.contains("field is empty"), "{e}");
        let e = err(r#"[["","UNIQUE"]]"#);
        assert_eq!(e.position, 2);
    }

    #[test]
    fn invalid_fields() {
        let e = err("@rack:UNIQUE");
        assert!(e.reason.contains("unknown field \"@rack\""), "{e}");
        let e = err("a/b/c:UNIQUE");
        assert!(e.reason.contains("at most one '/'"), "{e}");
        let e = err("Example.com/x:UNIQUE");
        assert!(e.reason.contains("DNS subdomain"), "{e}");
        let e = err("/x:UNIQUE");
        assert!(e.reason.contains("prefix"), "{e}");
        let e = err("example.com/:UNIQUE");
        assert!(e.reason.contains("1 to 63"), "{e}");
        let e = err(&format!("{}:UNIQUE", "a".repeat(64)));
        assert!(e.reason.contains("1 to 63"), "{e}");
        let e = err("-rack:UNIQUE");
        assert!(e.reason.contains("start and end"), "{e}");
        let e = err("ra ck:UNIQUE");
        assert!(e.reason.contains("not a valid node label key"), "{e}");
    }

    #[test]
    fn unique_takes_no_parameter() {
        let e = err("hostname:UNIQUE:3");
        assert_eq!(e.reason, "UNIQUE takes no parameter, got \"3\"");
        assert_eq!(e.position, 16);
    }

    #[test]
    fn max_per_errors() {
        let e = err("hostname:MAX_PER");
        assert_eq!(
            e.reason,
            "MAX_PER needs a parameter: the maximum number of pods per value"
        );
        assert_eq!(e.position, 16);
        for bad in ["0", "-1", "x", "1.0", "+2", "99999999999", " "] {
            let input = format!("hostname:MAX_PER:{bad}");
            let e = err(&input);
            assert!(e.reason.starts_with("MAX_PER needs a p"), "{bad:?}: {e}");
        }
        let e = err(r#"[["hostname","MAX_PER",""]]"#);
        assert_eq!(e.reason, "MAX_PER needs a parameter, got an empty one");
    }

    #[test]
    fn group_by_errors() {
        let e = err("@zone:GROUP_BY:three");
        assert_eq!(e.reason, "GROUP_BY needs a positive integer, got \"three\"");
        assert_eq!(e.position, 15);
        let e = err("@zone:GROUP_BY:0");
        assert_eq!(e.reason, "GROUP_BY needs a positive integer, got \"0\"");
    }

    #[test]
    fn duplicate_group_by_on_one_key() {
        let e = err("@zone:GROUP_BY:3,zone:GROUP_BY");
        assert_eq!(e.index, Some(2));
        assert_eq!(e.position, 17);
        assert_eq!(
            e.reason,
            "GROUP_BY on topology.kubernetes.io/zone is already given by constraint 1; give it once"
        );
        assert!(parse("@zone:GROUP_BY,topology.kubernetes.io/zone:GROUP_BY:2").is_err());
    }

    #[test]
    fn regex_errors() {
        let e = err("@zone:LIKE:us-east-1[ab");
        assert_eq!(e.position, 11);
        assert_eq!(
            e.reason,
            "LIKE needs a valid regular expression, \"us-east-1[ab\": unclosed character class"
        );
        let e = err(r#"[["@zone","UNLIKE","(a"]]"#);
        assert_eq!(
            e.reason,
            "UNLIKE needs a valid regular expression, \"(a\": unclosed group"
        );
        // Look-around is Java-only; the regex crate refuses it, with the reason.
        let e = err("rack:LIKE:(?!x).*");
        assert!(e.reason.contains("look-around"), "{e}");
        let e = err("rack:LIKE");
        assert_eq!(e.reason, "LIKE needs a parameter: a regular expression");
        let e = err("rack:UNLIKE:");
        assert_eq!(e.reason, "UNLIKE needs a parameter, got an empty one");
    }

    #[test]
    fn value_errors() {
        let e = err("@zone:IS");
        assert_eq!(e.reason, "IS needs a parameter: a value");
        let e = err("@zone:IS_NOT");
        assert_eq!(e.reason, "IS_NOT needs a parameter: a value");
        let e = err("@zone:IS:a b");
        assert!(
            e.reason
                .starts_with("IS value \"a b\" is not a valid node label value"),
            "{e}"
        );
        let e = err(&format!("@zone:IS_NOT:{}", "x".repeat(64)));
        assert!(e.reason.contains("more than 63"), "{e}");
        let e = err("rack:CLUSTER:-a");
        assert!(e.reason.starts_with("CLUSTER value \"-a\""), "{e}");
    }

    #[test]
    fn json_syntax_errors() {
        let cases: &[(&str, usize, &str)] = &[
            (r#"[["hostname","UNIQUE"]"#, 22, "ends inside an array"),
            (r#"[["hostname","UNIQUE"]]]"#, 23, "unexpected text after"),
            (
                r#"[["hostname" "UNIQUE"]]"#,
                13,
                "expected ',' or ']', found '\"'",
            ),
            (r#"[["hostname",UNIQUE]]"#, 13, "found 'U'"),
            (r#"[["hostname",null]]"#, 13, "found 'n'"),
            (r#"[{"a":1}]"#, 1, "found '{'"),
            (r#"[["hostname","UNIQUE]]"#, 13, "unterminated string"),
            (r#"[[["hostname"]]]"#, 2, "nest at most two levels"),
            (r#"[["a","LIKE","\d"]]"#, 14, "invalid escape '\\d'"),
            (r#"[["a","IS","\u00"]]"#, 14, "four hexadecimal digits"),
            (r#"[["a","IS","\ud800"]]"#, 12, "lone surrogate"),
            (r#"[["a","IS","\ud800\u0041"]]"#, 12, "invalid surrogate pair"),
            (r#"[["a","IS","\udc00"]]"#, 12, "lone surrogate"),
            ("[\"a\u{1}\"]", 3, "control character"),
            ("[", 1, "ends where a value is expected"),
            ("[\"a", 1, "unterminated string"),
            ("[\"a\\", 1, "unterminated string"),
        ];
        for (input, pos, reason) in cases {
            let e = err(input);
            assert!(e.reason.contains(reason), "{input}: {e}");
            assert_eq!(e.position, *pos, "{input}: {e}");
        }
    }

    #[test]
    fn json_shape_errors() {
        let e = err(r#"[["hostname","UNIQUE"],"x"]"#);
        assert_eq!((e.index, e.position), (Some(2), 23));
        assert!(e.reason.contains("expected an array"), "{e}");
        let e = err(r#"["hostname",["UNIQUE"]]"#);
        assert_eq!((e.index, e.position), (Some(1), 12));
        assert!(e.reason.contains("found an array"), "{e}");
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "\\",
            ":",
            "::",
            ",",
            "\\,",
            "[",
            "]",
            "[[",
            "[]]",
            "\"",
            "[\"",
            "[\"\\u",
            "[\"\\ud83d\\u",
            "@",
            "@:@",
            "a:b:c:d:e",
            "[[1,2,3]]",
            "[-]",
            "[[\"a\",\"MAX_PER\",-]]",
            "ü:ü:ü",
            "\u{0}",
            "[\"\u{7f}\"]",
        ];
        for input in inputs {
            let _ = parse(input);
        }
        // Every prefix of a valid input, cut on character boundaries.
        let full = r#"[["hostname","MAX_PER","1"],["@zone","LIKE","us-east-1[ab]\u00e9"]]"#;
        for (i, _) in full.char_indices() {
            let _ = parse(&full[..i]);
        }
        let full = r"hostname:UNIQUE,@zone:GROUP_BY:3,rack:LIKE:a\,b";
        for (i, _) in full.char_indices() {
            let _ = parse(&full[..i]);
        }
    }
}
