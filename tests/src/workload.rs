//! Query workloads with known answers: how often each name and each qtype is sent.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};

/// The query types a workload sends, with the mnemonics the report uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Qtype {
    A,
    Aaaa,
    Mx,
    Txt,
}

impl Qtype {
    pub fn mnemonic(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Mx => "MX",
            Self::Txt => "TXT",
        }
    }
}

/// Mostly A, as at a real resolver; weights out of 100.
const QTYPE_MIX: [(Qtype, u32); 4] = [
    (Qtype::A, 70),
    (Qtype::Aaaa, 20),
    (Qtype::Mx, 5),
    (Qtype::Txt, 5),
];

/// One line of a dnsperf datafile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The name as sent: random per-letter case, like resolvers that use 0x20 encoding.
    pub name: String,
    pub qtype: Qtype,
}

/// A shuffled list of queries plus the counts a correct counter must report for it.
#[derive(Debug, Clone)]
pub struct Workload {
    queries: Vec<Query>,
    expected_names: BTreeMap<String, u64>,
    expected_qtypes: BTreeMap<String, u64>,
}

impl Workload {
    /// `distinct_names` synthetic names whose counts follow Zipf's law (exponent 1), `total`
    /// queries in all. The same seed gives the same workload, line for line.
    pub fn zipf(seed: u64, distinct_names: usize, total: u64) -> Self {
        Self::from_counts(seed, zipf_name_counts(seed, distinct_names, total))
    }

    /// A workload that sends each lowercase `name` exactly `count` times.
    ///
    /// # Panics
    /// If a name is not lowercase, has a trailing dot, appears twice or has a count of zero (a
    /// counter cannot report a name it never saw).
    pub fn from_counts(seed: u64, counts: impl IntoIterator<Item = (String, u64)>) -> Self {
        Self::build(counts, &mut StdRng::seed_from_u64(seed))
    }

    fn build(counts: impl IntoIterator<Item = (String, u64)>, rng: &mut StdRng) -> Self {
        let mut expected_names = BTreeMap::new();
        let mut expected_qtypes = BTreeMap::new();
        let mut queries = Vec::new();
        for (name, count) in counts {
            assert!(
                name == name.to_ascii_lowercase() && !name.ends_with('.'),
                "workload names are given in report form (lower case, no trailing dot): {name:?}"
            );
            assert!(count > 0, "workload name {name:?} has no queries");
            for _ in 0..count {
                let qtype = random_qtype(rng);
                *expected_qtypes
                    .entry(qtype.mnemonic().to_owned())
                    .or_insert(0) += 1;
                queries.push(Query {
                    name: random_case(&name, rng),
                    qtype,
                });
            }
            let previous = expected_names.insert(name, count);
            assert!(previous.is_none(), "a workload name appears twice");
        }
        queries.shuffle(rng);
        Self {
            queries,
            expected_names,
            expected_qtypes,
        }
    }

    pub fn total(&self) -> u64 {
        self.queries.len() as u64
    }

    pub fn queries(&self) -> &[Query] {
        &self.queries
    }

    /// Queries per name, keyed by the lowercase name (as reports spell it).
    pub fn expected_names(&self) -> &BTreeMap<String, u64> {
        &self.expected_names
    }

    /// Every name's count when the workload is sent `times` over.
    pub fn expected_names_times(&self, times: u64) -> BTreeMap<String, u64> {
        self.expected_names
            .iter()
            .map(|(name, count)| (name.clone(), count * times))
            .collect()
    }

    /// Writes the datafile to `<lab work dir>/<name>` and sends all of it once to `server` from
    /// the lab's client, checking dnsperf sent every query.
    pub fn send_all(&self, lab: &crate::Lab, server: std::net::IpAddr, name: &str) {
        let datafile = lab.work_dir().join(name);
        self.write_datafile(&datafile).expect("write the datafile");
        let summary = crate::Dnsperf::new(server, &datafile)
            .time_limit(std::time::Duration::from_secs(30))
            .run(lab)
            .expect("run dnsperf");
        assert_eq!(summary.sent, self.total(), "dnsperf sent it all");
    }

