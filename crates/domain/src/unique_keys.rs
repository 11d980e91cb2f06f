//! JSON read strictly: an object that names a key twice is refused, at any depth. serde_json
//! keeps the last of two equal keys, so `{"providerName": "A", …, "providerName": "B"}` would
//! be read as B — and a check or a log that looked at the text would have seen A. Request
//! bodies and capture bundles are read through [`UniqueKeys`]; a dataset's rows go to typed
//! records, which refuse a duplicate field themselves.

use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{self, MapAccess, SeqAccess, Visitor},
};
use serde_json::{Map, Number, Value};

/// A JSON value whose every object names each of its keys once. A duplicate is the error
/// ``duplicate field `key` `` (serde's own words for a typed record).
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueKeys(pub Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor).map(Self)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity: a finite float always makes a number.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        UniqueKeys::deserialize(deserializer).map(|value| value.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(UniqueKeys(value)) = seq.next_element()? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Value, String> {
        serde_json::from_str::<UniqueKeys>(text)
            .map(|value| value.0)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let text =
            r#"{"a": [1, -2, 1.0, 1e400, "x", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        // `1e400` is out of range for both readers alike.
        assert_eq!(
            read(text).unwrap_err(),
            serde_json::from_str::<Value>(text).unwrap_err().to_string()
        );
        let text = r#"{"a": [1, -2, 1.0, 0.1, "x\u0000", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        assert_eq!(
            read(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        // A float stays a float (`1.0` is not the integer 1).
        assert!(read("1.0").unwrap().is_f64());
    }

    #[test]
    fn a_key_named_twice_is_refused_at_any_depth() {
        for text in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"x": {"a": 1, "b": 2, "a": 1}}"#,
            r#"[{"ok": 1}, {"a": [], "a": []}]"#,
        ] {
            let error = read(text).unwrap_err();
            assert!(error.starts_with("duplicate field `a`"), "{text}: {error}");
        }
        // The same key in two objects is no duplicate.
        assert!(read(r#"[{"a": 1}, {"a": 2}, {"x": {"a": 3}}]"#).is_ok());
    }
}
