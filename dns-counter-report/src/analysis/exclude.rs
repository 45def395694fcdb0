//! Names the operator does not want in the top list (their own zones, health checks, ...).
//!
//! An exclusion is a name, matched exactly, or a wildcard `*.example.com`, which matches every name
//! strictly under `example.com` (`www.example.com`, `a.b.example.com`) but, as a DNS wildcard
//! (RFC 4592) does, not `example.com` itself: exclude that as a name of its own. The `*` must be the
//! whole first label; a `*` elsewhere is refused, and `\*` is a label that is a literal `*`.
//!
//! Names are compared in one canonical form: the bytes a spelling stands for, ASCII folded to lower case,
//! rendered by [`names::presentation`] as the kernel's names are. So `WWW.Example.com.` matches
//! `www.example.com`, and `a\046b.test` matches `a\.b.test` (one label holding a dot).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::names;

/// Longest label in octets (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;
/// Longest name in wire form, length bytes and the root's zero included (RFC 1035 §2.3.4).
const MAX_WIRE: usize = 255;

/// Names to leave out of the counts: names matched exactly, and domains every name under which is
/// left out (`*.example.com`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    names: BTreeSet<String>,
    /// `example.com` for `*.example.com`.
    under: BTreeSet<String>,
}

/// Why an exclusion list could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExcludeError {
    #[error("cannot read exclusion file {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot exclude {name:?}: {why}")]
    BadName { name: String, why: NameError },
    #[error("{}:{line}: cannot exclude {name:?}: {why}", path.display())]
    BadLine {
        path: PathBuf,
        /// 1-based.
        line: usize,
        name: String,
        why: NameError,
    },
}

/// What is wrong with a name to exclude, worded as what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty (write . for the root)")]
    Empty,
    #[error("it has an empty label (a leading dot or two dots in a row)")]
    EmptyLabel,
    #[error("label {label:?} is {octets} bytes long; a label has at most 63")]
    LabelTooLong { label: String, octets: usize },
    #[error(
        "it is {octets} bytes long in wire form; a name has at most 255 (253 characters without escapes)"
    )]
    NameTooLong { octets: usize },
    #[error(
        "bad escape {escape:?}: write \\DDD with a byte value 000 to 255, or \\ before a printable character"
    )]
    BadEscape { escape: String },
    #[error(
        "unescaped {ch:?}: put one name on a line, and write a space or control byte inside a label as \\DDD"
    )]
    Unescaped { ch: char },
    #[error("non-ASCII {ch:?}: write an internationalised name in its xn-- (punycode) form")]
    NonAscii { ch: char },
    #[error(
        "a * label is a wildcard only as the first label of an exclusion, as in *.example.com; for a label that is a literal * write \\*"
    )]
    Wildcard,
    #[error(
        "a wildcard alone would exclude every name: write the domain after it, as in *.example.com"
    )]
    WildcardAlone,
}

/// One exclusion, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Name(String),
    /// Every name strictly under this one.
    Under(String),
}

impl Exclusions {
    /// Builds the set from names and wildcards given directly and from files of one a line.
    ///
    /// In files, blank lines and `#` comments (whole-line or trailing; `\#` is a literal `#`) are ignored.
    pub fn new(names: &[String], files: &[PathBuf]) -> Result<Self, ExcludeError> {
        let mut set = Self::default();
        for name in names {
            let pattern = pattern(name.trim()).map_err(|why| ExcludeError::BadName {
                name: name.clone(),
                why,
            })?;
            set.insert(pattern);
        }
        for path in files {
            set.read_file(path)?;
        }
        Ok(set)
    }

    fn insert(&mut self, pattern: Pattern) {
        match pattern {
            Pattern::Name(name) => self.names.insert(name),
            Pattern::Under(domain) => self.under.insert(domain),
        };
    }

    /// Whether `presentation_name` (as [`names::presentation`] renders it) is excluded. Any spelling that
    /// [`normalize`] accepts matches too; text that is not a valid name matches nothing.
    pub fn contains(&self, presentation_name: &str) -> bool {
        self.contains_canonical(presentation_name)
            || normalize(presentation_name)
                .is_ok_and(|canonical| self.contains_canonical(&canonical))
    }

