//! Organisations (`--org-file`): which domain suffixes belong to whom, and the report's `orgs`
//! section.
//!
//! The file is plain text, one `suffix organisation` pair a line: the suffix, white space, then the
//! organisation, which is the rest of the line and may contain spaces. `#` starts a comment, on a
//! line of its own or after a pair (`\#` is a literal `#`); blank lines are ignored. A suffix is
//! written like a name to exclude (case and a trailing dot do not matter, RFC 1035 escapes) and
//! matches itself and every name under it, label by label: `fbcdn.net` matches
//! `scontent.xx.fbcdn.net` but not `notfbcdn.net`. A name belongs to the organisation of its
//! longest matching suffix.
//!
//! ```text
//! # suffix        organisation
//! fbcdn.net       Meta
//! facebook.com    Meta            # trailing comments are fine
//! gstatic.com     Google
//! ```

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::analysis::exclude::{
    ListFileError, MAX_LIST_FILE_BYTES, NameError, normalize, read_list_file, strip_comment,
};
use crate::model::{Counts, Orgs, Ranked, Unassigned};
use crate::names;

/// Suffixes and the organisations they belong to, as read from an `--org-file`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgMap {
    /// Canonical suffix (see [`normalize`]) → index into `orgs`.
    by_suffix: HashMap<String, usize>,
    /// Each organisation once, in the order the file first names it.
    orgs: Vec<String>,
}

/// Why an organisation file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OrgFileError {
    #[error("cannot read organisation file {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "--org-file {}: the file is larger than {} MiB, the most an organisation list may be: name a file of `suffix organisation` lines",
        path.display(), MAX_LIST_FILE_BYTES >> 20
    )]
    TooLarge { path: PathBuf },
    #[error(
        "organisation file {} has no `suffix organisation` lines: add one a line, e.g. `fbcdn.net Meta`",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error("{}:{line}: {problem}", path.display())]
    Line {
        path: PathBuf,
        /// 1-based.
        line: usize,
        problem: LineError,
    },
}

/// What is wrong with one line of an organisation file, worded as what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error(
        "{suffix:?} has no organisation after it: write the suffix, a space and the organisation, e.g. `fbcdn.net Meta`"
    )]
    MissingOrg { suffix: String },
    #[error("cannot use {suffix:?} as a suffix: {why}")]
    BadSuffix { suffix: String, why: NameError },
    #[error("{suffix:?}: {}", match .under {
        Some(under) => format!("write {under}, without a *: a suffix matches itself and every name under it"),
        None => "write the suffix without a *: a suffix matches itself and every name under it".to_owned(),
    })]
    Wildcard {
        suffix: String,
        /// The suffix meant, where the entry names one.
        under: Option<String>,
    },
    #[error(
        "{suffix:?} then {org:?}: the suffix has a space inside; write {joined}, then the organisation"
    )]
    SpaceInSuffix {
        suffix: String,
        org: String,
        joined: String,
    },
    #[error(
        "the root `.` would match every name: leave it out, names under no suffix are reported as unassigned"
    )]
    Root,
    #[error(
        "{suffix:?} is given to {org:?} here but to {first_org:?} on line {first_line}: a suffix belongs to one organisation"
    )]
    Conflict {
        suffix: String,
        org: String,
        first_org: String,
        first_line: usize,
    },
    #[error("organisation {org:?} has a control character: write it as plain text")]
    ControlCharacter { org: String },
    #[error("an organisation name of {len} bytes is too long: use at most {MAX_ORG_LEN}")]
    TooLong { len: usize },
}

/// The longest organisation name: a name, not a paragraph.
pub const MAX_ORG_LEN: usize = 255;

impl OrgMap {
    /// Reads and parses an organisation file (see the module documentation for its format).
    pub fn read(path: &Path) -> Result<Self, OrgFileError> {
        let bytes = read_list_file(path).map_err(|error| match error {
            ListFileError::Io(source) => OrgFileError::Read {
                path: path.to_owned(),
                source,
            },
            ListFileError::TooLarge => OrgFileError::TooLarge {
                path: path.to_owned(),
            },
        })?;
        Self::parse(&bytes, path)
    }

