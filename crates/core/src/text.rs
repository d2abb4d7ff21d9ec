//! Bounding untrusted text before it is stored or logged.

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
/// Headers, paths and error messages come from callers and upstreams of any length; every
/// column and log field that holds one is clipped with this, so a 1 MiB user agent costs
/// 512 bytes, not a megabyte per audit row.
#[must_use]
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clips_to_the_last_whole_character_within_the_limit() {
        for (s, max, want) in [
            ("", 4, ""),
            ("abc", 4, "abc"),
            ("abcd", 4, "abcd"),
            ("abcde", 4, "abcd"),
            ("abc", 0, ""),
            // "é" is two bytes: a cut through it keeps neither half.
            ("abé", 3, "ab"),
            ("abé", 4, "abé"),
            // "€" is three bytes.
            ("€€", 5, "€"),
            ("€€", 2, ""),
        ] {
            assert_eq!(clip(s, max), want, "clip({s:?}, {max})");
        }
    }
}
