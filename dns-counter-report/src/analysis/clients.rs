//! Queries per client prefix (`--clients`) for the report's `clients` section: the kernel's counts
//! per prefix, most first, written as `192.0.2.0/24` and `2001:db8:0:100::/56`, or with
//! `--anonymize` as keyed hashes that stay the same for the whole run.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hasher as _;
use std::net::IpAddr;

use siphasher::sip::SipHasher24;

use crate::interval::{ClientCounts, ClientPrefix};
use crate::model::{Clients, Ranked};

/// How client prefixes are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// The prefix lengths the kernel counted with.
    pub prefix: ClientPrefix,
    /// With --anonymize.
    pub anonymizer: Option<Anonymizer>,
}

/// Writes a prefix as `anon-` and 16 hex digits: SipHash-2-4 of the prefix under a 128-bit key.
/// The key is random per run and never written anywhere, so a prefix reads the same in every
/// report of a run, while nobody without the key can tell which prefix it is by hashing
/// candidates (there are only 2^24 IPv4 /24s), nor link it to the next run's name for it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Anonymizer {
    key: [u64; 2],
}

impl Anonymizer {
    /// A fresh key from the operating system's random source.
    pub fn random() -> Self {
        Self {
            key: rand::random(),
        }
    }

    /// A given key (tests).
    pub const fn with_key(key: [u64; 2]) -> Self {
        Self { key }
    }

    /// The name of `prefix` (an address with its host bits cleared) of length `len`.
    pub fn name(&self, prefix: IpAddr, len: u8) -> String {
        // Fixed-size input: version, length, 16 address bytes (an IPv4 address in the first 4).
        let mut input = [0u8; 18];
        match prefix {
            IpAddr::V4(addr) => {
                input[0] = 4;
                input[2..6].copy_from_slice(&addr.octets());
            }
            IpAddr::V6(addr) => {
                input[0] = 6;
                input[2..].copy_from_slice(&addr.octets());
            }
        }
        input[1] = len;
        let mut hasher = SipHasher24::new_with_keys(self.key[0], self.key[1]);
        hasher.write(&input);
        format!("anon-{:016x}", hasher.finish())
    }
}

/// Never shows the key.
impl fmt::Debug for Anonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Anonymizer { .. }")
    }
}

/// The `clients` section: prefixes by count, most first (ties by address, or by the hash when
/// anonymized, so the order says nothing about addresses), the first `top` listed (0: all), the
/// others summed under `rest`. `share` is a prefix's count over `queries` (`totals.queries`), as
/// for names. Entries with a zero count are dropped; a prefix repeated in the input is added up.
pub fn section(
    counts: &ClientCounts,
    options: &ClientOptions,
    top: usize,
    queries: u64,
) -> Clients {
    let mut by_prefix: BTreeMap<IpAddr, u64> = BTreeMap::new();
    for &(prefix, count) in counts.prefixes.iter().filter(|(_, count)| *count != 0) {
        let total = by_prefix.entry(prefix).or_default();
        *total = total.saturating_add(count);
    }
    let ClientPrefix { v4, v6 } = options.prefix;
    let listed: Vec<(Listed, u64)> = by_prefix
        .into_iter()
        .map(|(prefix, count)| {
            let len = if prefix.is_ipv4() { v4 } else { v6 };
            let listed = match &options.anonymizer {
                Some(anonymizer) => Listed {
                    address: None,
                    client: anonymizer.name(prefix, len),
                },
                None => Listed {
                    address: Some(prefix),
                    client: format!("{prefix}/{len}"),
                },
            };
            (listed, count)
        })
        .collect();
    Clients {
        prefix_v4: v4,
        prefix_v6: v6,
        anonymized: options.anonymizer.is_some(),
        list: Ranked::cut(listed, top, queries),
        untracked: counts.untracked,
    }
}

/// A prefix as listed, ordered as ties in the list go: by address, or when anonymized by the
/// hash alone, so that the order says nothing about addresses.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Listed {
    address: Option<IpAddr>,
    client: String,
}

