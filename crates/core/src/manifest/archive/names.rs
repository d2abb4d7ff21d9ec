//! Tar entry names: every name an extractor might give an entry, normalised and placed
//! relative to the manifest path.
//!
//! Tar has several places for a name (the ustar `name` and `prefix` fields, the star variant of
//! `prefix`, a GNU long-name record, a PAX `path` record) and extractors disagree on which one
//! wins: the `tar` crate prefers the GNU long name, Go's `archive/tar` (the rack's side)
//! prefers PAX `path`. Rather than guess one, [`Names`] keeps every candidate and the caller
//! refuses an entry whose candidates disagree about anything that touches the manifest.

use super::super::{ManifestPath, printable};

/// Where a normalised entry name lies relative to the manifest path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Relation {
    /// Nothing to do with the manifest.
    Unrelated,
    /// The archive root itself (`./`, `.`, `/`).
    Root,
    /// Exactly the manifest path.
    Manifest,
    /// A directory the manifest lies under (`ci` for `ci/convox.prod.yml`).
    Ancestor,
    /// Below the manifest path, as if the manifest were a directory.
    Inside,
}

/// One way of reading an entry's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Candidate {
    /// The name as lexically resolved by an extractor that joins it onto the destination
    /// directory: `.` and empty segments dropped, `..` applied, clamped at the root.
    pub resolved: Vec<u8>,
    /// Whether the name was already in the plain form the convox CLI writes (relative, no
    /// `.`/`..`/empty segments, no NUL, at most one leading `./`, a trailing `/` only on
    /// directories). Only clean names may be matched.
    pub clean: bool,
}

impl Candidate {
    /// Normalises a raw tar name. `is_dir` allows the trailing `/` directories carry.
    pub fn new(raw: &[u8], is_dir: bool) -> Self {
        let (raw, had_nul) = cut_at_nul(raw);
        let mut clean = !had_nul;
        let mut name = raw.strip_prefix(b"./").unwrap_or(raw);
        if name == b"." {
            name = b"";
        }
        let trimmed_len = name.len() - name.iter().rev().take_while(|b| **b == b'/').count();
        if trimmed_len != name.len() && (!is_dir || trimmed_len == 0) {
            clean = false;
        }
        let name = name.get(..trimmed_len).unwrap_or_default();
        if name.first() == Some(&b'/') {
            clean = false;
        }
        let mut segments: Vec<&[u8]> = Vec::new();
        for segment in name.split(|b| *b == b'/') {
            match segment {
                b"" | b"." => clean &= name.is_empty(),
                b".." => {
                    clean = false;
                    segments.pop();
                }
                other => segments.push(other),
            }
        }
        Self {
            resolved: segments.join(&b'/'),
            clean,
        }
    }

    /// Where this name lies relative to `manifest`.
    pub fn relation(&self, manifest: &ManifestPath) -> Relation {
        let name = self.resolved.as_slice();
        let manifest_bytes = manifest.as_str().as_bytes();
        if name.is_empty() {
            Relation::Root
        } else if name == manifest_bytes {
            Relation::Manifest
        } else if manifest.ancestors().any(|a| a.as_bytes() == name) {
            Relation::Ancestor
        } else if name
            .strip_prefix(manifest_bytes)
            .is_some_and(|rest| rest.first() == Some(&b'/'))
        {
            Relation::Inside
        } else {
            Relation::Unrelated
        }
    }
}

/// Bytes up to the first NUL, and whether anything but NULs followed it.
fn cut_at_nul(raw: &[u8]) -> (&[u8], bool) {
    match raw.iter().position(|b| *b == 0) {
        Some(i) => {
            let rest = raw.get(i..).unwrap_or_default();
            (
                raw.get(..i).unwrap_or_default(),
                rest.iter().any(|b| *b != 0),
            )
        }
        None => (raw, false),
    }
}

/// Every candidate name of one entry.
#[derive(Debug, Default)]
pub(super) struct Names(pub Vec<Candidate>);

impl Names {
    /// Adds a candidate unless an identical one is already present.
    pub fn push(&mut self, candidate: Candidate) {
        if !self.0.contains(&candidate) {
            self.0.push(candidate);
        }
    }

