//! Names the operator does not want in the top list (their own zones, health checks, ...).
//!
//! An exclusion is a name, matched exactly, or a wildcard `*.example.com`, which matches every name
//! strictly under `example.com` (`www.example.com`, `a.b.example.com`) but, as a DNS wildcard
//! (RFC 4592) does, not `example.com` itself: exclude that as a name of its own. The `*` must be the
//! whole first label; a `*` elsewhere is refused, and `\*` is a label that is a literal `*`.
//!
//! A name holds letters, digits, `-` and `_` between its dots, as reports print names; any other
//! character is written escaped (`\/`, `\058`). So what an operator pastes by mistake (a URL, a
//! `host:port`, a hosts-file line, a glob such as `*cpe-vendor.net`) is refused with the entry it
//! should have been, instead of being kept as a name no query ever has.
//!
//! Names are compared in one canonical form: the bytes a spelling stands for, ASCII folded to lower case,
//! rendered by [`names::presentation`] as the kernel's names are. So `WWW.Example.com.` matches
//! `www.example.com`, and `a\046b.test` matches `a\.b.test` (one label holding a dot).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::{self, Read as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::names;

/// Longest label in octets (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;
/// Longest name in wire form, length bytes and the root's zero included (RFC 1035 §2.3.4).
const MAX_WIRE: usize = 255;

/// The largest exclusion or organisation file read. 16 MiB is several hundred thousand names,
/// far more than a list kept by hand, and read and checked in well under a second; a bigger file
/// is a mistake (`/dev/zero`, a log, a pipe that never ends), refused before memory runs out.
pub const MAX_LIST_FILE_BYTES: u64 = 16 << 20;

/// Why a list file (`--exclude-file`, `--org-file`) could not be read.
#[derive(Debug)]
pub(crate) enum ListFileError {
    Io(io::Error),
    /// More than [`MAX_LIST_FILE_BYTES`].
    TooLarge,
}

/// The bytes of a list file, at most [`MAX_LIST_FILE_BYTES`] of them: a FIFO or device is read
/// as far as that too, never to its end.
pub(crate) fn read_list_file(path: &Path) -> Result<Vec<u8>, ListFileError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_LIST_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(ListFileError::Io)?;
    if bytes.len() as u64 > MAX_LIST_FILE_BYTES {
        return Err(ListFileError::TooLarge);
    }
    Ok(bytes)
}

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
    #[error(
        "--exclude-file {}: the file is larger than {} MiB, the most an exclusion list may be: name a list of names, one a line",
        path.display(), MAX_LIST_FILE_BYTES >> 20
    )]
    TooLarge { path: PathBuf },
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
    #[error("it has a space inside: write {joined}")]
    Space { joined: String },
    #[error("it is a hosts-file line: write the name alone, {name}")]
    HostsLine { name: String },
    #[error("{}", non_ascii(*.ch, .ascii.as_deref()))]
    NonAscii {
        ch: char,
        /// The name in its xn-- form, when it has one.
        ascii: Option<String>,
    },
    #[error("it is a URL: write the host name alone, {host}")]
    Url { host: String },
    #[error("a name has no path: write {name}")]
    Path { name: String },
    #[error("a name has no port: write {name}")]
    Port { name: String },
    #[error(
        "unescaped {ch:?}: a name holds letters, digits, - and _ between its dots; leave the {ch:?} out, or write \\{ch} if the name holds it"
    )]
    NotInName { ch: char },
    #[error(
        "a * label is a wildcard only as the first label of an exclusion, as in *.example.com; for a label that is a literal * write \\*"
    )]
    Wildcard,
    #[error("{}", star_in_label(.under.as_deref(), *.first))]
    StarInLabel {
        /// The domain the wildcard would be over, when the entry names one: `cpe-vendor.net` for
        /// `*cpe-vendor.net`, `example` for `foo*.example`.
        under: Option<String>,
        /// The `*` starts the first label (`*cpe-vendor.net`): the name itself was meant too.
        first: bool,
    },
    #[error(
        "a wildcard alone would exclude every name: write the domain after it, as in *.example.com"
    )]
    WildcardAlone,
}

fn non_ascii(ch: char, ascii: Option<&str>) -> String {
    match ascii {
        Some(ascii) => {
            format!("non-ASCII {ch:?}: write the name in its xn-- (punycode) form, {ascii}")
        }
        None => {
            format!("non-ASCII {ch:?}: write an internationalised name in its xn-- (punycode) form")
        }
    }
}

