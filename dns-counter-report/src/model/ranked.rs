//! The report's ranked lists (names, domains, organisations, client prefixes) as one type,
//! [`Ranked`]: the entries listed at `--top`, most queried first, and the rest summed; the one cut
//! that makes such a list, and the invariants every list keeps.
//!
//! A list's JSON is `{"top": [entry, ...], "rest": {...}}`, the same for every kind but for the
//! names of three fields, which the kind gives ([`ListKind`]): an entry's key (`name`, `domain`,
//! ...), the rest's count of unlisted keys (`names`, `domains`, ...), and whether entries and
//! the rest count distinct `names` too. So (de)serialization is written once, by hand, over the
//! kind's constants, rather than derived once per section.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a kind of list calls its fields, for [`Ranked`].
pub trait ListKind: Copy + Default + fmt::Debug + PartialEq + 'static {
    /// An entry's key field: `name`, `domain`, `org`, `client`.
    const KEY: &'static str;
    /// The rest's field counting the unlisted keys: `names`, `domains`, `orgs`, `prefixes`.
    const REST_KEYS: &'static str;
    /// Entries and the rest count distinct names (`names` fields) too.
    const NAMES: bool;
    /// The list's place in a report, as its invariants name it: `domains.`, ...; empty for the
    /// names, whose `top` and `rest` are the report's own.
    const SECTION: &'static str;
    /// What people call one entry, and several.
    const NOUNS: [&'static str; 2];
}

macro_rules! list_kinds {
    ($($(#[$doc:meta])* $kind:ident: $key:literal, $rest_keys:literal, names: $names:literal,
       $section:literal, $nouns:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $kind;

        impl ListKind for $kind {
            const KEY: &'static str = $key;
            const REST_KEYS: &'static str = $rest_keys;
            const NAMES: bool = $names;
            const SECTION: &'static str = $section;
            const NOUNS: [&'static str; 2] = $nouns;
        }
    )*};
}

list_kinds! {
    /// The names: the report's `top` (`top[].name`) and `rest` (`rest.names`).
    ByName: "name", "names", names: false, "", ["name", "names"];
    /// Registered domains (or last labels): `domains.top[].domain`, `domains.rest.domains`.
    ByDomain: "domain", "domains", names: true, "domains.", ["domain", "domains"];
    /// Organisations: `orgs.top[].org`, `orgs.rest.orgs`.
    ByOrg: "org", "orgs", names: true, "orgs.", ["organisation", "organisations"];
    /// Client prefixes: `clients.top[].client`, `clients.rest.prefixes`.
    ByClient: "client", "prefixes", names: false, "clients.", ["prefix", "prefixes"];
}

/// One listed entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// From 1.
    pub rank: u64,
    /// A name or domain in presentation form (see [`crate::names::presentation`]), an
    /// organisation, or a client prefix (`192.0.2.0/24`, `2001:db8:0:100::/56`, or with
    /// --anonymize a hash like `anon-3f9a…`).
    pub key: String,
    pub count: u64,
    /// Distinct names counted under the entry, in lists that count them ([`ListKind::NAMES`]);
    /// 0 in the others.
    pub names: u64,
    /// `count / totals.queries` rounded to 9 decimal places, 0 when there were no queries; see
    /// [`share`].
    pub share: f64,
}

/// What a list counted but does not list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rest {
    /// Entries not listed.
    pub keys: u64,
    pub count: u64,
    /// Their distinct names, in lists that count them; 0 in the others.
    pub names: u64,
}

/// A ranked list: the most queried entries, most first, ties by key, and the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ranked<K> {
    pub top: Vec<Entry>,
    pub rest: Rest,
    kind: PhantomData<K>,
}

/// Queries and distinct names of one key before the cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub count: u64,
    pub names: u64,
}

/// One name's queries.
impl From<u64> for Counts {
    fn from(count: u64) -> Self {
        Self { count, names: 1 }
    }
}

impl Counts {
    /// Names (each once, with its queries) counted per key.
    pub fn per_key<Key: Hash + Eq>(names: impl Iterator<Item = (Key, u64)>) -> Vec<(Key, Self)> {
        let mut by_key: HashMap<Key, Self> = HashMap::new();
        for (key, count) in names {
            let counts = by_key.entry(key).or_default();
            counts.count = counts.count.saturating_add(count);
            counts.names += 1;
        }
        by_key.into_iter().collect()
    }
}

/// Which sum of a list a [`Sum`] holds it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of {
    /// `sum(top[].count) + rest.count`.
    Count,
    /// `sum(top[].names) + rest.names`, in lists that count names.
    Names,
    /// `len(top) + rest.<keys>`.
    Keys,
}