    /// The names the ustar header block itself gives (`prefix/name`, and the star reading of
    /// `prefix` when the block carries star's trailer).
    ///
    /// Writers that put a long name in an extension header fill the 100-byte `name` field with
    /// its truncation; a full field that is a prefix of `extension_name` is that truncation,
    /// not a second opinion, and is left out.
    pub fn from_header(block: &[u8; 512], is_dir: bool, extension_name: Option<&[u8]>) -> Self {
        let mut names = Self::default();
        let field = |range: std::ops::Range<usize>| {
            let raw = block.get(range).unwrap_or_default();
            cut_at_nul(raw).0
        };
        let name = field(0..100);
        let name_field_full = name.len() == 100;
        let is_ustar =
            block.get(257..263) == Some(b"ustar\0") && block.get(263..265) == Some(b"00");
        let mut prefixes = Vec::new();
        if is_ustar {
            prefixes.push(field(345..500));
            if block.get(508..512) == Some(b"tar\0") {
                prefixes.push(field(345..476));
            }
        } else {
            prefixes.push(b"".as_slice());
        }
        for prefix in prefixes {
            let joined = if prefix.is_empty() {
                name.to_vec()
            } else {
                [prefix, b"/", name].concat()
            };
            let truncation =
                name_field_full && extension_name.is_some_and(|long| long.starts_with(&joined));
            if !truncation {
                names.push(Candidate::new(&joined, is_dir));
            }
        }
        names
    }

    /// The single resolved name all candidates agree on, or `None` if they disagree.
    pub fn agreed(&self) -> Option<&Candidate> {
        let first = self.0.first()?;
        self.0
            .iter()
            .all(|c| c.resolved == first.resolved)
            .then_some(first)
    }

    /// Whether every candidate is clean.
    pub fn all_clean(&self) -> bool {
        self.0.iter().all(|c| c.clean)
    }

    /// The strongest relation any candidate has to the manifest path.
    pub fn relation(&self, manifest: &ManifestPath) -> Relation {
        let relations = self.0.iter().map(|c| c.relation(manifest));
        let mut strongest = Relation::Unrelated;
        for relation in relations {
            strongest = match (strongest, relation) {
                (_, Relation::Manifest) | (Relation::Manifest, _) => Relation::Manifest,
                (_, Relation::Ancestor) | (Relation::Ancestor, _) => Relation::Ancestor,
                (_, Relation::Inside) | (Relation::Inside, _) => Relation::Inside,
                (_, Relation::Root) | (Relation::Root, _) => Relation::Root,
                _ => Relation::Unrelated,
            };
        }
        strongest
    }

    /// A printable form of the first candidate, for error messages.
    pub fn display(&self) -> String {
        self.0
            .first()
            .map(|c| printable(&c.resolved))
            .unwrap_or_default()
    }
}

/// The records of a PAX extended header that matter here.
#[derive(Debug, Default)]
pub(super) struct Pax {
    pub path: Option<Vec<u8>>,
    pub linkpath: Option<Vec<u8>>,
    pub size: Option<u64>,
    /// Whether any `GNU.sparse.*` record is present (these can rename the entry in Go).
    pub sparse: bool,
}

impl Pax {
    /// Parses PAX records (`"<len> <key>=<value>\n"`, `len` counting the whole record) strictly
    /// by length. Returns `None` when malformed or when `path`, `linkpath` or `size` repeats.
    ///
    /// Written here rather than using `tar::PaxExtensions`, which splits on newlines (a value
    /// may contain one) and stops at an empty line, so it can miss records Go would apply.
    pub fn parse(mut data: &[u8]) -> Option<Self> {
        let mut pax = Self::default();
        while !data.is_empty() {
            let space = data.iter().position(|b| *b == b' ')?;
            let len_digits = data.get(..space)?;
            if len_digits.is_empty() || !len_digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let len: usize = std::str::from_utf8(len_digits).ok()?.parse().ok()?;
            let record = data.get(..len)?;
            let body = record.get(space + 1..)?.strip_suffix(b"\n")?;
            let equals = body.iter().position(|b| *b == b'=')?;
            let (key, value) = (body.get(..equals)?, body.get(equals + 1..)?);
            match key {
                b"" => return None,
                b"path" => set_once(&mut pax.path, value.to_vec())?,
                b"linkpath" => set_once(&mut pax.linkpath, value.to_vec())?,
                b"size" => {
                    let size = std::str::from_utf8(value).ok()?.parse().ok()?;
                    set_once(&mut pax.size, size)?;
                }
                _ if key.starts_with(b"GNU.sparse.") => pax.sparse = true,
                _ => {}
            }
            data = data.get(len..)?;
        }
        Some(pax)
    }