    /// Parses the text of an organisation file; `path` is only for the errors.
    pub fn parse(text: &[u8], path: &Path) -> Result<Self, OrgFileError> {
        let mut map = Self::default();
        let mut org_index: HashMap<String, usize> = HashMap::new();
        // Suffix → the line that gave it, for a conflict's message.
        let mut first_lines: HashMap<String, usize> = HashMap::new();
        for (index, line) in text.split(|&b| b == b'\n').enumerate() {
            let line_number = index + 1;
            let at_line = |problem| OrgFileError::Line {
                path: path.to_owned(),
                line: line_number,
                problem,
            };
            // Lossy so that a stray non-UTF-8 byte is reported with its line.
            let line = String::from_utf8_lossy(line);
            let Some((suffix, org)) = split_line(&line).map_err(at_line)? else {
                continue;
            };
            let org_at = *org_index.entry(org.clone()).or_insert_with(|| {
                map.orgs.push(org.clone());
                map.orgs.len() - 1
            });
            match map.by_suffix.get(&suffix) {
                Some(&first) if first != org_at => {
                    return Err(at_line(LineError::Conflict {
                        first_line: first_lines[&suffix],
                        first_org: map.orgs[first].clone(),
                        suffix,
                        org,
                    }));
                }
                // The same pair twice (two lists pasted together) says nothing new.
                Some(_) => {}
                None => {
                    first_lines.insert(suffix.clone(), line_number);
                    map.by_suffix.insert(suffix, org_at);
                }
            }
        }
        if map.by_suffix.is_empty() {
            return Err(OrgFileError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(map)
    }

    /// The organisation of `name` (canonical presentation form, see [`names::presentation`]): that
    /// of its longest suffix in the file, if any.
    pub fn org_of(&self, name: &str) -> Option<&str> {
        self.org_index(name).map(|index| self.orgs[index].as_str())
    }

    fn org_index(&self, name: &str) -> Option<usize> {
        names::suffixes(name).find_map(|suffix| self.by_suffix.get(suffix).copied())
    }

    /// How many suffixes the file assigns.
    pub fn suffixes(&self) -> usize {
        self.by_suffix.len()
    }

    /// The organisations, in the order the file first names them.
    pub fn orgs(&self) -> impl Iterator<Item = &str> {
        self.orgs.iter().map(String::as_str)
    }

    /// `sha256:<hex>` of the map in canonical form: `suffix organisation` lines, sorted. Two
    /// files that assign alike (whatever their order, comments or spacing) have one digest.
    pub fn digest(&self) -> String {
        let mut lines: Vec<String> = self
            .by_suffix
            .iter()
            .map(|(suffix, &index)| format!("{suffix} {}", self.orgs[index]))
            .collect();
        lines.sort_unstable();
        super::digest(lines.iter().map(String::as_str))
    }
}

/// A line's canonical suffix and organisation; `None` for a blank or comment line.
fn split_line(line: &str) -> Result<Option<(String, String)>, LineError> {
    let content = strip_comment(line).trim();
    if content.is_empty() {
        return Ok(None);
    }
    let (suffix, org) = content
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((content, ""));
    let org = org.trim().replace(r"\#", "#");
    if let Some(under) = suffix.strip_prefix("*.") {
        return Err(LineError::Wildcard {
            suffix: suffix.to_owned(),
            under: normalize(under).ok(),
        });
    }
    // `facebook .com Meta`: the organisation cannot start with the rest of the suffix.
    if org.starts_with('.') {
        let rest = org.split_ascii_whitespace().next().unwrap_or_default();
        if let Ok(joined) = normalize(&format!("{suffix}{rest}")) {
            return Err(LineError::SpaceInSuffix {
                suffix: suffix.to_owned(),
                org,
                joined,
            });
        }
    }
    let canonical = normalize(suffix).map_err(|why| match why {
        NameError::StarInLabel { under, .. } => LineError::Wildcard {
            suffix: suffix.to_owned(),
            under,
        },
        NameError::Wildcard => LineError::Wildcard {
            suffix: suffix.to_owned(),
            under: None,
        },
        why => LineError::BadSuffix {
            suffix: suffix.to_owned(),
            why,
        },
    })?;
    if canonical == "." {
        return Err(LineError::Root);
    }
    if org.is_empty() {
        return Err(LineError::MissingOrg {
            suffix: suffix.to_owned(),
        });
    }
    if org.len() > MAX_ORG_LEN {
        return Err(LineError::TooLong { len: org.len() });
    }
    if org.chars().any(char::is_control) {
        return Err(LineError::ControlCharacter { org });
    }
    Ok(Some((canonical, org)))
}

/// The report's `orgs` section from the counted names (excluded ones left out before), each once,
/// in canonical presentation form.
pub fn orgs(counted: &[(&str, u64)], map: &OrgMap, top: usize, queries: u64) -> Orgs {
    let mut unassigned = Unassigned::default();
    let assigned = counted
        .iter()
        .filter_map(|(name, count)| match map.org_of(name) {
            Some(org) => Some((org, *count)),
            None => {
                unassigned.count = unassigned.count.saturating_add(*count);
                unassigned.names += 1;
                None
            }
        });
    let list = Ranked::cut(Counts::per_key(assigned), top, queries);
    Orgs { list, unassigned }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Entry, Rest};

    fn parse(text: &str) -> Result<OrgMap, OrgFileError> {
        OrgMap::parse(text.as_bytes(), Path::new("orgs.txt"))
    }

    fn line_error(text: &str) -> (usize, LineError) {
        match parse(text) {
            Err(OrgFileError::Line { line, problem, .. }) => (line, problem),
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    const SAMPLE: &str = "# suffix  organisation\n\
                          \n\
                          facebook.com   Meta\n\
                          FBCDN.net.\tMeta   # the CDN\n\
                          fb.com Meta\n\
                          google.com Google LLC\n\
                          mail.google.com Gmail Team\n\
                          hash\\#tag.example Hash \\# Co\n";

    #[test]
    fn parses_pairs_comments_and_blank_lines() {
        let map = parse(SAMPLE).expect("valid");
        assert_eq!(map.suffixes(), 6);
        assert_eq!(
            map.orgs().collect::<Vec<_>>(),
            ["Meta", "Google LLC", "Gmail Team", "Hash # Co"]
        );
        assert_eq!(map.org_of(r"hash\#tag.example"), Some("Hash # Co"));
    }

    #[test]
    fn longest_suffix_wins_label_by_label() {
        let map = parse(SAMPLE).expect("valid");
        assert_eq!(map.org_of("scontent.xx.fbcdn.net"), Some("Meta"));
        assert_eq!(map.org_of("fbcdn.net"), Some("Meta"));
        assert_eq!(map.org_of("notfbcdn.net"), None);
        assert_eq!(map.org_of("net"), None);
        assert_eq!(map.org_of("www.google.com"), Some("Google LLC"));
        assert_eq!(map.org_of("mail.google.com"), Some("Gmail Team"));
        assert_eq!(map.org_of("x.mail.google.com"), Some("Gmail Team"));
        assert_eq!(map.org_of("gmail.google.com"), Some("Google LLC"));
        assert_eq!(map.org_of("."), None);
        // A label holding a dot is one label: "a.facebook" under com is not under facebook.com.
        assert_eq!(map.org_of(r"a\.facebook.com"), None);
        assert_eq!(map.org_of(r"x.a\.facebook.com"), None);
        assert_eq!(map.org_of(r"a\.b.facebook.com"), Some("Meta"));
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        // Defect: a 70,000-character organisation was accepted and panicked the daemon's first
        // report that listed it.
        assert_eq!(
            line_error(&format!("fbcdn.net {}\n", "M".repeat(70_000))),
            (1, LineError::TooLong { len: 70_000 })
        );
        assert!(parse(&format!("fbcdn.net {}\n", "M".repeat(MAX_ORG_LEN))).is_ok());
        assert_eq!(
            line_error("fbcdn.net Meta\nfacebook.com\n"),
            (
                2,
                LineError::MissingOrg {
                    suffix: "facebook.com".into()
                }
            )
        );
        assert_eq!(
            line_error("*.fbcdn.net Meta"),
            (
                1,
                LineError::Wildcard {
                    suffix: "*.fbcdn.net".into(),
                    under: Some("fbcdn.net".into())
                }
            )
        );
        assert_eq!(line_error("\n\n. Everyone"), (3, LineError::Root));
        assert!(matches!(
            line_error("a..b Org"),
            (
                1,
                LineError::BadSuffix {
                    why: NameError::EmptyLabel,
                    ..
                }
            )
        ));
        assert!(matches!(
            line_error("bücher.de Org"),
            (
                1,
                LineError::BadSuffix {
                    why: NameError::NonAscii { ch: 'ü', .. },
                    ..
                }
            )
        ));
        assert_eq!(
            line_error("a.example Org\x07"),
            (
                1,
                LineError::ControlCharacter {
                    org: "Org\x07".into()
                }
            )
        );
        let err = parse("# x\nfbcdn.net Meta\nfb.com Meta\nfbcdn.net. Other Org\n")
            .expect_err("conflict");
        assert_eq!(
            err.to_string(),
            r#"orgs.txt:4: "fbcdn.net" is given to "Other Org" here but to "Meta" on line 2: a suffix belongs to one organisation"#
        );
        let err = parse("facebook.com\n").expect_err("no org");
        assert_eq!(
            err.to_string(),
            r#"orgs.txt:1: "facebook.com" has no organisation after it: write the suffix, a space and the organisation, e.g. `fbcdn.net Meta`"#
        );
        let err = parse("*.fbcdn.net Meta").expect_err("wildcard");
        assert_eq!(
            err.to_string(),
            r#"orgs.txt:1: "*.fbcdn.net": write fbcdn.net, without a *: a suffix matches itself and every name under it"#
        );
        let err = parse("# nothing\n\n").expect_err("empty");
        assert_eq!(
            err.to_string(),
            "organisation file orgs.txt has no `suffix organisation` lines: add one a line, e.g. `fbcdn.net Meta`"
        );
        // The same pair twice is no conflict.
        assert_eq!(
            parse("fb.com Meta\nFB.com. Meta\n")
                .expect("valid")
                .suffixes(),
            1
        );
    }

    /// Defect: each of these was accepted and matched nothing (`facebook .com Meta` even gave
    /// the suffix `facebook` to the organisation `.com Meta`).
    #[test]
    fn mistyped_suffixes_are_refused_with_the_suffix_meant() {
        let text = |line: &str| {
            parse(&format!("ok.example Ok\n{line}\n"))
                .expect_err(line)
                .to_string()
        };
        assert_eq!(
            text("facebook .com Meta"),
            r#"orgs.txt:2: "facebook" then ".com Meta": the suffix has a space inside; write facebook.com, then the organisation"#
        );
        assert_eq!(
            text("https://www.facebook.com/ Meta"),
            r#"orgs.txt:2: cannot use "https://www.facebook.com/" as a suffix: it is a URL: write the host name alone, www.facebook.com"#
        );
        assert_eq!(
            text("*cpe-vendor.net CPE Vendor"),
            r#"orgs.txt:2: "*cpe-vendor.net": write cpe-vendor.net, without a *: a suffix matches itself and every name under it"#
        );
        assert_eq!(
            text("foo*.example Foo"),
            r#"orgs.txt:2: "foo*.example": write example, without a *: a suffix matches itself and every name under it"#
        );
        assert_eq!(
            text("a.*.example Foo"),
            r#"orgs.txt:2: "a.*.example": write the suffix without a *: a suffix matches itself and every name under it"#
        );
        assert_eq!(
            text("bücher.de Books"),
            r#"orgs.txt:2: cannot use "bücher.de" as a suffix: non-ASCII 'ü': write the name in its xn-- (punycode) form, xn--bcher-kva.de"#
        );
        assert_eq!(
            text("fbcdn.net:443 Meta"),
            r#"orgs.txt:2: cannot use "fbcdn.net:443" as a suffix: a name has no port: write fbcdn.net"#
        );
        // A trailing dot, upper case and an organisation with dots inside are fine.
        let map = parse("FBCDN.net. Meta Platforms, Inc.\ngoogle. The .google registry\n")
            .expect("valid");
        assert_eq!(map.org_of("x.fbcdn.net"), Some("Meta Platforms, Inc."));
        assert_eq!(map.org_of("www.google"), Some("The .google registry"));
    }

    /// Defect: `--org-file /dev/zero` read until memory ran out.
    #[test]
    fn an_endless_org_file_is_refused_at_the_bound() {
        let err = OrgMap::read(Path::new("/dev/zero")).expect_err("endless");
        assert_eq!(
            err.to_string(),
            "--org-file /dev/zero: the file is larger than 16 MiB, the most an organisation list may be: name a file of `suffix organisation` lines"
        );
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("orgs.txt");
        let err = OrgMap::read(&path).expect_err("missing");
        assert!(matches!(&err, OrgFileError::Read { path: p, .. } if *p == path));
        assert_eq!(
            format!("{:#}", anyhow::Error::from(err)),
            format!(
                "cannot read organisation file {}: No such file or directory (os error 2)",
                path.display()
            )
        );
    }

    #[test]
    fn the_shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/orgs.txt");
        let map =
            OrgMap::read(&path).unwrap_or_else(|err| panic!("{:#}", anyhow::Error::from(err)));
        let orgs: Vec<&str> = map.orgs().collect();
        assert!(orgs.len() >= 12, "{orgs:?}");
        for (name, org) in [
            ("scontent.xx.fbcdn.net", "Meta"),
            ("www.instagram.com", "Meta"),
            ("mmg.whatsapp.net", "Meta"),
            ("www.google.com", "Google"),
            ("i.ytimg.com", "Google"),
            ("a1.akamaihd.net", "Akamai"),
            ("gateway.icloud.com", "Apple"),
            ("login.microsoftonline.com", "Microsoft"),
            ("bucket.s3.amazonaws.com", "Amazon"),
            ("cdnjs.cloudflare.com", "Cloudflare"),
        ] {
            assert_eq!(map.org_of(name), Some(org), "{name}");
        }
        assert_eq!(map.org_of("www.example.com"), None);
    }

    #[test]
    fn section_ranks_orgs_with_unassigned_apart() {
        let map = parse(SAMPLE).expect("valid");
        let counted = [
            ("www.facebook.com", 30),
            ("scontent.xx.fbcdn.net", 20),
            ("www.google.com", 40),
            ("mail.google.com", 5),
            ("www.example.com", 7),
            (".", 3),
        ];
        let section = orgs(&counted, &map, 1, 200);
        assert_eq!(
            section.list.top,
            [Entry {
                rank: 1,
                key: "Meta".into(),
                count: 50,
                names: 2,
                share: 0.25
            }]
        );
        assert_eq!(
            section.list.rest,
            Rest {
                keys: 2,
                count: 45,
                names: 2
            }
        );
        assert_eq!(
            section.unassigned,
            Unassigned {
                count: 10,
                names: 2
            }
        );
        let all = orgs(&counted, &map, 0, 200);
        let listed: Vec<&str> = all.list.top.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(listed, ["Meta", "Google LLC", "Gmail Team"]);
        assert_eq!(all.list.rest, Rest::default());
    }
}
