//! Names grouped into domains for the report's `domains` section: by registered domain under the
//! Public Suffix List, or by their last N labels (`--domain-depth N`).
//!
//! Only the ICANN section of the list decides where a registered domain starts. Its private section
//! lists names that companies hand out below their own domains (`github.io`, `cloudfront.net`,
//! `s3.amazonaws.com`, `*.compute.amazonaws.com`, ...); a resolver operator asking "which domains
//! are queried" wants `cloudfront.net` as one line, not one line per distribution or per EC2 host,
//! which is what the private rules would give. The same choice as tldextract's default. An
//! `--org-file` can still name whom such a domain belongs to.

use std::borrow::Cow;
use std::fmt;

use psl::{List, Psl as _, Type};

use crate::model::{Counts, Domains, Ranked};
use crate::names;

/// How names are grouped into domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Grouping {
    /// The registered domain: the public suffix (ICANN section) and one label more.
    #[default]
    Psl,
    /// The last N labels (N ≥ 1).
    Labels(u8),
}

impl Grouping {
    /// `--domain-depth`: none groups by the Public Suffix List.
    pub fn from_depth(depth: Option<u8>) -> Self {
        depth.map_or(Self::Psl, Self::Labels)
    }

    /// The domain a name (canonical presentation form, see [`names::presentation`]) is grouped
    /// under: a suffix of it, whole labels. A name with no more labels than the grouping keeps (a
    /// bare TLD, a public suffix, the root `.`) is its own domain.
    pub fn domain_of(self, name: &str) -> &str {
        if name.contains('\\') || (name.ends_with('.') && name != ".") {
            return self.domain_of_escaped(name);
        }
        // No escapes: every dot separates labels, and each label's bytes are its text. This is
        // the path of nearly every name, so it allocates nothing.
        if name.is_empty() || name == "." {
            return name;
        }
        let keep = match self {
            Self::Psl => public_suffix_labels_plain(name) + 1,
            Self::Labels(depth) => usize::from(depth.max(1)),
        };
        match name.rmatch_indices('.').nth(keep - 1) {
            Some((dot, _)) => &name[dot + 1..],
            None => name,
        }
    }

    /// [`Self::domain_of`] for a name with escapes: labels split at unescaped dots only, and
    /// looked up by the bytes they stand for.
    fn domain_of_escaped(self, name: &str) -> &str {
        let starts: Vec<usize> = names::label_starts(name).collect();
        let keep = match self {
            Self::Psl => registered_labels(name, &starts),
            Self::Labels(depth) => usize::from(depth.max(1)),
        };
        match starts.len().checked_sub(keep) {
            Some(first) if first > 0 => &name[starts[first]..],
            _ => name,
        }
    }
}

/// As the report's `grouping` field: `psl` or `labels:N`.
impl fmt::Display for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Psl => f.write_str("psl"),
            Self::Labels(depth) => write!(f, "labels:{depth}"),
        }
    }
}

/// How many labels, from the end, the registered domain of `name` has: its public suffix's and one.
fn registered_labels(name: &str, starts: &[usize]) -> usize {
    let ends = starts
        .iter()
        .skip(1)
        .map(|next| next - 1)
        .chain([name.len()]);
    // The list holds labels as bytes (punycode, and IDNs in UTF-8): look up what the escapes stand
    // for. A label with a byte no rule has (a dot, a space) still matches a `*` rule.
    let labels: Vec<Cow<'_, [u8]>> = starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| names::label_bytes(&name[start..end]))
        .collect();
    public_suffix_labels(&labels) + 1
}

/// How many labels, from the end, the longest public suffix of the ICANN section that `labels`
/// end in has; 1 (the last label, the list's default rule `*`) when no rule matches. The list's
/// private rules are skipped: a private match is looked up again without its first label, until
/// an ICANN rule or the default rule matches.
pub fn public_suffix_labels(labels: &[impl AsRef<[u8]>]) -> usize {
    let mut considered = labels;
    // Every round drops at least one label.
    while !considered.is_empty() {
        let info = List.find(considered.iter().rev().map(AsRef::as_ref));
        let matched = labels_in(considered, info.len);
        match info.typ {
            Some(Type::Private) if matched > 1 => {
                considered = &considered[considered.len() - (matched - 1)..];
            }
            Some(Type::Icann) => return matched.max(1),
            Some(Type::Private) | None => return 1,
        }
    }
    1
}