fn star_in_label(under: Option<&str>, first: bool) -> String {
    match (under, first) {
        (Some(domain), true) => format!(
            "a * matches a whole first label only: write *.{domain} to exclude every name under {domain}, and {domain} on a line of its own for the name itself (\\* is a literal *)"
        ),
        (Some(domain), false) => format!(
            "a * matches a whole first label only, never part of a label: write *.{domain} to exclude every name under {domain}, or list the names one by one (\\* is a literal *)"
        ),
        (None, _) => "a * matches a whole first label only, as in *.example.com: list the names one by one, or write \\* for a literal *".to_owned(),
    }
}

impl NameError {
    /// The error of the domain of a wildcard `*.domain`, its suggested spelling put back under
    /// the `*.`.
    fn under_wildcard(self) -> Self {
        let wild = |name: String| format!("*.{name}");
        match self {
            Self::Space { joined } => Self::Space {
                joined: wild(joined),
            },
            Self::NonAscii { ch, ascii } => Self::NonAscii {
                ch,
                ascii: ascii.map(wild),
            },
            Self::Url { host } => Self::Url { host: wild(host) },
            Self::Path { name } => Self::Path { name: wild(name) },
            Self::Port { name } => Self::Port { name: wild(name) },
            other => other,
        }
    }
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

    /// `sha256:<hex>` of the list in canonical form (the names, then `*.domain` lines, each
    /// sorted); `None` for no list. Lists that exclude alike have one digest.
    pub fn digest(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let wildcards: Vec<String> = self.under().map(|domain| format!("*.{domain}")).collect();
        Some(super::digest(
            self.iter().chain(wildcards.iter().map(String::as_str)),
        ))
    }