/// What a list must add up to, for [`Ranked::check`]: `total` (as the rule names it) equals the
/// list's sum `of` what it counts, plus what the report counts `beside` the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sum {
    pub of: Of,
    pub total: (&'static str, u128),
    /// A field of the list's section (`unassigned.count`) and its value.
    pub beside: Option<(&'static str, u64)>,
}

impl Sum {
    pub fn new(of: Of, name: &'static str, total: u128) -> Self {
        Self {
            of,
            total: (name, total),
            beside: None,
        }
    }

    pub fn beside(self, field: &'static str, value: u64) -> Self {
        Self {
            beside: Some((field, value)),
            ..self
        }
    }
}

impl<K: ListKind> Ranked<K> {
    pub fn new(top: Vec<Entry>, rest: Rest) -> Self {
        Self {
            top,
            rest,
            kind: PhantomData,
        }
    }

    /// The list of `entries` (each key once): the `top` most queried listed (0 lists them all),
    /// most first, ties by key order, `share`s over `queries`; the others summed into `rest`.
    /// Only the listed entries are sorted, so listing 50 of a million entries costs one pass.
    pub fn cut<Key, C>(mut entries: Vec<(Key, C)>, top: usize, queries: u64) -> Self
    where
        Key: Ord + Into<String>,
        C: Copy + Into<Counts>,
    {
        let listed = match top {
            0 => entries.len(),
            top => top.min(entries.len()),
        };
        let count = |entry: &(Key, C)| entry.1.into().count;
        sort_top(&mut entries, listed, |a, b| {
            count(b).cmp(&count(a)).then_with(|| a.0.cmp(&b.0))
        });
        let mut rest = Rest::default();
        for (_, counts) in entries.drain(listed..) {
            let counts = counts.into();
            rest.keys += 1;
            rest.count = rest.count.saturating_add(counts.count);
            rest.names = rest.names.saturating_add(counts.names);
        }
        // Lists without names write none, so hold none (a report reads back equal).
        let names = |names| if K::NAMES { names } else { 0 };
        rest.names = names(rest.names);
        let top = entries
            .into_iter()
            .zip(1..)
            .map(|((key, counts), rank)| {
                let counts = counts.into();
                Entry {
                    rank,
                    key: key.into(),
                    count: counts.count,
                    names: names(counts.names),
                    share: share(counts.count, queries),
                }
            })
            .collect();
        Self::new(top, rest)
    }

    /// Nothing listed and nothing in the rest.
    pub fn is_empty(&self) -> bool {
        self.top.is_empty() && self.rest.keys == 0 && self.rest.count == 0
    }

    /// The list's sum `of` what it counts, in `u128`: a list read from anywhere cannot overflow
    /// it.
    pub fn sum(&self, of: Of) -> u128 {
        let listed = |field: fn(&Entry) -> u64| self.top.iter().map(field).map(u128::from);
        match of {
            Of::Count => listed(|entry| entry.count).sum::<u128>() + u128::from(self.rest.count),
            Of::Names => listed(|entry| entry.names).sum::<u128>() + u128::from(self.rest.names),
            Of::Keys => self.top.len() as u128 + u128::from(self.rest.keys),
        }
    }

    /// Checks that each of `sums` holds and that the ranks are 1, 2, 3, ... Each broken rule
    /// names the list's section, as `counted = sum(domains.top[].count) + domains.rest.count`.
    pub fn check(&self, sums: &[Sum]) -> Result<(), InvariantError> {
        let section = K::SECTION;
        for sum in sums {
            let (total, left) = sum.total;
            let mut rule = match sum.of {
                Of::Count => format!("{total} = sum({section}top[].count) + {section}rest.count"),
                Of::Names => format!("{total} = sum({section}top[].names) + {section}rest.names"),
                Of::Keys => format!(
                    "{total} = len({section}top) + {section}rest.{}",
                    K::REST_KEYS
                ),
            };
            let mut right = self.sum(sum.of);
            if let Some((field, value)) = sum.beside {
                rule.push_str(&format!(" + {section}{field}"));
                right += u128::from(value);
            }
            if left != right {
                return Err(InvariantError { rule, left, right });
            }
        }
        for (entry, rank) in self.top.iter().zip(1u128..) {
            if u128::from(entry.rank) != rank {
                return Err(InvariantError {
                    rule: format!("{section}top ranks are 1, 2, 3, ..."),
                    left: entry.rank.into(),
                    right: rank,
                });
            }
        }
        Ok(())
    }

    /// Sets every `share` to its count over `queries`.
    pub fn reshare(&mut self, queries: u64) {
        for entry in &mut self.top {
            entry.share = share(entry.count, queries);
        }
    }
}

/// `count / queries` rounded to 9 decimal places (0 when `queries` is 0).
///
/// Rounded so that the value survives JSON exactly: serde_json, without its `float_roundtrip` feature,
/// may read a 17-digit float back one bit off (14/15 does), while a float of at most 15 significant digits
/// always reads back exactly. Nine decimals still tell one query in a billion.
pub fn share(count: u64, queries: u64) -> f64 {
    match queries {
        0 => 0.0,
        _ => (count as f64 / queries as f64 * 1e9).round() / 1e9,
    }
}

/// A report whose totals disagree with its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule} does not hold: {left} != {right}")]
pub struct InvariantError {
    /// Names the section: `counted = sum(domains.top[].count) + domains.rest.count`.
    pub rule: String,
    pub left: u128,
    pub right: u128,
}

/// Puts the first `listed` entries of `entries` in `order`, each smaller than every entry after
/// them, which stay in no order: a partial sort. `order` must be total (no two entries equal), as
/// it is for unique keys.
fn sort_top<T>(entries: &mut [T], listed: usize, mut order: impl FnMut(&T, &T) -> Ordering) {
    if listed == 0 {
        return;
    }
    if listed < entries.len() {
        entries.select_nth_unstable_by(listed - 1, &mut order);
    }
    entries[..listed].sort_unstable_by(order);
}

/// An entry or a rest as the JSON of a list of kind `K` writes it.
struct As<'a, K, T: ?Sized>(&'a T, PhantomData<K>);