impl From<Listed> for String {
    fn from(listed: Listed) -> String {
        listed.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{self, Rest};

    const PREFIX: ClientPrefix = ClientPrefix { v4: 24, v6: 56 };

    fn counts() -> ClientCounts {
        let ip = |text: &str| text.parse::<IpAddr>().expect("an address");
        ClientCounts {
            prefixes: vec![
                (ip("192.0.2.0"), 40),
                (ip("2001:db8:0:100::"), 40),
                (ip("198.51.100.0"), 70),
                (ip("203.0.113.0"), 5),
                (ip("10.0.0.0"), 0),
                (ip("2001:db8:ff::"), 3),
                (ip("203.0.113.0"), 2),
            ],
            untracked: 9,
        }
    }

    fn plain() -> ClientOptions {
        ClientOptions {
            prefix: PREFIX,
            anonymizer: None,
        }
    }

    #[test]
    fn prefixes_by_count_then_address_cut_at_top() {
        let clients = section(&counts(), &plain(), 3, 200);
        let listed: Vec<(u64, &str, u64)> = clients
            .list
            .top
            .iter()
            .map(|e| (e.rank, e.key.as_str(), e.count))
            .collect();
        assert_eq!(
            listed,
            [
                (1, "198.51.100.0/24", 70),
                (2, "192.0.2.0/24", 40),
                (3, "2001:db8:0:100::/56", 40)
            ]
        );
        assert_eq!(
            clients.list.rest,
            Rest {
                keys: 2,
                count: 7 + 3,
                names: 0
            }
        );
        assert_eq!(
            (
                clients.untracked,
                clients.prefix_v4,
                clients.prefix_v6,
                clients.anonymized
            ),
            (9, 24, 56, false)
        );
        assert_eq!(clients.list.top[0].share, 0.35);
        let all = section(&counts(), &plain(), 0, 200);
        assert_eq!(all.list.top.len(), 5);
        assert_eq!(all.list.rest, Rest::default());
        let total: u64 = all.list.top.iter().map(|e| e.count).sum::<u64>() + all.untracked;
        assert_eq!(total, 40 + 40 + 70 + 7 + 3 + 9);
    }

    #[test]
    fn anonymized_prefixes_are_stable_keyed_and_counted_alike() {
        let anonymizer = Anonymizer::with_key([7, 11]);
        let options = ClientOptions {
            prefix: PREFIX,
            anonymizer: Some(anonymizer),
        };
        let first = section(&counts(), &options, 0, 200);
        let again = section(&counts(), &options, 0, 200);
        assert_eq!(first, again, "the same key names the same prefixes alike");
        assert!(first.anonymized);
        let plain = section(&counts(), &plain(), 0, 200);
        let mut anonymized_counts: Vec<u64> = first.list.top.iter().map(|e| e.count).collect();
        let mut plain_counts: Vec<u64> = plain.list.top.iter().map(|e| e.count).collect();
        anonymized_counts.sort_unstable();
        plain_counts.sort_unstable();
        assert_eq!(anonymized_counts, plain_counts);
        for entry in &first.list.top {
            let hex = entry.key.strip_prefix("anon-").expect("anon- prefix");
            assert!(
                hex.len() == 16
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert!(!entry.key.contains('.') && !entry.key.contains(':'));
        }
        // Ties go by the hash, not by the address.
        assert!(first.list.top[1].key < first.list.top[2].key);

        let prefix: IpAddr = "192.0.2.0".parse().expect("an address");
        assert_eq!(anonymizer.name(prefix, 24), anonymizer.name(prefix, 24));
        assert_ne!(
            anonymizer.name(prefix, 24),
            Anonymizer::with_key([7, 12]).name(prefix, 24),
            "keyed"
        );
        assert_ne!(
            anonymizer.name(prefix, 24),
            anonymizer.name(prefix, 25),
            "the length counts"
        );
        let mapped: IpAddr = "::ffff:192.0.2.0".parse().expect("an address");
        assert_ne!(
            anonymizer.name(prefix, 24),
            anonymizer.name(mapped, 24),
            "so does the version"
        );
        assert_eq!(format!("{anonymizer:?}"), "Anonymizer { .. }");
        assert_ne!(
            Anonymizer::random().name(prefix, 24),
            anonymizer.name(prefix, 24)
        );
    }

    /// The aggregate fixture (1,089 queries counted, 43 excluded) with clients that add up.
    fn fixture_report(clients: ClientCounts, options: ClientOptions, top: usize) -> model::Report {
        let (mut interval, meta, exclusions) = crate::testing::fixture();
        interval.clients = Some(clients);
        let options = crate::analysis::ReportOptions {
            clients: Some(options),
            ..crate::analysis::ReportOptions::new(top, &exclusions)
        };
        crate::analysis::build_report(&interval, &meta, &options)
    }

    fn fixture_clients() -> ClientCounts {
        let mut clients = counts();
        // counts() holds 169 queries (9 untracked); the fixture counted 1,089 + 43 excluded.
        clients
            .prefixes
            .push(("192.0.2.0".parse().expect("an address"), 1_089 + 43 - 169));
        clients
    }

    #[test]
    fn the_report_section_adds_up_to_what_the_kernel_counted_by_name() {
        let report = fixture_report(fixture_clients(), plain(), 2);
        assert_eq!(report.check_invariants(), Ok(()));
        let clients = report.clients.as_ref().expect("with --clients");
        assert_eq!(clients.list.top[0].key, "192.0.2.0/24");
        assert_eq!(clients.list.top[0].count, 40 + 963);
        assert_eq!(clients.list.top[0].share, model::share(1_003, 1_134));
        assert_eq!(clients.list.rest.keys, 3);

        let mut broken = report.clone();
        broken.clients.as_mut().expect("clients").untracked += 1;
        let err = broken.check_invariants().expect_err("one query too many");
        assert!(
            err.rule
                .starts_with("counted + excluded = sum(clients.top[].count)"),
            "{err}"
        );
        let mut broken = report.clone();
        broken
            .clients
            .as_mut()
            .expect("clients")
            .list
            .top
            .swap(0, 1);
        assert_eq!(
            broken.check_invariants().expect_err("ranks").rule,
            "clients.top ranks are 1, 2, 3, ..."
        );

        let back: model::Report =
            serde_json::from_str(&crate::render::json::to_json(&report)).expect("parse");
        assert_eq!(back, report);
        let json: serde_json::Value =
            serde_json::from_str(&crate::render::json::to_json(&report)).expect("parse");
        let keys: Vec<&str> = json["clients"]
            .as_object()
            .expect("clients")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "anonymized",
                "prefix_v4",
                "prefix_v6",
                "rest",
                "top",
                "untracked"
            ]
        );
        assert_eq!(json["clients"]["top"][0]["client"], "192.0.2.0/24");

        // Without --clients, or without counts from the kernel, there is no section.
        let (interval, meta, exclusions) = crate::testing::fixture();
        let plain_report = crate::analysis::build_report(
            &interval,
            &meta,
            &crate::analysis::ReportOptions::new(2, &exclusions),
        );
        assert!(plain_report.clients.is_none());
        assert!(!crate::render::json::to_json(&plain_report).contains("\"clients\""));
    }