    /// Queries per qtype, keyed by mnemonic ("A", "AAAA", "MX", "TXT").
    pub fn expected_qtypes(&self) -> &BTreeMap<String, u64> {
        &self.expected_qtypes
    }

    /// Writes the dnsperf datafile: one `name TYPE` per line.
    pub fn write_datafile(&self, path: &Path) -> std::io::Result<()> {
        let mut file = BufWriter::new(File::create(path)?);
        for query in &self.queries {
            writeln!(file, "{} {}", query.name, query.qtype.mnemonic())?;
        }
        file.flush()
    }
}

/// `distinct` synthetic names (see [`Workload::zipf`]) with their Zipf-shaped counts, most queried
/// first; for workloads that add names of their own.
pub fn zipf_name_counts(seed: u64, distinct: usize, total: u64) -> Vec<(String, u64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let names = (0..distinct).map(|rank| synthetic_name(rank, &mut rng));
    names.zip(zipf_counts(distinct, total)).collect()
}

/// Splits `total` over `distinct` ranks in proportion to 1/rank, every rank getting at least one
/// query. Largest remainders make the counts sum to `total` exactly, deterministically.
///
/// # Panics
/// If `total < distinct` (some name would get no query).
pub fn zipf_counts(distinct: usize, total: u64) -> Vec<u64> {
    let distinct_u64 = distinct as u64;
    assert!(
        total >= distinct_u64,
        "{total} queries cannot cover {distinct} names"
    );
    let spread = total - distinct_u64;
    let weights: Vec<f64> = (1..=distinct).map(|rank| 1.0 / rank as f64).collect();
    let weight_sum: f64 = weights.iter().sum();
    let shares: Vec<f64> = weights
        .iter()
        .map(|weight| spread as f64 * weight / weight_sum)
        .collect();
    let mut counts: Vec<u64> = shares
        .iter()
        .map(|share| 1 + share.floor() as u64)
        .collect();

    let mut leftover = total - counts.iter().sum::<u64>();
    let mut by_remainder: Vec<usize> = (0..distinct).collect();
    by_remainder.sort_by(|&a, &b| {
        (shares[b] - shares[b].floor()).total_cmp(&(shares[a] - shares[a].floor()))
    });
    for rank in by_remainder.into_iter().cycle() {
        if leftover == 0 {
            break;
        }
        counts[rank] += 1;
        leftover -= 1;
    }
    counts
}

const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SERVICE_LABELS: [&str; 6] = ["www", "api", "img", "static", "m", "mail"];
/// Zones under the test-only `.test` TLD.
const ZONE_COUNT: usize = 40;

/// A unique name for `rank` made of [a-z0-9-] in three to five labels, e.g.
/// `n123-x7k.z12.example.test` or `api.n77-q-2.z3.example.test`; about one in fifty carries an
/// extra label of 30 to 63 characters so name lengths vary widely.
fn synthetic_name(rank: usize, rng: &mut StdRng) -> String {
    let mut labels = Vec::new();
    if rng.random_bool(0.3) {
        labels.push(
            SERVICE_LABELS
                .choose(rng)
                .copied()
                .unwrap_or("www")
                .to_owned(),
        );
    }
    // The rank makes the name unique; the tag makes names differ in more than digits.
    let tag_length = rng.random_range(2..=5);
    let mut tag = random_alphanumeric(tag_length, rng);
    if rng.random_bool(0.2) {
        tag.insert(tag_length / 2, '-');
    }
    labels.push(format!("n{rank}-{tag}"));
    if rng.random_bool(0.02) {
        let long_length = rng.random_range(30..=63);
        labels.push(random_alphanumeric(long_length, rng));
    }
    labels.push(format!("z{}", rng.random_range(0..ZONE_COUNT)));
    labels.push("example".to_owned());
    labels.push("test".to_owned());
    labels.join(".")
}

