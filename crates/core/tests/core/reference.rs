//! The route table against the reference: every route the Convox reference lists is in it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use rgw_core::rbac::ROUTES;

fn reference_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/convox-rack-api.md")
}

/// Replaces every `{...}` with `{}` so parameter names and kinds do not matter.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push_str("{}");
                }
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

fn is_method_list(token: &str) -> bool {
    !token.is_empty()
        && token.split('/').all(|m| {
            matches!(
                m,
                "GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "SOCKET" | "ANY"
            )
        })
}

/// Expands `{a,b,c}` alternatives (not parameters) into several paths.
fn expand_alternatives(path: &str) -> Vec<String> {
    let mut from = 0;
    while let Some(open) = path[from..].find('{').map(|i| i + from) {
        let Some(close) = path[open..].find('}').map(|i| i + open) else {
            break;
        };
        let inner = &path[open + 1..close];
        if inner.contains(',') {
            let (head, tail) = (&path[..open], &path[close + 1..]);
            return inner
                .split(',')
                .flat_map(|alt| expand_alternatives(&format!("{head}{alt}{tail}")))
                .collect();
        }
        from = close + 1;
    }
    vec![path.to_owned()]
}

/// `…/rest` continues the row's first path: from its parent when `rest` starts with a
/// literal segment (`/apps/{app}/budget` + `…/budget/reset`), from the path itself when it
/// starts with a parameter (`/apps/{app}/resources` + `…/{name}`).
fn expand_ellipsis(base: &str, rest: &str) -> String {
    if rest.starts_with("/{") {
        format!("{base}{rest}")
    } else {
        let parent = base.rsplit_once('/').map_or("", |(p, _)| p);
        format!("{parent}{rest}")
    }
}

/// Every `(method, path)` of §1 of the reference.
fn reference_routes(markdown: &str) -> Vec<(String, String)> {
    let section = markdown
        .split("\n## 1. Route table")
        .nth(1)
        .and_then(|s| s.split("\n## 2.").next())
        .expect("section \"## 1. Route table\" not found in convox-rack-api.md");
    let mut routes = Vec::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(methods), Some(paths)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        // Header, separator, and the generator rows with an empty method.
        if *methods == "Method" || methods.starts_with("---") || methods.is_empty() {
            continue;
        }
        let mut base: Option<String> = None;
        for item in paths.replace('`', "").split(';') {
            let mut item = item.trim().to_owned();
            if let Some(i) = item.find(" (") {
                item.truncate(i);
            }
            let (item_methods, path) = match item.split_once(' ') {
                Some((first, rest)) if is_method_list(first) => {
                    (first.to_owned(), rest.trim().to_owned())
                }
                _ => (methods.to_string(), item.clone()),
            };
            let path = match path.strip_prefix('…') {
                Some(rest) => {
                    expand_ellipsis(base.as_deref().expect("… without a base path"), rest)
                }
                None => path,
            };
            if base.is_none() {
                base = Some(path.clone());
            }
            for p in expand_alternatives(&path) {
                for m in item_methods.split('/') {
                    routes.push((m.to_owned(), p.clone()));
                }
            }
        }
    }
    routes
}

#[test]
fn every_route_of_the_reference_table_is_in_the_route_table() {
    let path = reference_path();
    let markdown = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the rack API reference at {} ({e}); the shared docs must be checked out at ../shared beside the repository root",
            path.display()
        )
    });
    let reference = reference_routes(&markdown);
    assert!(
        reference.len() > 80,
        "parsed only {} routes; has the table format changed?",
        reference.len()
    );
    let ours: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_owned(), shape(r.pattern)))
        .collect();
    let theirs: BTreeSet<(String, String)> = reference
        .iter()
        .map(|(m, p)| (m.clone(), shape(p)))
        .collect();
    let missing: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "reference routes missing from ROUTES: {missing:#?}"
    );
    // Nothing beyond the reference except the documented probes.
    let extra: Vec<_> = ours.difference(&theirs).collect();
    let probes: Vec<(String, String)> = ["/auth", "/machines", "/racks"]
        .iter()
        .map(|p| ("GET".to_owned(), (*p).to_owned()))
        .collect();
    assert!(
        extra.iter().all(|e| probes.contains(e)),
        "ROUTES has routes the reference does not list: {extra:#?}"
    );
}

#[test]
fn the_reference_parser_expands_shorthand_rows() {
    let md = "\n## 1. Route table\n| Method | Path | Purpose |\n|---|---|---|\n\
        | GET/POST/DELETE | /apps/{app}/budget ; POST …/budget/reset | x |\n\
        | GET | /apps/{app}/resources ; GET …/{name} | x |\n\
        | POST | /a/{s}/scale-override ; …/triggers/{enable,disable} | x |\n\
        | GET | /system/capacity ; /system/processes (query `all`) | x |\n\
        | | | generator |\n## 2. Next\n";
    let got = reference_routes(md);
    let want: Vec<(String, String)> = [
        ("GET", "/apps/{app}/budget"),
        ("POST", "/apps/{app}/budget"),
        ("DELETE", "/apps/{app}/budget"),
        ("POST", "/apps/{app}/budget/reset"),
        ("GET", "/apps/{app}/resources"),
        ("GET", "/apps/{app}/resources/{name}"),
        ("POST", "/a/{s}/scale-override"),
        ("POST", "/a/{s}/triggers/enable"),
        ("POST", "/a/{s}/triggers/disable"),
        ("GET", "/system/capacity"),
        ("GET", "/system/processes"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(got, want);
}