    #[test]
    fn the_text_report_has_a_clients_table() {
        let text = crate::render::text::to_text(&fixture_report(fixture_clients(), plain(), 2));
        let table: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.contains("client ("))
            .take(5)
            .collect();
        assert_eq!(
            table,
            [
                "rank  count   share  client (/24 and /56 prefixes)",
                "   1   1003  88.45%  192.0.2.0/24",
                "   2     70   6.17%  198.51.100.0/24",
                "rest     50   4.41%  (3 other prefixes)",
                "   -      9   0.79%  (untracked: the kernel's client table was full)",
            ],
            "{text}"
        );
        let anonymized = ClientOptions {
            prefix: PREFIX,
            anonymizer: Some(Anonymizer::with_key([1, 2])),
        };
        let text = crate::render::text::to_text(&fixture_report(fixture_clients(), anonymized, 0));
        assert!(
            text.contains("client (anonymized /24 and /56 prefixes)"),
            "{text}"
        );
        assert!(
            !text.contains("192.0.2") && !text.contains("2001:db8"),
            "{text}"
        );
    }

    #[test]
    fn nothing_counted_is_an_empty_section() {
        let clients = section(&ClientCounts::default(), &plain(), 10, 0);
        assert!(clients.list.top.is_empty());
        assert_eq!((clients.list.rest, clients.untracked), (Rest::default(), 0));
    }
}
