//! KRaft cluster ids: 16 random bytes, URL-safe base64 without padding, as Kafka's own
//! `Uuid.randomUuid().toString()` produces (and never starting with '-', which Kafka avoids
//! because such an id reads like a command-line flag).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn generate() -> String {
    loop {
        let id = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// Whether `id` has the shape of a Kafka cluster id.
pub fn is_valid(id: &str) -> bool {
    id.len() == 22 && URL_SAFE_NO_PAD.decode(id).map(|b| b.len() == 16).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(is_valid(&a), "{a}");
        assert_ne!(a, b);
        assert!(!a.starts_with('-'));
    }

    #[test]
    fn rejects_malformed_ids() {
        assert!(!is_valid("short"));
        assert!(!is_valid("!!!!!!!!!!!!!!!!!!!!!!"));
    }
}
