//! `application/x-www-form-urlencoded` bodies the gateway checks before the rack acts on them
//! (build create, release create). The rack parses forms with Go's `url.ParseQuery`, which
//! silently drops a pair with an invalid `%` escape or a `;`, while a lenient parser keeps it:
//! a `manifest=decoy%zz` the gateway checked would never reach the rack, which would build the
//! default manifest instead. So a checked form is parsed strictly (anything Go could read
//! differently is refused) and the rack is sent the form re-encoded from the parsed fields,
//! byte for byte what was checked, never the caller's bytes.

/// Why a form is refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the form sends {0} more than once; send it once")]
    Duplicate(&'static str),
    #[error(
        "the form has a % that does not start a two-digit hex escape; encode a literal % as %25"
    )]
    BadEscape,
    #[error("the form has a ';' outside an escape; encode it as %3B")]
    Semicolon,
    #[error("a form field is not UTF-8 once decoded; send UTF-8 text")]
    NotUtf8,
}

/// A form's fields, in order, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses `body` strictly; each name in `once` may appear at most once (the rack takes the
    /// first, the checks must see the same one).
    pub fn parse(body: &[u8], once: &[&'static str]) -> Result<Form, FormError> {
        let mut pairs = Vec::new();
        for part in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            pairs.push((decode(name)?, decode(value)?));
        }
        if let Some(name) = once
            .iter()
            .find(|n| pairs.iter().filter(|(k, _)| k == *n).count() > 1)
        {
            return Err(FormError::Duplicate(name));
        }
        Ok(Form { pairs })
    }

    /// A field's value, if present (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The form re-encoded, with `replace` deciding each field's value (`None` keeps it).
    pub fn encode_with(&self, mut replace: impl FnMut(&str, &str) -> Option<String>) -> Vec<u8> {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            match replace(k, v) {
                Some(new) => ser.append_pair(k, &new),
                None => ser.append_pair(k, v),
            };
        }
        ser.finish().into_bytes()
    }

    /// The form re-encoded as parsed: what the rack is sent.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(|_, _| None)
    }
}

/// Decodes one name or value: `+` is a space, `%XX` a byte; anything else is refused.
fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(FormError::BadEscape)?;
                let hex = std::str::from_utf8(hex).map_err(|_| FormError::BadEscape)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(FormError::BadEscape);
                }
                out.push(u8::from_str_radix(hex, 16).map_err(|_| FormError::BadEscape)?);
                i += 3;
            }
            b';' => return Err(FormError::Semicolon),
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::{Form, FormError};

    #[test]
    fn forms_go_could_read_differently_are_refused() {
        for (body, want) in [
            (&b"manifest=decoy%zz"[..], FormError::BadEscape),
            (b"manifest=a%2", FormError::BadEscape),
            (b"a%=1", FormError::BadEscape),
            (b"url=x;manifest=y", FormError::Semicolon),
            (b"manifest=%ff%fe", FormError::NotUtf8),
            (b"url=a&url=b", FormError::Duplicate("url")),
        ] {
            assert_eq!(Form::parse(body, &["url"]), Err(want), "{body:?}");
        }
    }

    #[test]
    fn fields_decode_and_re_encode_to_what_was_checked() {
        let form = Form::parse(
            b"url=object%3A%2F%2Fmyapp%2Fa.tgz&git-sha=abc&&manifest=my+convox.yml&flag&e=",
            &["url"],
        )
        .unwrap();
        assert_eq!(form.get("url"), Some("object://myapp/a.tgz"));
        assert_eq!(form.get("manifest"), Some("my convox.yml"));
        assert_eq!(form.get("flag"), Some(""));
        assert_eq!(form.get("e"), Some(""));
        assert_eq!(form.get("missing"), None);
        let again = Form::parse(&form.encode(), &["url"]).unwrap();
        assert_eq!(again, form);
        let swapped = form.encode_with(|k, _| (k == "git-sha").then(|| "def".to_owned()));
        assert_eq!(
            Form::parse(&swapped, &[]).unwrap().get("git-sha"),
            Some("def")
        );
    }
}