    /// [`Exclusions::contains`] for a name known to be canonical (rendered from folded wire form), without
    /// parsing it again.
    pub(crate) fn contains_canonical(&self, canonical: &str) -> bool {
        self.names.contains(canonical)
            || (!self.under.is_empty()
                && names::suffixes(canonical)
                    .skip(1)
                    .any(|parent| self.under.contains(parent)))
    }

    /// Exact names and wildcards.
    pub fn len(&self) -> usize {
        self.names.len() + self.under.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.under.is_empty()
    }

    /// The names excluded exactly, in canonical form, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The domains every name under which is excluded (`example.com` for `*.example.com`), in
    /// canonical form, sorted.
    pub fn under(&self) -> impl Iterator<Item = &str> {
        self.under.iter().map(String::as_str)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), ExcludeError> {
        let bytes = std::fs::read(path).map_err(|source| ExcludeError::Read {
            path: path.to_owned(),
            source,
        })?;
        for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
            // Lossy so that a stray non-UTF-8 byte is reported with its line, not as an unreadable file.
            let line = String::from_utf8_lossy(line);
            let name = strip_comment(&line).trim();
            if name.is_empty() {
                continue;
            }
            let pattern = pattern(name).map_err(|why| ExcludeError::BadLine {
                path: path.to_owned(),
                line: index + 1,
                name: name.to_owned(),
                why,
            })?;
            self.insert(pattern);
        }
        Ok(())
    }
}

/// A name, or a wildcard `*.domain`, in canonical form.
fn pattern(text: &str) -> Result<Pattern, NameError> {
    let Some(domain) = text.strip_prefix("*.").or((text == "*").then_some("")) else {
        return normalize(text).map(Pattern::Name);
    };
    // `*`, `*.` and `*..` would be every name under the root.
    let domain = match domain {
        "" => return Err(NameError::WildcardAlone),
        domain => normalize(domain)?,
    };
    match domain.as_str() {
        "." => Err(NameError::WildcardAlone),
        _ => Ok(Pattern::Under(domain)),
    }
}

/// The line up to the first `#` that is not escaped.
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut escaped = false;
    for (at, ch) in line.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '#' => return &line[..at],
            _ => {}
        }
    }
    line
}

/// Parses a name in presentation form (RFC 1035 §5.1 escapes, optional trailing dot) and returns its
/// canonical spelling: ASCII folded to lower case, rendered by [`names::presentation`].
pub fn normalize(name: &str) -> Result<String, NameError> {
    let wire = parse(name)?;
    let folded = if wire.iter().any(u8::is_ascii_uppercase) {
        Cow::Owned(wire.to_ascii_lowercase())
    } else {
        Cow::Borrowed(&wire)
    };
    Ok(names::presentation(&folded))
}

/// Presentation form to wire form, with the length limits checked.
pub fn parse(name: &str) -> Result<Vec<u8>, NameError> {
    match name {
        "" => return Err(NameError::Empty),
        "." => return Ok(vec![0]),
        _ => {}
    }
    let mut wire = Vec::with_capacity(name.len() + 2);
    let mut label: Vec<u8> = Vec::with_capacity(MAX_LABEL);
    let mut label_text_start = 0;
    let mut chars = name.char_indices().peekable();
    let mut ended_with_dot = false;
    while let Some((at, ch)) = chars.next() {
        ended_with_dot = false;
        match ch {
            '.' => {
                end_label(&mut wire, &mut label, &name[label_text_start..at])?;
                label_text_start = at + 1;
                ended_with_dot = true;
            }
            '\\' => label.push(parse_escape(name, at, &mut chars)?),
            ' ' | '\t' | '\r' | '\n' => return Err(NameError::Unescaped { ch }),
            _ if ch.is_ascii_control() => return Err(NameError::Unescaped { ch }),
            _ if !ch.is_ascii() => return Err(NameError::NonAscii { ch }),
            '*' => {
                let whole_label = label.is_empty() && matches!(chars.peek(), None | Some((_, '.')));
                if whole_label {
                    return Err(NameError::Wildcard);
                }
                label.push(b'*');
            }
            _ => label.push(ch as u8),
        }
    }
    if !ended_with_dot {
        end_label(&mut wire, &mut label, &name[label_text_start..])?;
    }
    wire.push(0);
    if wire.len() > MAX_WIRE {
        return Err(NameError::NameTooLong { octets: wire.len() });
    }
    Ok(wire)
}

