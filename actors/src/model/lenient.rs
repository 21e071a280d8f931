//! Lenient field decoders for upstream JSON.
//!
//! zKillboard and ESI are not under our control. A field with the wrong type (a string where a
//! number belongs, an object where a list belongs) must make *that field* unknown, never fail the
//! whole killmail. Each function here is a `deserialize_with` target for an `Option` field used with
//! `#[serde(default)]`: a missing key and `null` both give `None`, a value of the wrong shape is
//! skipped and gives `None`, and numbers sent as strings are accepted.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, Deserialize, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

/// Largest integer an `f64` holds exactly; integral floats above it are not trusted as ids.
const MAX_EXACT_F64_INT: f64 = 9_007_199_254_740_992.0;

/// A non-negative integer (ids, counts, damage). Accepts `12`, `12.0` and `"12"`.
pub fn u64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(U64Visitor)
}

/// An id newtype built from a non-negative integer; zero is not an id and becomes `None`.
pub fn id_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    Ok(u64_opt(d)?.and_then(|v| T::try_from(v).ok()))
}

/// A finite floating point number (ISK values, security status, coordinates).
pub fn f64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(F64Visitor)
}

/// A boolean. Accepts `true`/`false`, `0`/`1` and the strings `"true"`/`"false"`.
pub fn bool_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(BoolVisitor)
}

/// A boolean that defaults to `false` when missing or unreadable (zkb `npc`, `solo`, `awox`).
pub fn bool_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(bool_opt(d)?.unwrap_or(false))
}

/// A string. Anything that is not a string becomes `None`.
pub fn string_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(StringVisitor)
}

/// A nested object. Anything that is not an object becomes `None`.
pub fn object_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    d.deserialize_any(ObjectVisitor(PhantomData))
}

/// A list of objects. Not a list → `None`; elements that are not objects are dropped.
pub fn list_opt<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    d.deserialize_any(ListVisitor(PhantomData))
}

/// A list of strings (zkb labels). Not a list → `None`; non-string elements are dropped.
pub fn strings_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    d.deserialize_any(StringsVisitor)
}

/// Implements the "wrong shape" arms shared by every visitor: skip the value, answer `None`.
macro_rules! skip_other_shapes {
    ($($skip:ident),*) => {
        $(skip_other_shapes!(@one $skip);)*
    };
    (@one bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Ok(None) }
    };
    (@one numbers) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Ok(None) }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Ok(None) }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Ok(None) }
    };
    (@one str) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Ok(None) }
    };
    (@one seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    };
    (@one map) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    };
    (@one null) => {
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> { Ok(None) }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Ok(None) }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    };
}

struct U64Visitor;

impl<'de> Visitor<'de> for U64Visitor {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-negative integer")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).ok())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let integral = v.is_finite() && v.fract() == 0.0 && (0.0..=MAX_EXACT_F64_INT).contains(&v);
        // The range check above proves the cast is exact.
        Ok(integral.then_some(v as u64))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.trim().parse::<u64>().ok())
    }
    skip_other_shapes!(bool, seq, map, null);
}

struct F64Visitor;

impl<'de> Visitor<'de> for F64Visitor {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(v.is_finite().then_some(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
    }
    skip_other_shapes!(bool, seq, map, null);
}

struct BoolVisitor;

impl<'de> Visitor<'de> for BoolVisitor {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match v {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        })
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        u64::try_from(v).map_or(Ok(None), |v| self.visit_u64(v))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match v.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })
    }
    skip_other_shapes!(seq, map, null);
}

struct StringVisitor;

impl<'de> Visitor<'de> for StringVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    skip_other_shapes!(bool, numbers, seq, map, null);
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for ObjectVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
    skip_other_shapes!(bool, numbers, str, seq, null);
}

/// One list element: an object, or `None` for anything else (which is then dropped).
struct Element<T>(Option<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Element<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        object_opt(d).map(Element)
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for ListVisitor<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Cap the pre-allocation: the size hint comes from untrusted input.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(Element(item)) = seq.next_element::<Element<T>>()? {
            out.extend(item);
        }
        Ok(Some(out))
    }
    skip_other_shapes!(bool, numbers, str, map, null);
}

struct StringsVisitor;

impl<'de> Visitor<'de> for StringsVisitor {
    type Value = Option<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(StringSeed)? {
            out.extend(item);
        }
        Ok(Some(out))
    }
    skip_other_shapes!(bool, numbers, str, map, null);
}

struct StringSeed;

impl<'de> de::DeserializeSeed<'de> for StringSeed {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        string_opt(d)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq, Default)]
    struct Inner {
        #[serde(default, deserialize_with = "super::u64_opt")]
        n: Option<u64>,
    }

    #[derive(Deserialize, Debug, Default)]
    struct Probe {
        #[serde(default, deserialize_with = "super::u64_opt")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "super::f64_opt")]
        f: Option<f64>,
        #[serde(default, deserialize_with = "super::bool_opt")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "super::string_opt")]
        s: Option<String>,
        #[serde(default, deserialize_with = "super::object_opt")]
        o: Option<Inner>,
        #[serde(default, deserialize_with = "super::list_opt")]
        l: Option<Vec<Inner>>,
        #[serde(default, deserialize_with = "super::strings_opt")]
        ls: Option<Vec<String>>,
    }

    fn probe(json: &str) -> Probe {
        serde_json::from_str(json).expect("lenient fields never fail on valid JSON")
    }

    #[test]
    fn numbers_sent_as_strings_are_read() {
        let p = probe(r#"{"n":"42","f":"1.5","b":"true"}"#);
        assert_eq!((p.n, p.f, p.b), (Some(42), Some(1.5), Some(true)));
    }

    #[test]
    fn integral_floats_are_integers_but_fractions_are_not() {
        assert_eq!(probe(r#"{"n":42.0}"#).n, Some(42));
        assert_eq!(probe(r#"{"n":42.5}"#).n, None);
        assert_eq!(probe(r#"{"n":-1}"#).n, None);
    }

    #[test]
    fn wrong_shapes_become_unknown_without_failing_the_rest() {
        let p =
            probe(r#"{"n":{"x":[1,2]},"f":[1],"b":"maybe","s":7,"o":"x","l":{"n":1},"ls":"a"}"#);
        assert_eq!((p.n, p.f, p.b, p.s), (None, None, None, None));
        assert!(p.o.is_none() && p.l.is_none() && p.ls.is_none());
    }

    #[test]
    fn nulls_and_missing_keys_are_unknown() {
        let p = probe(r#"{"n":null,"o":null,"l":null}"#);
        assert_eq!((p.n, p.o, p.l), (None, None, None));
    }

    #[test]
    fn list_elements_that_are_not_objects_are_dropped() {
        let p = probe(r#"{"l":[{"n":1},"junk",null,5,{"n":"2"}],"ls":["a",1,"b"]}"#);
        assert_eq!(p.l, Some(vec![Inner { n: Some(1) }, Inner { n: Some(2) }]));
        assert_eq!(p.ls, Some(vec!["a".to_owned(), "b".to_owned()]));
    }

    #[test]
    fn non_finite_strings_are_not_numbers() {
        assert_eq!(probe(r#"{"f":"NaN"}"#).f, None);
        assert_eq!(probe(r#"{"f":"inf"}"#).f, None);
    }
}
