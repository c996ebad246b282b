//! Kubernetes resource quantities, parsed just far enough to compare sizes and derive a heap.

/// The value of a quantity in base units (bytes for memory and storage, cores for CPU).
/// Returns `None` for anything Kubernetes would not accept as a quantity.
pub fn parse(input: &str) -> Option<f64> {
    let s = input.trim();
    if s.is_empty() {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let mantissa: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let value = mantissa * factor;
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// Two quantity strings that denote the same amount, e.g. `1000m` and `1`.
pub fn same(a: &str, b: &str) -> bool {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// Bytes rounded down to whole MiB, for `-Xmx<n>m`.
pub fn to_mebibytes(bytes: f64) -> u64 {
    (bytes / (1024.0 * 1024.0)).floor() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_suffixes() {
        assert_eq!(parse("1Gi"), Some(1073741824.0));
        assert_eq!(parse("1G"), Some(1e9));
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("1.5Gi"), Some(1.5 * 1073741824.0));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("12"), Some(12.0));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "Gi", "1XB", "abc", "-1Gi", "1..2"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn compares_canonical_forms() {
        assert!(same("1000m", "1"));
        assert!(same("1024Mi", "1Gi"));
        assert!(!same("1Gi", "1G"));
    }

    #[test]
    fn converts_to_mebibytes() {
        assert_eq!(to_mebibytes(1073741824.0), 1024);
        assert_eq!(to_mebibytes(1.5 * 1048576.0), 1);
    }
}