impl<'a, K, T: ?Sized> As<'a, K, T> {
    fn new(value: &'a T) -> Self {
        Self(value, PhantomData)
    }
}

impl<K: ListKind> Serialize for Ranked<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut list = serializer.serialize_struct("Ranked", 2)?;
        list.serialize_field("top", &As::<K, _>::new(self.top.as_slice()))?;
        list.serialize_field("rest", &As::<K, _>::new(&self.rest))?;
        list.end()
    }
}

impl<K: ListKind> Serialize for As<'_, K, [Entry]> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(As::<K, _>::new))
    }
}

impl<K: ListKind> Serialize for As<'_, K, Entry> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entry = self.0;
        let mut out = serializer.serialize_struct("Entry", 4 + usize::from(K::NAMES))?;
        out.serialize_field("rank", &entry.rank)?;
        out.serialize_field(K::KEY, &entry.key)?;
        out.serialize_field("count", &entry.count)?;
        if K::NAMES {
            out.serialize_field("names", &entry.names)?;
        }
        out.serialize_field("share", &entry.share)?;
        out.end()
    }
}

impl<K: ListKind> Serialize for As<'_, K, Rest> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rest = self.0;
        let mut out = serializer.serialize_struct("Rest", 2 + usize::from(K::NAMES))?;
        out.serialize_field(K::REST_KEYS, &rest.keys)?;
        out.serialize_field("count", &rest.count)?;
        if K::NAMES {
            out.serialize_field("names", &rest.names)?;
        }
        out.end()
    }
}

impl<'de, K: ListKind> Deserialize<'de> for Ranked<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct List<K>(PhantomData<K>);
        impl<'de, K: ListKind> Visitor<'de> for List<K> {
            type Value = Ranked<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a ranked list: `top` and `rest`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ranked<K>, A::Error> {
                let (mut top, mut rest) = (None, None);
                while let Some(field) = map.next_key_seed(Field(LIST_FIELDS))? {
                    match field {
                        Some(0) => fill(&mut map, &mut top, "top")?,
                        Some(_) => fill(&mut map, &mut rest, "rest")?,
                        None => skip(&mut map)?,
                    }
                }
                let top: Vec<In<K, Entry>> = required(top, "top")?;
                let rest: In<K, Rest> = required(rest, "rest")?;
                // The same layout: collected in place.
                Ok(Ranked::new(
                    top.into_iter().map(|entry| entry.0).collect(),
                    rest.0,
                ))
            }
        }
        // As a struct, so that a list flattened into its section takes only its own fields.
        deserializer.deserialize_struct("Ranked", LIST_FIELDS, List(PhantomData))
    }
}

const LIST_FIELDS: &[&str] = &["top", "rest"];

/// An entry or a rest read as a list of kind `K` writes it: as derived code would read it, its
/// fields in any order, each once, all required; others (and `names` in a list without them)
/// ignored.
struct In<K, T>(T, PhantomData<K>);