    /// The entries, as a report writes them (a name, or `*.domain`), that match none of
    /// `excluded` (canonical names), sorted.
    pub fn unmatched<'n>(&self, excluded: impl IntoIterator<Item = &'n str>) -> Vec<String> {
        let mut names: BTreeSet<&str> = self.iter().collect();
        let mut under: BTreeSet<&str> = self.under().collect();
        for name in excluded {
            names.remove(name);
            if !under.is_empty() {
                for parent in names::suffixes(name).skip(1) {
                    under.remove(parent);
                }
            }
        }
        let mut unmatched: Vec<String> = names
            .into_iter()
            .map(str::to_owned)
            .chain(under.into_iter().map(|domain| format!("*.{domain}")))
            .collect();
        unmatched.sort_unstable();
        unmatched
    }

    fn read_file(&mut self, path: &Path) -> Result<(), ExcludeError> {
        let bytes = read_list_file(path).map_err(|error| match error {
            ListFileError::Io(source) => ExcludeError::Read {
                path: path.to_owned(),
                source,
            },
            ListFileError::TooLarge => ExcludeError::TooLarge {
                path: path.to_owned(),
            },
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
        domain => normalize(domain).map_err(NameError::under_wildcard)?,
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
            _ if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' => label.push(ch as u8),
            '*' => {
                let whole_label = label.is_empty() && matches!(chars.peek(), None | Some((_, '.')));
                return Err(if whole_label {
                    NameError::Wildcard
                } else {
                    star_in_label_of(name, at)
                });
            }
            _ => return Err(mistake(name, ch)),
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

/// What is wrong with `name`, whose first character that a name cannot hold unescaped is `ch`:
/// the entry it most likely should have been, where that is clear.
fn mistake(name: &str, ch: char) -> NameError {
    // Each suggestion is offered only if it is a name itself.
    let valid = |text: &str| normalize(text).ok();
    let suggested = match ch {
        _ if ch.is_ascii_whitespace() => {
            let parts: Vec<&str> = name.split_ascii_whitespace().collect();
            let touches_dot = parts
                .windows(2)
                .any(|pair| pair[0].ends_with('.') || pair[1].starts_with('.'));
            if let [address, host] = parts[..]
                && address.parse::<IpAddr>().is_ok()
            {
                valid(host).map(|name| NameError::HostsLine { name })
            } else if touches_dot {
                valid(&parts.concat()).map(|joined| NameError::Space { joined })
            } else {
                None
            }
        }
        _ if !ch.is_ascii() => {
            return NameError::NonAscii {
                ch,
                ascii: punycode(name),
            };
        }
        ':' | '/' if name.contains("://") => {
            let (_, after) = name.split_once("://").unwrap_or_default();
            let authority = after.split(['/', '?', '#']).next().unwrap_or_default();
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            valid(without_port(host)).map(|host| NameError::Url { host })
        }
        '/' => {
            valid(name.split('/').next().unwrap_or_default()).map(|name| NameError::Path { name })
        }
        ':' => {
            let host = without_port(name);
            (host != name)
                .then(|| valid(host))
                .flatten()
                .map(|name| NameError::Port { name })
        }
        _ => None,
    };
    suggested.unwrap_or(if ch.is_ascii_graphic() {
        NameError::NotInName { ch }
    } else {
        NameError::Unescaped { ch }
    })
}

/// `host` without a `:port` at its end.
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// An internationalised name in its ASCII (xn--) form, canonical, if IDNA makes one of it.
fn punycode(name: &str) -> Option<String> {
    let ascii = hickory_proto::rr::Name::from_utf8(name).ok()?.to_ascii();
    normalize(ascii.trim_end_matches('.')).ok()
}

/// The error of a `*` at `at` that is part of a label, not all of it.
fn star_in_label_of(name: &str, at: usize) -> NameError {
    let starts: Vec<usize> = names::label_starts(name).collect();
    let label = starts.iter().rposition(|&start| start <= at).unwrap_or(0);
    let first = label == 0 && at == 0;
    let under = if first {
        // `*cpe-vendor.net`: the glob means cpe-vendor.net and the names under it.
        &name[1..]
    } else {
        starts.get(label + 1).map_or("", |&next| &name[next..])
    };
    NameError::StarInLabel {
        under: (!under.is_empty()).then(|| normalize(under).ok()).flatten(),
        first,
    }
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
        assert_eq!(normalize(r"a\*b").as_deref(), Ok(r"a\*b"));
        assert_eq!(normalize(r"a\/b\:c").as_deref(), Ok(r"a\/b\:c"));
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
        assert_eq!(
            why("bücher.de"),
            NameError::NonAscii {
                ch: 'ü',
                ascii: Some("xn--bcher-kva.de".into())
            }
        );
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
        // Escaped, a * is a literal one.
        assert!(
            set(&[r"\*x.example.com"])
                .expect("valid")
                .contains(r"\*x.example.com")
        );
    }

    fn line_error(text: &str) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("exclude.txt");
        std::fs::write(&path, format!("ok.example\n{text}\n")).expect("write");
        let err = Exclusions::new(&[], std::slice::from_ref(&path)).expect_err("refused");
        let text = err.to_string();
        let at = format!("{}:2: ", path.display());
        text.strip_prefix(&at)
            .unwrap_or_else(|| panic!("{text:?} does not start with {at:?}"))
            .to_owned()
    }

    /// Defect: `*cpe-vendor.net` and `foo*.example` were kept as names with a literal `*` in a
    /// label, which no query has, so they silently excluded nothing.
    #[test]
    fn a_star_inside_a_label_is_refused_with_the_wildcard_meant() {
        assert_eq!(
            line_error("*cpe-vendor.net"),
            r#"cannot exclude "*cpe-vendor.net": a * matches a whole first label only: write *.cpe-vendor.net to exclude every name under cpe-vendor.net, and cpe-vendor.net on a line of its own for the name itself (\* is a literal *)"#
        );
        assert_eq!(
            line_error("foo*.Example"),
            r#"cannot exclude "foo*.Example": a * matches a whole first label only, never part of a label: write *.example to exclude every name under example, or list the names one by one (\* is a literal *)"#
        );
        assert_eq!(
            why("www.cdn*.example.net"),
            NameError::StarInLabel {
                under: Some("example.net".into()),
                first: false
            }
        );
        assert_eq!(
            why("foo*"),
            NameError::StarInLabel {
                under: None,
                first: false
            }
        );
        let wildcard = set(&["*.a*b.example"]).expect_err("a star after the wildcard");
        assert!(
            matches!(&wildcard, ExcludeError::BadName { why: NameError::StarInLabel { under: Some(under), .. }, .. } if under == "example"),
            "{wildcard:?}"
        );
    }

    /// Defect: `https://www.facebook.com/` was kept as the three labels `https://www`,
    /// `facebook` and `com/`, which no query has.
    #[test]
    fn a_url_path_or_port_is_refused_with_the_host_name() {
        assert_eq!(
            line_error("https://www.facebook.com/"),
            r#"cannot exclude "https://www.facebook.com/": it is a URL: write the host name alone, www.facebook.com"#
        );
        assert_eq!(
            why("http://user@Telemetry.Vendor.example:8443/v1?x=1"),
            NameError::Url {
                host: "telemetry.vendor.example".into()
            }
        );
        assert_eq!(
            line_error("*.https://cdn.example/"),
            r#"cannot exclude "*.https://cdn.example/": it is a URL: write the host name alone, *.cdn.example"#
        );
        assert_eq!(
            why("www.facebook.com/login"),
            NameError::Path {
                name: "www.facebook.com".into()
            }
        );
        assert_eq!(
            line_error("facebook.com:443"),
            r#"cannot exclude "facebook.com:443": a name has no port: write facebook.com"#
        );
        // An address is no host:port; it is refused for its colon.
        assert_eq!(why("2001:db8::1"), NameError::NotInName { ch: ':' });
    }

    /// Defect class: a character no name in a report has unescaped (reports escape everything
    /// but letters, digits, - and _) was kept, so the entry could never match.
    #[test]
    fn characters_reports_escape_are_refused_unescaped() {
        for (text, ch) in [
            ("||ads.example^", '|'),
            ("example.com,", ','),
            ("\"example.com\"", '"'),
            ("a;b.example", ';'),
            ("mail@example.com", '@'),
            ("[::1]", '['),
        ] {
            assert_eq!(why(text), NameError::NotInName { ch }, "{text}");
        }
        assert_eq!(
            NameError::NotInName { ch: ',' }.to_string(),
            r#"unescaped ',': a name holds letters, digits, - and _ between its dots; leave the ',' out, or write \, if the name holds it"#
        );
        // What a report prints reads back as the same name.
        for wire in [&b"\x03a,b\x07example\x00"[..], b"\x04_tcp\x01*\x02x-\x00"] {
            let shown = names::presentation(wire);
            assert_eq!(parse(&shown).as_deref(), Ok(wire), "{shown}");
        }
    }

    /// Defect: in an organisation file `facebook .com Meta` was taken as the suffix `facebook`;
    /// in an exclusion file the message said to put one name on a line, not where the space was.
    #[test]
    fn a_space_inside_a_name_is_refused_with_the_name_joined() {
        assert_eq!(
            line_error("facebook .com"),
            r#"cannot exclude "facebook .com": it has a space inside: write facebook.com"#
        );
        assert_eq!(
            why("www. example.com"),
            NameError::Space {
                joined: "www.example.com".into()
            }
        );
        assert_eq!(
            line_error("*.cdn .example"),
            r#"cannot exclude "*.cdn .example": it has a space inside: write *.cdn.example"#
        );
        assert_eq!(
            line_error("0.0.0.0 ads.example.com"),
            r#"cannot exclude "0.0.0.0 ads.example.com": it is a hosts-file line: write the name alone, ads.example.com"#
        );
        assert_eq!(why("a.example b.example"), NameError::Unescaped { ch: ' ' });
    }

    #[test]
    fn an_internationalised_name_is_refused_with_its_xn_form() {
        assert_eq!(
            line_error("Bücher.example"),
            r#"cannot exclude "Bücher.example": non-ASCII 'ü': write the name in its xn-- (punycode) form, xn--bcher-kva.example"#
        );
        assert_eq!(
            line_error("*.münchen.de"),
            r#"cannot exclude "*.münchen.de": non-ASCII 'ü': write the name in its xn-- (punycode) form, *.xn--mnchen-3ya.de"#
        );
        assert_eq!(
            set(&["xn--bcher-kva.example"])
                .expect("valid")
                .iter()
                .collect::<Vec<_>>(),
            ["xn--bcher-kva.example"]
        );
    }

    /// Defect: `--exclude-file /dev/zero` read until memory ran out.
    #[test]
    fn an_endless_exclusion_file_is_refused_at_the_bound() {
        let err = Exclusions::new(&[], &[PathBuf::from("/dev/zero")]).expect_err("endless");
        assert!(matches!(&err, ExcludeError::TooLarge { path } if path == Path::new("/dev/zero")));
        assert_eq!(
            err.to_string(),
            "--exclude-file /dev/zero: the file is larger than 16 MiB, the most an exclusion list may be: name a list of names, one a line"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("exclude.txt");
        let line = "a-name-of-thirty-two-bytes.test\n";
        let mut text =
            line.repeat(usize::try_from(MAX_LIST_FILE_BYTES).expect("fits") / line.len());
        text.truncate(text.len() - line.len());
        text.push_str(&"x".repeat(line.len() - 1));
        text.push('\n');
        assert_eq!(text.len() as u64, MAX_LIST_FILE_BYTES);
        std::fs::write(&path, &text).expect("write");
        let ex = Exclusions::new(&[], std::slice::from_ref(&path)).expect("at the bound");
        assert_eq!(ex.len(), 2);
        text.push('\n');
        std::fs::write(&path, &text).expect("write");
        let err = Exclusions::new(&[], std::slice::from_ref(&path)).expect_err("a byte over");
        assert!(matches!(err, ExcludeError::TooLarge { .. }), "{err}");
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