    /// Whether a global header sets anything that would change names or sizes.
    pub fn affects_entries(&self) -> bool {
        self.path.is_some() || self.linkpath.is_some() || self.size.is_some() || self.sparse
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn manifest(path: &str) -> ManifestPath {
        ManifestPath::parse(path).unwrap()
    }

    #[rstest]
    #[case::plain("convox.yml", false, "convox.yml", true)]
    #[case::dot_slash("./convox.yml", false, "convox.yml", true)]
    #[case::double_dot_slash("././convox.yml", false, "convox.yml", false)]
    #[case::dir_slash("ci/", true, "ci", true)]
    #[case::file_slash("convox.yml/", false, "convox.yml", false)]
    #[case::absolute("/convox.yml", false, "convox.yml", false)]
    #[case::parent("../convox.yml", false, "convox.yml", false)]
    #[case::inner_parent("x/../convox.yml", false, "convox.yml", false)]
    #[case::doubled("ci//convox.yml", false, "ci/convox.yml", false)]
    #[case::nul_junk(b"convox.yml\0x".as_slice(), false, "convox.yml", false)]
    #[case::nul_padding(b"convox.yml\0\0".as_slice(), false, "convox.yml", true)]
    #[case::root("./", true, "", true)]
    #[case::dot(".", true, "", true)]
    fn names_are_normalised_and_flagged(
        #[case] raw: impl AsRef<[u8]>,
        #[case] is_dir: bool,
        #[case] resolved: &str,
        #[case] clean: bool,
    ) {
        let candidate = Candidate::new(raw.as_ref(), is_dir);
        assert_eq!(candidate.resolved, resolved.as_bytes());
        assert_eq!(candidate.clean, clean);
    }

    #[rstest]
    #[case("ci/convox.prod.yml", Relation::Manifest)]
    #[case("ci", Relation::Ancestor)]
    #[case("ci/convox.prod.yml/x", Relation::Inside)]
    #[case("ci/convox.prod.yml.bak", Relation::Unrelated)]
    #[case("cii", Relation::Unrelated)]
    #[case("", Relation::Root)]
    fn relations_to_the_manifest_path_are_exact(#[case] name: &str, #[case] expected: Relation) {
        let candidate = Candidate::new(name.as_bytes(), false);
        assert_eq!(
            candidate.relation(&manifest("ci/convox.prod.yml")),
            expected
        );
    }

    /// One PAX record, its length prefix counting itself.
    fn rec(key: &str, value: &str) -> Vec<u8> {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}").len() + body.len() != len {
            len += 1;
        }
        format!("{len}{body}").into_bytes()
    }

    #[test]
    fn pax_records_are_parsed_by_length_even_with_newlines_in_values() {
        let data = [
            rec("path", "a\nb/c.yml"),
            rec("size", "42"),
            rec("mtime", "1.5"),
        ]
        .concat();
        let pax = Pax::parse(&data).unwrap();
        assert_eq!(pax.path.as_deref(), Some(b"a\nb/c.yml".as_slice()));
        assert_eq!(pax.size, Some(42));
        assert!(!pax.sparse);
    }

    #[rstest]
    #[case::empty_line(b"\n".to_vec())]
    #[case::length_past_the_end(b"99 path=x\n".to_vec())]
    #[case::no_equals(b"8 pathx\n".to_vec())]
    #[case::no_newline(b"9 path=xy".to_vec())]
    #[case::repeated_path([rec("path", "a"), rec("path", "b")].concat())]
    #[case::bad_size(rec("size", "4x"))]
    #[case::record_then_empty_line([rec("mtime", "1"), b"\n".to_vec(), rec("path", "convox.yml")].concat())]
    fn malformed_or_ambiguous_pax_headers_are_refused(#[case] data: Vec<u8>) {
        assert!(Pax::parse(&data).is_none());
    }

    #[test]
    fn gnu_sparse_records_are_noticed() {
        let pax = Pax::parse(&rec("GNU.sparse.name", "convox.yml")).unwrap();
        assert!(pax.sparse && pax.affects_entries());
    }
}