fn end_label(wire: &mut Vec<u8>, label: &mut Vec<u8>, text: &str) -> Result<(), NameError> {
    match label.len() {
        0 => Err(NameError::EmptyLabel),
        octets @ 1..=MAX_LABEL => {
            wire.push(octets as u8);
            wire.append(label);
            Ok(())
        }
        octets => Err(NameError::LabelTooLong {
            label: text.to_owned(),
            octets,
        }),
    }
}

/// The byte after a backslash at `at`: `\DDD` or `\c` for a printable ASCII `c`.
fn parse_escape(
    name: &str,
    at: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<u8, NameError> {
    let bad = |len: usize| NameError::BadEscape {
        escape: name[at..].chars().take(len).collect(),
    };
    match chars.next() {
        Some((_, digit)) if digit.is_ascii_digit() => {
            let mut value = u32::from(digit as u8 - b'0');
            for _ in 0..2 {
                match chars.next() {
                    Some((_, d)) if d.is_ascii_digit() => {
                        value = value * 10 + u32::from(d as u8 - b'0')
                    }
                    _ => return Err(bad(4)),
                }
            }
            u8::try_from(value).map_err(|_| bad(4))
        }
        Some((_, ch)) if ch.is_ascii_graphic() => Ok(ch as u8),
        _ => Err(bad(2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> Result<Exclusions, ExcludeError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        Exclusions::new(&names, &[])
    }

    fn why(name: &str) -> NameError {
        match normalize(name) {
            Err(why) => why,
            Ok(canonical) => panic!("{name:?} was accepted as {canonical:?}"),
        }
    }

    #[test]
    fn normalizes_case_and_one_trailing_dot() {
        assert_eq!(
            normalize("WWW.Example.COM.").as_deref(),
            Ok("www.example.com")
        );
        assert_eq!(
            normalize("www.example.com").as_deref(),
            Ok("www.example.com")
        );
        assert_eq!(normalize(".").as_deref(), Ok("."));
        assert_eq!(why("example.com.."), NameError::EmptyLabel);
    }

    #[test]
    fn escapes_are_compared_by_the_bytes_they_stand_for() {
        assert_eq!(normalize(r"a\046b.com").as_deref(), Ok(r"a\.b.com"));
        assert_eq!(normalize(r"a\.b.com").as_deref(), Ok(r"a\.b.com"));
        assert_eq!(normalize(r"\065\066c").as_deref(), Ok("abc"));
        assert_eq!(normalize(r"\-x").as_deref(), Ok("-x"));
        assert_eq!(
            normalize(r"new\010line.\255").as_deref(),
            Ok(r"new\010line.\255")
        );
        assert_eq!(normalize(r"\*.example").as_deref(), Ok(r"\*.example"));
        assert_eq!(normalize(r"a*b").as_deref(), Ok(r"a\*b"));
        // An escaped dot at the end is part of the label, not the root's dot.
        assert_eq!(normalize(r"a\.").as_deref(), Ok(r"a\."));
    }

    #[test]
    fn rejects_what_cannot_be_a_name() {
        assert_eq!(why(""), NameError::Empty);
        assert_eq!(why(".example"), NameError::EmptyLabel);
        assert_eq!(why("a..b"), NameError::EmptyLabel);
        assert_eq!(why(".."), NameError::EmptyLabel);
        assert_eq!(why("*.example.com"), NameError::Wildcard);
        assert_eq!(why("*"), NameError::Wildcard);
        assert_eq!(why("a b.com"), NameError::Unescaped { ch: ' ' });
        assert_eq!(why("a\u{1b}b"), NameError::Unescaped { ch: '\u{1b}' });
        assert_eq!(why("bücher.de"), NameError::NonAscii { ch: 'ü' });
        assert_eq!(
            why(r"a\25"),
            NameError::BadEscape {
                escape: r"\25".into()
            }
        );
        assert_eq!(
            why(r"a\256"),
            NameError::BadEscape {
                escape: r"\256".into()
            }
        );
        assert_eq!(
            why(r"a\2x5"),
            NameError::BadEscape {
                escape: r"\2x5".into()
            }
        );
        assert_eq!(
            why("a\\"),
            NameError::BadEscape {
                escape: "\\".into()
            }
        );
        assert_eq!(
            why("a\\ b"),
            NameError::BadEscape {
                escape: "\\ ".into()
            }
        );
    }

    #[test]
    fn length_limits_count_bytes_not_characters() {
        let l63 = "x".repeat(63);
        assert!(normalize(&l63).is_ok());
        assert_eq!(
            why(&format!("{}.com", "x".repeat(64))),
            NameError::LabelTooLong {
                label: "x".repeat(64),
                octets: 64
            }
        );
        // 63 escapes are 63 bytes, though 252 characters.
        assert!(normalize(&r"\255".repeat(63)).is_ok());
        assert!(matches!(
            why(&r"\255".repeat(64)),
            NameError::LabelTooLong { octets: 64, .. }
        ));

        let longest = format!("{l63}.{l63}.{l63}.{}", "y".repeat(61));
        assert_eq!(longest.len(), 253);
        assert_eq!(
            normalize(&format!("{longest}.")).as_deref(),
            Ok(longest.as_str())
        );
        assert_eq!(
            why(&format!("{l63}.{l63}.{l63}.{}", "y".repeat(62))),
            NameError::NameTooLong { octets: 256 }
        );
    }

    #[test]
    fn contains_is_exact() {
        let ex = set(&["Example.com.", "a\\.b.test", "."]).expect("valid names");
        assert_eq!(ex.len(), 3);
        assert!(ex.contains("example.com"));
        assert!(ex.contains("EXAMPLE.COM."));
        assert!(ex.contains(r"a\.b.test"));
        assert!(ex.contains(r"a\046b.test"));
        assert!(ex.contains("."));
        assert!(!ex.contains("www.example.com"));
        assert!(!ex.contains("com"));
        assert!(!ex.contains("a.b.test"));
        assert!(!ex.contains(""));
        assert!(!ex.contains("not a name"));
        assert!(Exclusions::default().is_empty());
    }

    #[test]
    fn bad_name_error_says_what_to_fix() {
        let err = set(&["ok.example", "a..b"]).expect_err("empty label");
        assert!(
            matches!(&err, ExcludeError::BadName { name, why: NameError::EmptyLabel } if name == "a..b")
        );
        assert_eq!(
            err.to_string(),
            r#"cannot exclude "a..b": it has an empty label (a leading dot or two dots in a row)"#
        );
    }

    #[test]
    fn reads_files_with_comments_and_blank_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("exclude.txt");
        std::fs::write(
            &path,
            "# our own zones\n\nCorp.Example.\n  health.example.net   # probes\r\nhash\\#tag.test\n*.CDN.example # all of it\n#last",
        )
        .expect("write");
        let ex = Exclusions::new(&["cli.example".into()], std::slice::from_ref(&path))
            .expect("valid file");
        assert_eq!(ex.under().collect::<Vec<_>>(), ["cdn.example"]);
        assert!(ex.contains("edge-7.cdn.example"));
        let names: Vec<&str> = ex.iter().collect();
        assert_eq!(
            names,
            [
                "cli.example",
                "corp.example",
                r"hash\#tag.test",
                "health.example.net"
            ]
        );
    }

    #[test]
    fn bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("exclude.txt");
        std::fs::write(
            &path,
            "# header\ngood.example\n*.example.com # all of it\n\nwww.*.example.com # a typo\n",
        )
        .expect("write");
        let err = Exclusions::new(&[], std::slice::from_ref(&path)).expect_err("wildcard");
        match &err {
            ExcludeError::BadLine {
                path: p,
                line,
                name,
                why,
            } => {
                assert_eq!(p, &path);
                assert_eq!(*line, 5);
                assert_eq!(name, "www.*.example.com");
                assert_eq!(*why, NameError::Wildcard);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                r#"{}:5: cannot exclude "www.*.example.com": a * label is a wildcard only as the first label of an exclusion, as in *.example.com; for a label that is a literal * write \*"#,
                path.display()
            )
        );
    }

    #[test]
    fn wildcards_exclude_every_name_strictly_under_their_domain() {
        let ex = set(&["*.Example.COM.", "*.a\\.b.test", "exact.example"]).expect("valid");
        assert_eq!(ex.len(), 3);
        assert_eq!(
            ex.under().collect::<Vec<_>>(),
            ["a\\.b.test", "example.com"]
        );
        assert_eq!(ex.iter().collect::<Vec<_>>(), ["exact.example"]);
        assert!(ex.contains("www.example.com"));
        assert!(ex.contains("a.b.c.example.com"));
        assert!(ex.contains("WWW.Example.Com."));
        // A DNS wildcard does not match its own domain, nor a name that only ends in the same text.
        assert!(!ex.contains("example.com"));
        assert!(!ex.contains("notexample.com"));
        assert!(!ex.contains("com"));
        assert!(!ex.contains("."));
        // Labels, not text: "x.example" holding a dot in its first label is one label under com.
        assert!(!ex.contains(r"x\.example.com"));
        assert!(!ex.contains(r"y.x\.example.com"));
        assert!(ex.contains(r"www.a\.b.test"));
        assert!(ex.contains(r"www.a\046b.test"));
        assert!(!ex.contains("www.a.b.test"));
        assert!(!ex.contains("a.b.test"));
        // A literal * label is a name like any other.
        let literal = set(&[r"\*.example.com"]).expect("valid");
        assert!(literal.contains(r"\*.example.com"));
        assert!(!literal.contains("www.example.com"));
        assert!(set(&["*.com"]).expect("valid").contains("example.com"));
    }

    #[test]
    fn wildcards_are_only_a_whole_first_label_under_a_domain() {
        let why_not = |text: &str| match set(&[text]) {
            Err(ExcludeError::BadName { why, .. }) => why,
            other => panic!("{text:?} gave {other:?}"),
        };
        assert_eq!(why_not("*"), NameError::WildcardAlone);
        assert_eq!(why_not("*."), NameError::WildcardAlone);
        assert_eq!(why_not("*.."), NameError::WildcardAlone);
        assert_eq!(why_not("*.*.example.com"), NameError::Wildcard);
        assert_eq!(why_not("www.*.example.com"), NameError::Wildcard);
        assert_eq!(why_not("*.example..com"), NameError::EmptyLabel);
        assert_eq!(
            set(&["*"]).expect_err("alone").to_string(),
            r#"cannot exclude "*": a wildcard alone would exclude every name: write the domain after it, as in *.example.com"#
        );
        // Not a whole label: a literal *, as before.
        assert!(
            set(&["*x.example.com"])
                .expect("valid")
                .contains(r"\*x.example.com")
        );
    }

    #[test]
    fn two_names_on_a_line_are_rejected() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("exclude.txt");
        std::fs::write(&path, "a.example b.example\n").expect("write");
        let err = Exclusions::new(&[], std::slice::from_ref(&path)).expect_err("two names");
        assert!(err.to_string().contains("put one name on a line"), "{err}");
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing.txt");
        let err = Exclusions::new(&[], std::slice::from_ref(&path)).expect_err("missing");
        assert!(
            matches!(&err, ExcludeError::Read { path: p, source } if *p == path
            && source.kind() == io::ErrorKind::NotFound)
        );
        // The io::Error is the source, not repeated in Display; `{:#}` through anyhow shows both.
        assert_eq!(
            format!("{:#}", anyhow::Error::from(err)),
            format!(
                "cannot read exclusion file {}: No such file or directory (os error 2)",
                path.display()
            )
        );
    }
}
