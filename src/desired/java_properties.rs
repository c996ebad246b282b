//! Java properties text as Kafka reads `server.properties`: `Utils.loadProps` hands the file's
//! bytes to `Properties.load(InputStream)`, which decodes ISO-8859-1 (not UTF-8), strips leading
//! whitespace (space, tab, form feed) from keys and values, and undoes `\` escapes, `\uXXXX`
//! included. [`escape`] writes a value so that [`load`] (a model of that reader) gives it back.

use std::collections::BTreeMap;

/// Escapes a property value: backslashes, tab, form feed, a leading space, and everything outside
/// printable ASCII as `\uXXXX` (UTF-16 units), so ISO-8859-1 decoding cannot garble it.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            ' ' if i == 0 => out.push_str("\\ "),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
        }
    }
    out
}

/// Undoes Java escapes in a key or value (`loadConvert`). `\uXXXX` must have four hex digits.
pub fn unescape(text: &str) -> Result<String, String> {
    let mut units: Vec<u16> = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            units.extend(c.encode_utf16(&mut [0u16; 2]).iter());
            continue;
        }
        match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let unit = (hex.len() == 4)
                    .then(|| u16::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| format!("malformed \\uxxxx encoding: \\u{hex}"))?;
                units.push(unit);
            }
            Some('t') => units.push(u16::from(b'\t')),
            Some('n') => units.push(u16::from(b'\n')),
            Some('r') => units.push(u16::from(b'\r')),
            Some('f') => units.push(0x0c),
            Some(other) => units.extend(other.encode_utf16(&mut [0u16; 2]).iter()),
            None => {}
        }
    }
    Ok(String::from_utf16_lossy(&units))
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// The logical lines of a properties text decoded as ISO-8859-1: comments and blank lines
/// dropped, continuation lines (an odd number of trailing backslashes) joined.
fn logical_lines(text: &str) -> Vec<String> {
    let latin1: String = text.bytes().map(char::from).collect();
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for raw in latin1.split(['\n', '\r']) {
        let line = raw.trim_start_matches(is_space);
        if pending.is_none() && (line.is_empty() || line.starts_with(['#', '!'])) {
            continue;
        }
        let mut joined = pending.take().unwrap_or_default();
        joined.push_str(line);
        let trailing = joined.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            joined.pop();
            pending = Some(joined);
        } else {
            out.push(joined);
        }
    }
    out.extend(pending);
    out
}

/// Splits a logical line into its raw (still escaped) key and value.
fn split_line(line: &str) -> (&str, &str) {
    let mut backslash = false;
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_separator = false;
    for (i, c) in line.char_indices() {
        if !backslash && (c == '=' || c == ':' || is_space(c)) {
            key_end = i;
            value_start = i + c.len_utf8();
            has_separator = c != ' ' && c != '\t' && c != '\u{c}';
            break;
        }
        backslash = c == '\\' && !backslash;
    }
    let rest = &line[value_start..];
    let mut skip = 0;
    for c in rest.chars() {
        if is_space(c) {
            skip += c.len_utf8();
        } else if !has_separator && (c == '=' || c == ':') {
            has_separator = true;
            skip += 1;
        } else {
            break;
        }
    }
    (&line[..key_end], &rest[skip..])
}

/// Reads properties text as Java's `Properties.load(InputStream)` does.
pub fn load(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for line in logical_lines(text) {
        let (key, value) = split_line(&line);
        out.insert(unescape(key)?, unescape(value)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_reader_rules() {
        let text =
            "# comment\n! also\n  a = 1\nb:2\nc 3\nd=x=y\ne=\\ lead\nf=one \\\n    two\ng=\\u00e9\\t\n";
        let m = load(text).unwrap();
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "2");
        assert_eq!(m["c"], "3");
        assert_eq!(m["d"], "x=y");
        assert_eq!(m["e"], " lead");
        assert_eq!(m["f"], "one two");
        assert_eq!(m["g"], "é\t");
        assert!(load("x=\\u12").is_err());
    }

    #[test]
    fn raw_utf8_is_garbled_by_latin1_decoding_which_is_why_escape_exists() {
        assert_ne!(load("k=é").unwrap()["k"], "é");
        assert_eq!(load(&format!("k={}", escape("é"))).unwrap()["k"], "é");
    }

    /// Regression cases found by the spec fuzzer: values whose leading tab or form feed Java
    /// strips, and non-ASCII text that ISO-8859-1 decoding garbled.
    #[test]
    fn escaped_values_read_back_unchanged() {
        for v in [
            "\tx",
            "\u{c}x",
            " x",
            "  ",
            "a\\b",
            "\\",
            "é😀",
            "x\t",
            "\\u0041",
            "a=b:c#d!e",
            "\u{1}",
            "",
        ] {
            let text = format!("k={}\n", escape(v));
            assert_eq!(load(&text).unwrap()["k"], v, "{v:?} as {text:?}");
            assert_eq!(unescape(&escape(v)).unwrap(), v);
        }
    }
}
