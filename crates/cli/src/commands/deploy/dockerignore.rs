//! `.dockerignore` matching with Docker's semantics, so `rack-gateway deploy` uploads the same
//! files `convox deploy` does: `#` comments, blank lines skipped, patterns cleaned and made
//! relative (a leading `/` dropped), `*` and `?` within one path segment, `**` across
//! segments, `[…]` classes, `\` escapes, `!` re-includes, the last matching pattern wins, and a
//! pattern that matches a parent directory excludes everything under it.
//!
//! Written here rather than taken from `ignore`/`globset`: those implement `.gitignore`
//! rules (unanchored names, trailing-`/` directory patterns), which would upload a different
//! set of files than Docker and convox do.

use regex::Regex;

/// One compiled line of a `.dockerignore`.
#[derive(Debug)]
struct Pattern {
    regex: Regex,
    /// A `!` line: matching files are included again.
    exclusion: bool,
}

/// The patterns of one `.dockerignore`.
#[derive(Debug, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore`; the error names the bad line.
    pub fn parse(text: &str) -> Result<DockerIgnore, String> {
        let mut patterns = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, rest) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(rest);
            if cleaned.is_empty() {
                continue;
            }
            let regex = Regex::new(&to_regex(&cleaned))
                .map_err(|e| format!(".dockerignore line {}: {line:?}: {e}", n + 1))?;
            patterns.push(Pattern { regex, exclusion });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether any `!` line exists (then an excluded directory must still be walked, since a
    /// file under it may be included again).
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative, `/`-separated, no `./`) is left out of the tarball.
    pub fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for p in &self.patterns {
            // Only a pattern that can change the current answer needs evaluating.
            if p.exclusion != excluded {
                continue;
            }
            // A pattern matching a parent directory matches everything under it.
            let hit = (1..=segments.len()).any(|n| p.regex.is_match(&segments[..n].join("/")));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }
}

/// `filepath.Clean` for a `/`-separated pattern, made relative.
fn clean(pattern: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in pattern.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

/// The anchored regular expression of a cleaned pattern.
fn to_regex(pattern: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if in_class {
            match c {
                ']' => {
                    in_class = false;
                    re.push(']');
                }
                '\\' if i + 1 < chars.len() => {
                    i += 1;
                    re.push_str(&regex::escape(&chars[i].to_string()));
                }
                // Set operators of the regex crate's classes are literal in Docker's.
                '[' | '&' | '~' => {
                    re.push('\\');
                    re.push(c);
                }
                _ => re.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    i += 1;
                }
                if i + 1 >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                in_class = true;
                re.push('[');
                // Go's `[^…]` and `[!…]`-less syntax: `^` negates, as in regex.
                if chars.get(i + 1) == Some(&'^') {
                    re.push('^');
                    i += 1;
                }
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules_decide_what_is_left_out() {
        let ig = DockerIgnore::parse(
            "# comment\n\n/secrets.env\n*.log\nnode_modules\n**/tmp\ndocs/*.md\n!docs/README.md\n\
             build/**\n!build/keep/**\nd?t[a-c]\n",
        )
        .unwrap();
        let cases = [
            ("secrets.env", true),
            ("app/secrets.env", false),
            ("debug.log", true),
            ("app/debug.log", false),
            ("node_modules", true),
            ("node_modules/left-pad/index.js", true),
            ("tmp", true),
            ("a/b/tmp/x", true),
            ("docs/guide.md", true),
            ("docs/README.md", false),
            ("docs/sub/guide.md", false),
            ("build/out.bin", true),
            ("build/keep/x", false),
            ("dota", true),
            ("dotd", false),
            ("convox.yml", false),
            ("src/main.rs", false),
        ];
        for (path, excluded) in cases {
            assert_eq!(ig.excludes(path), excluded, "{path}");
        }
        assert!(ig.has_exclusions());
    }

    #[test]
    fn patterns_are_cleaned_and_escapes_are_literal() {
        let ig = DockerIgnore::parse("./a/../b/\\*.txt\n**\n!keep\n").unwrap();
        assert!(ig.excludes("b/*.txt"));
        assert!(ig.excludes("anything/at/all"));
        assert!(!ig.excludes("keep"));
        let ig = DockerIgnore::parse("b/\\*.txt").unwrap();
        assert!(!ig.excludes("b/x.txt"));
        assert!(DockerIgnore::parse("").unwrap().patterns.is_empty());
    }
}