impl<K: ListKind> In<K, Entry> {
    /// In the order [`Self::deserialize`] matches them; `names` last, for lists without it.
    const FIELDS: &'static [&'static str] = if K::NAMES {
        &["rank", K::KEY, "count", "share", "names"]
    } else {
        &["rank", K::KEY, "count", "share"]
    };
}

impl<'de, K: ListKind> Deserialize<'de> for In<K, Entry> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<K>(PhantomData<K>);
        impl<'de, K: ListKind> Visitor<'de> for Fields<K> {
            type Value = In<K, Entry>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list entry: `rank`, `{}`, `count`, `share`", K::KEY)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut rank, mut key, mut count, mut share, mut names) =
                    (None, None, None, None, None);
                while let Some(field) = map.next_key_seed(Field(In::<K, Entry>::FIELDS))? {
                    match field {
                        Some(0) => fill(&mut map, &mut rank, "rank")?,
                        Some(1) => fill(&mut map, &mut key, K::KEY)?,
                        Some(2) => fill(&mut map, &mut count, "count")?,
                        Some(3) => fill(&mut map, &mut share, "share")?,
                        Some(_) => fill(&mut map, &mut names, "names")?,
                        None => skip(&mut map)?,
                    }
                }
                let entry = Entry {
                    rank: required(rank, "rank")?,
                    key: required(key, K::KEY)?,
                    count: required(count, "count")?,
                    names: if K::NAMES {
                        required(names, "names")?
                    } else {
                        0
                    },
                    share: required(share, "share")?,
                };
                Ok(In(entry, PhantomData))
            }
        }
        deserializer.deserialize_struct("Entry", Self::FIELDS, Fields(PhantomData))
    }
}

impl<K: ListKind> In<K, Rest> {
    /// In the order [`Self::deserialize`] matches them; `names` last, for lists without it.
    const FIELDS: &'static [&'static str] = if K::NAMES {
        &[K::REST_KEYS, "count", "names"]
    } else {
        &[K::REST_KEYS, "count"]
    };
}

impl<'de, K: ListKind> Deserialize<'de> for In<K, Rest> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<K>(PhantomData<K>);
        impl<'de, K: ListKind> Visitor<'de> for Fields<K> {
            type Value = In<K, Rest>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list's rest: `{}`, `count`", K::REST_KEYS)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut keys, mut count, mut names) = (None, None, None);
                while let Some(field) = map.next_key_seed(Field(In::<K, Rest>::FIELDS))? {
                    match field {
                        Some(0) => fill(&mut map, &mut keys, K::REST_KEYS)?,
                        Some(1) => fill(&mut map, &mut count, "count")?,
                        Some(_) => fill(&mut map, &mut names, "names")?,
                        None => skip(&mut map)?,
                    }
                }
                let rest = Rest {
                    keys: required(keys, K::REST_KEYS)?,
                    count: required(count, "count")?,
                    names: if K::NAMES {
                        required(names, "names")?
                    } else {
                        0
                    },
                };
                Ok(In(rest, PhantomData))
            }
        }
        deserializer.deserialize_struct("Rest", Self::FIELDS, Fields(PhantomData))
    }
}

/// A field's key as its index among the fields given, `None` for one not among them; read
/// without allocating.
struct Field(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Field {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Field {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|field| *field == name))
    }
    fn visit_bytes<E: de::Error>(self, name: &[u8]) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|field| field.as_bytes() == name))
    }
}

/// Reads the value of a field seen for the first time.
fn fill<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    field: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(field));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

fn required<T, E: de::Error>(slot: Option<T>, field: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(field))
}

fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rank: u64, key: &str, count: u64, names: u64, share: f64) -> Entry {
        let key = key.into();
        Entry {
            rank,
            key,
            count,
            names,
            share,
        }
    }

    fn read<K: ListKind>(json: &str) -> Result<Ranked<K>, String> {
        serde_json::from_str(json).map_err(|err| err.to_string())
    }

    #[test]
    fn each_kind_names_its_fields() {
        let rest = Rest {
            keys: 1,
            count: 3,
            names: 1,
        };
        let domains = Ranked::<ByDomain>::new(vec![entry(1, "a.example", 3, 2, 0.5)], rest);
        let json = serde_json::to_string(&domains).expect("serializes");
        assert_eq!(
            json,
            r#"{"top":[{"rank":1,"domain":"a.example","count":3,"names":2,"share":0.5}],"rest":{"domains":1,"count":3,"names":1}}"#
        );
        assert_eq!(read::<ByDomain>(&json), Ok(domains));
        let rest = Rest { names: 0, ..rest };
        let clients = Ranked::<ByClient>::new(vec![entry(1, "192.0.2.0/24", 3, 0, 0.5)], rest);
        let json = serde_json::to_string(&clients).expect("serializes");
        assert_eq!(
            json,
            r#"{"top":[{"rank":1,"client":"192.0.2.0/24","count":3,"share":0.5}],"rest":{"prefixes":1,"count":3}}"#
        );
        assert_eq!(read::<ByClient>(&json), Ok(clients));
    }

    #[test]
    fn lists_read_as_derived_code_read_them() {
        // Fields in any order; unknown ones ignored, and so is `names` in a list without them.
        let json = r#"{"rest": {"count": 3, "names": 9, "prefixes": 1, "x": [1]}, "other": 1,
            "top": [{"share": 0.5, "count": 3, "client": "c", "names": 7, "rank": 1, "y": {}}]}"#;
        let rest = Rest {
            keys: 1,
            count: 3,
            names: 0,
        };
        let expected = Ranked::new(vec![entry(1, "c", 3, 0, 0.5)], rest);
        assert_eq!(read::<ByClient>(json), Ok(expected));
        // Every field is required, and each once.
        let refused = |json: &str, why: &str| {
            let err = read::<ByDomain>(json).expect_err(json);
            assert!(err.contains(why), "{err}");
        };
        let rest = r#""rest": {"domains": 0, "count": 0, "names": 0}"#;
        refused(
            &format!(
                r#"{{"top": [{{"rank": 1, "domain": "d", "count": 3, "share": 0.5}}], {rest}}}"#
            ),
            "missing field `names`",
        );
        refused(r#"{"top": []}"#, "missing field `rest`");
        refused(
            r#"{"top": [], "rest": {"domains": 0, "names": 0}}"#,
            "missing field `count`",
        );
        refused(
            &format!(r#"{{"top": [], "top": [], {rest}}}"#),
            "duplicate field `top`",
        );
        refused(
            &format!(
                r#"{{"top": [{{"rank": 1, "domain": "d", "domain": "e", "count": 3, "names": 1, "share": 0.5}}], {rest}}}"#
            ),
            "duplicate field `domain`",
        );
        // A domain is no name.
        let domains = format!(
            r#"{{"top": [{{"rank": 1, "domain": "d", "count": 3, "names": 1, "share": 0.5}}], {rest}}}"#
        );
        assert!(read::<ByDomain>(&domains).is_ok());
        let err = read::<ByName>(&domains).expect_err("not names");
        assert!(err.contains("missing field `name`"), "{err}");
    }

    #[test]
    fn the_cut_lists_the_most_queried_first_ties_by_key() {
        let names = vec![("b", 5), ("a", 5), ("c", 9), ("d", 1), ("e", 1)];
        let list = Ranked::<ByName>::cut(names.clone(), 2, 20);
        assert_eq!(
            list.top,
            [entry(1, "c", 9, 0, 0.45), entry(2, "a", 5, 0, 0.25)]
        );
        let rest = Rest {
            keys: 3,
            count: 7,
            names: 0,
        };
        assert_eq!(list.rest, rest);
        let all = Ranked::<ByName>::cut(names, 0, 20);
        let keys: Vec<&str> = all.top.iter().map(|entry| entry.key.as_str()).collect();
        assert_eq!(
            (keys, all.rest),
            (vec!["c", "a", "b", "d", "e"], Rest::default())
        );
        // Lists that count names keep them, and add up.
        let per_domain = Counts::per_key([("x", 2), ("y", 1), ("x", 3)].into_iter());
        let domains = Ranked::<ByDomain>::cut(per_domain, 1, 6);
        assert_eq!(domains.top, [entry(1, "x", 5, 2, 0.833333333)]);
        let rest = Rest {
            keys: 1,
            count: 1,
            names: 1,
        };
        assert_eq!(domains.rest, rest);
        let sums = [
            Sum::new(Of::Count, "counted", 6),
            Sum::new(Of::Names, "distinct_names", 3),
            Sum::new(Of::Keys, "domains", 2),
        ];
        assert_eq!(domains.check(&sums), Ok(()));
        let err = domains.check(&[sums[1].beside("unassigned.names", 1)]);
        assert_eq!(
            err.map_err(|err| err.to_string()),
            Err("distinct_names = sum(domains.top[].names) + domains.rest.names + domains.unassigned.names does not hold: 3 != 4".into())
        );
        assert!(Ranked::<ByOrg>::cut(Vec::<(&str, Counts)>::new(), 5, 0).is_empty());
    }
}