fn random_alphanumeric(length: usize, rng: &mut StdRng) -> String {
    (0..length)
        .map(|_| char::from(*ALPHANUMERIC.choose(rng).unwrap_or(&b'x')))
        .collect()
}

/// Flips each letter's case at random, so a counter only agrees with the workload if it folds case.
fn random_case(name: &str, rng: &mut StdRng) -> String {
    name.chars()
        .map(|c| {
            if rng.random_bool(0.5) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn random_qtype(rng: &mut StdRng) -> Qtype {
    let total_weight: u32 = QTYPE_MIX.iter().map(|(_, weight)| weight).sum();
    let mut pick = rng.random_range(0..total_weight);
    for (qtype, weight) in QTYPE_MIX {
        if pick < weight {
            return qtype;
        }
        pick -= weight;
    }
    Qtype::A
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_counts_sum_exactly_and_cover_every_name() {
        let counts = zipf_counts(20_000, 200_000);
        assert_eq!(counts.len(), 20_000);
        assert_eq!(counts.iter().sum::<u64>(), 200_000);
        assert!(counts.iter().all(|&count| count >= 1));
        // Zipf with exponent 1: rank 1 gets about twice rank 2 and ten times rank 10.
        assert!(counts[0] > counts[1] && counts[1] > counts[9]);
        assert!(
            counts.windows(2).all(|pair| pair[0] + 1 >= pair[1]),
            "counts fall with rank"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_workload() {
        let first = Workload::zipf(7, 500, 5_000);
        let second = Workload::zipf(7, 500, 5_000);
        assert_eq!(first.queries(), second.queries());
        assert_ne!(first.queries(), Workload::zipf(8, 500, 5_000).queries());
    }

    #[test]
    fn expected_counts_match_the_queries() {
        let workload = Workload::zipf(1, 2_000, 20_000);
        let mut names = BTreeMap::new();
        let mut qtypes = BTreeMap::new();
        for query in workload.queries() {
            *names.entry(query.name.to_ascii_lowercase()).or_insert(0u64) += 1;
            *qtypes
                .entry(query.qtype.mnemonic().to_owned())
                .or_insert(0u64) += 1;
        }
        assert_eq!(&names, workload.expected_names());
        assert_eq!(&qtypes, workload.expected_qtypes());
        assert_eq!(workload.total(), 20_000);
        assert_eq!(workload.expected_names().len(), 2_000);
        assert_eq!(qtypes.len(), QTYPE_MIX.len(), "every qtype is sent");
    }

    #[test]
    fn names_are_valid_and_sent_in_mixed_case() {
        let workload = Workload::zipf(3, 5_000, 10_000);
        for name in workload.expected_names().keys() {
            assert!(name.len() <= 253, "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'.')
            );
            for label in name.split('.') {
                assert!((1..=63).contains(&label.len()), "{name}");
                assert!(!label.starts_with('-') && !label.ends_with('-'), "{name}");
            }
        }
        let mixed = workload
            .queries()
            .iter()
            .filter(|query| query.name.bytes().any(|b| b.is_ascii_uppercase()));
        assert!(
            mixed.count() > 9_000,
            "almost every query has an upper-case letter"
        );
    }

    #[test]
    fn datafile_has_one_name_and_type_per_line() {
        let workload = Workload::from_counts(
            5,
            [
                ("a.example.test".to_owned(), 2),
                ("b.example.test".to_owned(), 1),
            ],
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queries");
        workload.write_datafile(&path).expect("write datafile");
        let text = std::fs::read_to_string(&path).expect("read datafile");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        for line in lines {
            let (name, qtype) = line.split_once(' ').expect("name and type");
            assert!(
                name.eq_ignore_ascii_case("a.example.test")
                    || name.eq_ignore_ascii_case("b.example.test")
            );
            assert!(["A", "AAAA", "MX", "TXT"].contains(&qtype));
        }
    }

    #[test]
    #[should_panic(expected = "report form")]
    fn rejects_names_not_in_report_form() {
        Workload::from_counts(1, [("Upper.example.test".to_owned(), 1)]);
    }
}