/// [`public_suffix_labels`] of a name whose every dot separates labels (no escapes), without
/// splitting it into a list first.
fn public_suffix_labels_plain(name: &str) -> usize {
    // A suffix of `name`, whole labels; every round drops at least one.
    let mut considered = name;
    while !considered.is_empty() {
        let info = List.find(considered.rsplit('.').map(str::as_bytes));
        let suffix = &considered[considered.len() - info.len.min(considered.len())..];
        let matched = if suffix.is_empty() {
            0
        } else {
            suffix.bytes().filter(|&b| b == b'.').count() + 1
        };
        match (info.typ, suffix.split_once('.')) {
            (Some(Type::Private), Some((_, shorter))) => considered = shorter,
            (Some(Type::Icann), _) => return matched.max(1),
            (Some(Type::Private) | None, _) => return 1,
        }
    }
    1
}

/// How many of the last labels make `bytes` bytes when joined with dots.
fn labels_in(labels: &[impl AsRef<[u8]>], bytes: usize) -> usize {
    let mut joined = 0;
    let mut count = 0;
    for label in labels.iter().rev() {
        if joined >= bytes {
            break;
        }
        joined += label.as_ref().len() + usize::from(count > 0);
        count += 1;
    }
    count
}

/// The report's `domains` section from the counted names (excluded ones left out before), each
/// once, in canonical presentation form.
pub fn domains(counted: &[(&str, u64)], grouping: Grouping, top: usize, queries: u64) -> Domains {
    let per_domain = Counts::per_key(
        counted
            .iter()
            .map(|(name, count)| (grouping.domain_of(name), *count)),
    );
    Domains {
        grouping: grouping.to_string(),
        list: Ranked::cut(per_domain, top, queries),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Rest;

    fn psl(name: &str) -> &str {
        Grouping::Psl.domain_of(name)
    }

    #[test]
    fn registered_domains_under_icann_suffixes() {
        assert_eq!(psl("www.example.com"), "example.com");
        assert_eq!(psl("a.b.c.example.com"), "example.com");
        assert_eq!(psl("example.com"), "example.com");
        // Multi-label suffixes.
        assert_eq!(psl("www.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(psl("news.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(psl("a.b.example.com.au"), "example.com.au");
        // A wildcard rule (*.kawasaki.jp) and its exception (!city.kawasaki.jp).
        assert_eq!(psl("www.foo.kawasaki.jp"), "www.foo.kawasaki.jp");
        assert_eq!(psl("x.www.foo.kawasaki.jp"), "www.foo.kawasaki.jp");
        assert_eq!(psl("www.city.kawasaki.jp"), "city.kawasaki.jp");
        assert_eq!(psl("www.school.sch.uk"), "www.school.sch.uk");
        // IDN suffixes are matched in their punycode form (公司.cn).
        assert_eq!(psl("www.shop.xn--55qx5d.cn"), "shop.xn--55qx5d.cn");
    }

    #[test]
    fn private_suffixes_do_not_split_a_registered_domain() {
        // github.io, herokuapp.com, cloudfront.net, s3.amazonaws.com and *.compute.amazonaws.com
        // are private rules: the registered domain is the one under the ICANN suffix.
        assert_eq!(psl("octocat.github.io"), "github.io");
        assert_eq!(psl("docs.octocat.github.io"), "github.io");
        assert_eq!(psl("github.io"), "github.io");
        assert_eq!(psl("my-app.herokuapp.com"), "herokuapp.com");
        assert_eq!(psl("d111111abcdef8.cloudfront.net"), "cloudfront.net");
        assert_eq!(psl("bucket.s3.amazonaws.com"), "amazonaws.com");
        assert_eq!(
            psl("ec2-192-0-2-1.eu-west-1.compute.amazonaws.com"),
            "amazonaws.com"
        );
        // A private wildcard rule under a multi-label ICANN suffix (com.cn).
        assert_eq!(
            psl("host.cn-north-1.compute.amazonaws.com.cn"),
            "amazonaws.com.cn"
        );
        let labels = |name: &str| {
            names::labels(name)
                .iter()
                .map(|l| l.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(public_suffix_labels(&labels("a.github.io")), 1);
        assert_eq!(public_suffix_labels(&labels("a.b.co.uk")), 2);
    }

    #[test]
    fn short_names_are_their_own_domain() {
        assert_eq!(psl("com"), "com");
        assert_eq!(psl("co.uk"), "co.uk");
        assert_eq!(psl("."), ".");
        // Unknown TLDs fall back to the list's default rule: the last label is the suffix.
        assert_eq!(psl("printer.office.lan"), "office.lan");
        assert_eq!(psl("lan"), "lan");
        assert_eq!(psl("_dmarc.mail-1.example"), "mail-1.example");
    }

    #[test]
    fn names_without_escapes_group_as_the_general_path_does() {
        let names = [
            "www.example.com",
            "example.com",
            "com",
            "a.b.c.example.com",
            "www.bbc.co.uk",
            "co.uk",
            "a.b.example.com.au",
            "www.foo.kawasaki.jp",
            "x.www.foo.kawasaki.jp",
            "www.city.kawasaki.jp",
            "kawasaki.jp",
            "www.school.sch.uk",
            "www.shop.xn--55qx5d.cn",
            "octocat.github.io",
            "docs.octocat.github.io",
            "github.io",
            "bucket.s3.amazonaws.com",
            "ec2-192-0-2-1.eu-west-1.compute.amazonaws.com",
            "compute.amazonaws.com",
            "host.cn-north-1.compute.amazonaws.com.cn",
            "printer.office.lan",
            "lan",
            "_dmarc.mail-1.example",
            "a.blogspot.co.uk",
            "x.y.z.herokuapp.com",
            ".",
        ];
        for grouping in [
            Grouping::Psl,
            Grouping::Labels(1),
            Grouping::Labels(2),
            Grouping::Labels(4),
        ] {
            for name in names {
                assert_eq!(
                    grouping.domain_of(name),
                    grouping.domain_of_escaped(name),
                    "{grouping} {name}"
                );
            }
        }
    }

    #[test]
    fn escaped_dots_stay_inside_their_label() {
        // One label "a.b" under example.com.
        assert_eq!(psl(r"x.a\.b.example.com"), r"example.com");
        assert_eq!(psl(r"a\.b.example"), r"a\.b.example");
        assert_eq!(psl(r"x.a\.b.example"), r"a\.b.example");
        // "co.uk" as one label is not the suffix co.uk.
        assert_eq!(psl(r"bbc.co\.uk"), r"bbc.co\.uk");
        assert_eq!(psl(r"x.bbc.co\.uk"), r"bbc.co\.uk");
        assert_eq!(psl(r"a\\.b.com"), "b.com");
        assert_eq!(Grouping::Labels(2).domain_of(r"x.y\.z.com"), r"y\.z.com");
        // A label that is not a rule's still matches a wildcard rule.
        assert_eq!(psl(r"x.w\.x.foo.kawasaki.jp"), r"w\.x.foo.kawasaki.jp");
    }

    #[test]
    fn depth_groups_by_the_last_labels() {
        let two = Grouping::Labels(2);
        assert_eq!(two.domain_of("www.bbc.co.uk"), "co.uk");
        assert_eq!(two.domain_of("co.uk"), "co.uk");
        assert_eq!(two.domain_of("uk"), "uk");
        assert_eq!(two.domain_of("."), ".");
        assert_eq!(Grouping::Labels(3).domain_of("www.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(Grouping::Labels(1).domain_of("www.bbc.co.uk"), "uk");
        assert_eq!(
            Grouping::Labels(127).domain_of("www.bbc.co.uk"),
            "www.bbc.co.uk"
        );
        assert_eq!(two.to_string(), "labels:2");
        assert_eq!(Grouping::from_depth(None).to_string(), "psl");
        assert_eq!(Grouping::from_depth(Some(4)), Grouping::Labels(4));
    }

    #[test]
    fn section_ranks_domains_and_sums_the_rest() {
        let names = [
            ("www.example.com", 50),
            ("img.example.com", 30),
            ("a.github.io", 40),
            ("b.github.io", 40),
            ("www.bbc.co.uk", 10),
            ("co.uk", 5),
            (".", 1),
        ];
        let section = domains(&names, Grouping::Psl, 2, 200);
        assert_eq!(section.grouping, "psl");
        let top: Vec<(u64, &str, u64, u64, f64)> = section
            .list
            .top
            .iter()
            .map(|d| (d.rank, d.key.as_str(), d.count, d.names, d.share))
            .collect();
        assert_eq!(
            top,
            [(1, "example.com", 80, 2, 0.4), (2, "github.io", 80, 2, 0.4)]
        );
        assert_eq!(
            section.list.rest,
            Rest {
                keys: 3,
                count: 16,
                names: 3
            }
        );

        let all = domains(&names, Grouping::Labels(1), 0, 200);
        let listed: Vec<(&str, u64)> = all
            .list
            .top
            .iter()
            .map(|d| (d.key.as_str(), d.names))
            .collect();
        assert_eq!(listed, [("com", 2), ("io", 2), ("uk", 2), (".", 1)]);
        assert_eq!(all.list.rest, Rest::default());

        let empty = domains(&[], Grouping::Psl, 10, 0);
        assert!(empty.list.top.is_empty());
        assert_eq!(empty.list.rest, Rest::default());
    }
}
