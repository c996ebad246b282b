//! The API server's syntax rules for names, label keys and values and port names
//! (`k8s.io/apimachinery/pkg/util/validation`), as plain functions: `Err` says what is wrong.

fn alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn ends_alnum(s: &str, alnum: fn(char) -> bool) -> bool {
    s.chars().next().is_some_and(alnum) && s.chars().last().is_some_and(alnum)
}

/// A DNS-1123 label: 1-63 lower case alphanumerics and `-`, alphanumeric at both ends.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("{s:?} must be 1-63 characters (a DNS-1123 label)"));
    }
    if !s.chars().all(|c| alnum_lower(c) || c == '-') || !ends_alnum(s, alnum_lower) {
        return Err(format!(
            "{s:?} is not a DNS-1123 label: lower case letters, digits and '-', alphanumeric at both ends"
        ));
    }
    Ok(())
}

/// A DNS-1035 label: a DNS-1123 label that starts with a letter (Service names).
pub fn dns1035_label(s: &str) -> Result<(), String> {
    dns1123_label(s)?;
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "{s:?} is not a DNS-1035 label: it must start with a letter"
        ));
    }
    Ok(())
}

/// A DNS-1123 subdomain: at most 253 characters, `.`-separated non-empty labels.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err(format!("{s:?} must be 1-253 characters (a DNS-1123 subdomain)"));
    }
    let ok = s.split('.').all(|part| {
        !part.is_empty() && part.chars().all(|c| alnum_lower(c) || c == '-') && ends_alnum(part, alnum_lower)
    });
    if !ok {
        return Err(format!(
            "{s:?} is not a DNS-1123 subdomain: lower case letters, digits, '-' and '.', alphanumeric at both ends"
        ));
    }
    Ok(())
}

fn name_part(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    !s.is_empty() && s.len() <= 63 && s.chars().all(|c| alnum(c) || "-_.".contains(c)) && ends_alnum(s, alnum)
}

/// A label value: empty, or up to 63 alphanumerics, `-`, `_` and `.`, alphanumeric at both ends.
pub fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() || name_part(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid label value: at most 63 letters, digits, '-', '_' and '.', alphanumeric at both ends"
        ))
    }
}

/// A qualified name (label and annotation keys, topology keys): `[prefix/]name`, the prefix a
/// DNS-1123 subdomain, the name up to 63 alphanumerics, `-`, `_` and `.`.
pub fn qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok = prefix.is_none_or(|p| dns1123_subdomain(p).is_ok());
    if !prefix_ok || !name_part(name) {
        return Err(format!(
            "{s:?} is not a qualified name: an optional DNS subdomain and '/', then at most 63 letters, digits, '-', '_' and '.', alphanumeric at both ends"
        ));
    }
    Ok(())
}

/// An IANA service name (container port names): 1-15 lower case alphanumerics and `-`, at
/// least one letter, no leading, trailing or double `-`.
pub fn iana_svc_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && s.chars().all(|c| alnum_lower(c) || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "port name {s:?} is not an IANA service name: 1-15 lower case letters, digits and '-', at least one letter, no leading, trailing or double '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(dns1123_label("demo-broker-0").is_ok());
        assert!(dns1123_label(&"a".repeat(64)).is_err());
        assert!(dns1123_label("Demo").is_err());
        assert!(dns1123_label("-a").is_err());
        assert!(dns1035_label("9demo").is_err());
        assert!(dns1123_label("9demo").is_ok());
        assert!(dns1123_subdomain("fast.ssd").is_ok());
        assert!(dns1123_subdomain("fast..ssd").is_err());
        assert!(dns1123_subdomain(&"a".repeat(254)).is_err());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(label_value("").is_ok());
        assert!(label_value("A.b_c-9").is_ok());
        assert!(label_value("a b").is_err());
        assert!(label_value(&"a".repeat(64)).is_err());
        assert!(qualified_name("topology.kubernetes.io/zone").is_ok());
        assert!(qualified_name("Zone_1").is_ok());
        for bad in ["", "/zone", "Example.com/zone", "zone/", "a/b/c", "zone!"] {
            assert!(qualified_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_names() {
        assert!(iana_svc_name("internal").is_ok());
        assert!(iana_svc_name("ext-2").is_ok());
        for bad in ["", "ext-", "a--b", "1234", "abcdefghijklmnop", "Ext"] {
            assert!(iana_svc_name(bad).is_err(), "{bad}");
        }
    }
}
