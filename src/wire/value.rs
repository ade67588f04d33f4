//! The Python value model shared by [`repr`](super::repr()) and the literal parser.

use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A Python value of the kinds that appear in the update notification and its reply.
///
/// `Dict` is a list of pairs rather than a map because Python dicts keep insertion order
/// and the order is part of the byte-exact `repr()` Odoo sends. Keys are kept unique with
/// Python semantics when a dict comes from [`parse_literal`](super::parse_literal): a later
/// duplicate key replaces the earlier value in place, and `1`, `1.0` and `True` are the same
/// key. A `Dict` built by hand is trusted as given.
///
/// Values are recursive; nesting is bounded by the parser's limits, not by this type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// Looks up a string key in a dict, the way a reply's `result['messages']` is read.
    /// Returns `None` for a missing key or when `self` is not a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a `str`, or `None` for any other type.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Python's name for the value's type (`type(v).__name__`), for error messages that
    /// read like Python's own.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
        }
    }
}

/// JSON view of a value, for logs and the CLI's `--json` output: lists and tuples become
/// arrays, dicts objects in insertion order. JSON keys must be strings, so a non-string
/// key is written as its Python `repr()` (`{1: 'a'}` becomes `{"1": "a"}`).
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::None => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::Str(s) => serializer.serialize_str(s),
            Value::List(items) | Value::Tuple(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Dict(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    match k {
                        Value::Str(s) => map.serialize_entry(s, v)?,
                        other => map.serialize_entry(&super::repr(other), v)?,
                    }
                }
                map.end()
            }
        }
    }
}

/// A hashable value reduced to what Python's `==` compares, so that keys Python considers
/// equal (`1`, `1.0`, `True`; `0`, `-0.0`, `False`) collide here too.
#[derive(PartialEq, Eq, Hash)]
enum KeyHash {
    None,
    /// Bools, ints and integral floats: Python compares them by numeric value.
    Num(i128),
    /// Non-integral or huge floats (and infinities), compared by bit pattern.
    Float(u64),
    Str(String),
    Tuple(Vec<KeyHash>),
}

/// Why a value cannot be a dict key: Python's `TypeError: unhashable type: 'list'`.
#[derive(Debug, PartialEq)]
pub(crate) struct Unhashable(pub &'static str);

/// The key identity of `v`, `Ok(None)` for a key equal to nothing (NaN: every NaN literal
/// is a distinct object in Python, so it never merges with another key).
fn key_hash(v: &Value) -> Result<Option<KeyHash>, Unhashable> {
    Ok(Some(match v {
        Value::None => KeyHash::None,
        Value::Bool(b) => KeyHash::Num(i128::from(*b)),
        Value::Int(i) => KeyHash::Num(i128::from(*i)),
        Value::Float(f) => return Ok(float_key(*f)),
        Value::Str(s) => KeyHash::Str(s.clone()),
        Value::Tuple(items) => {
            let mut keys = Vec::with_capacity(items.len());
            for item in items {
                match key_hash(item)? {
                    Some(k) => keys.push(k),
                    None => return Ok(None),
                }
            }
            KeyHash::Tuple(keys)
        }
        Value::List(_) | Value::Dict(_) => return Err(Unhashable(v.type_name())),
    }))
}

fn float_key(f: f64) -> Option<KeyHash> {
    /// 2^127: every integral float below this converts to `i128` exactly.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if f.is_nan() {
        None
    } else if f.fract() == 0.0 && f.abs() < LIMIT {
        // Exact: `f` is integral and in range, so the cast neither rounds nor saturates.
        Some(KeyHash::Num(f as i128))
    } else {
        Some(KeyHash::Float(f.to_bits()))
    }
}

/// Builds a [`Value::Dict`] with Python's semantics for repeated keys.
#[derive(Default)]
pub(crate) struct DictBuilder {
    entries: Vec<(Value, Value)>,
    index: HashMap<KeyHash, usize>,
}

impl DictBuilder {
    /// Inserts like `d[key] = value`: a key equal to an earlier one keeps the earlier key
    /// object and position and takes the new value.
    pub(crate) fn insert(&mut self, key: Value, value: Value) -> Result<(), Unhashable> {
        let Some(hash) = key_hash(&key)? else {
            self.entries.push((key, value));
            return Ok(());
        };
        match self.index.get(&hash) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(hash, self.entries.len());
                self.entries.push((key, value));
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Value {
        Value::Dict(self.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.to_owned())
    }

    fn build(pairs: Vec<(Value, Value)>) -> Result<Value, Unhashable> {
        let mut b = DictBuilder::default();
        for (k, v) in pairs {
            b.insert(k, v)?;
        }
        Ok(b.finish())
    }

    #[test]
    fn get_and_as_str() {
        let d = Value::Dict(vec![(s("a"), Value::Int(1)), (Value::Int(2), s("x"))]);
        assert_eq!(d.get("a"), Some(&Value::Int(1)));
        assert_eq!(d.get("2"), None);
        assert_eq!(d.get("missing"), None);
        assert_eq!(Value::List(vec![]).get("a"), None);
        assert_eq!(s("hi").as_str(), Some("hi"));
        assert_eq!(Value::Int(1).as_str(), None);
    }

    #[test]
    fn type_names_are_pythons() {
        let cases = [
            (Value::None, "NoneType"),
            (Value::Bool(true), "bool"),
            (Value::Int(1), "int"),
            (Value::Float(1.0), "float"),
            (s(""), "str"),
            (Value::List(vec![]), "list"),
            (Value::Tuple(vec![]), "tuple"),
            (Value::Dict(vec![]), "dict"),
        ];
        for (v, name) in cases {
            assert_eq!(v.type_name(), name);
        }
    }

    #[test]
    fn duplicate_key_replaces_value_in_place() {
        let d = build(vec![
            (s("a"), Value::Int(1)),
            (s("b"), Value::Int(2)),
            (s("a"), Value::Int(3)),
        ]);
        let expected = Value::Dict(vec![(s("a"), Value::Int(3)), (s("b"), Value::Int(2))]);
        assert_eq!(d, Ok(expected));
    }

    #[test]
    fn numeric_keys_merge_like_python() {
        // {1: 'a', True: 'b', 1.0: 'c', 0: 'd', -0.0: 'e', False: 'f'} == {1: 'c', 0: 'f'}
        let d = build(vec![
            (Value::Int(1), s("a")),
            (Value::Bool(true), s("b")),
            (Value::Float(1.0), s("c")),
            (Value::Int(0), s("d")),
            (Value::Float(-0.0), s("e")),
            (Value::Bool(false), s("f")),
            (Value::Float(1.5), s("g")),
            (Value::Float(f64::INFINITY), s("h")),
            (Value::Float(f64::INFINITY), s("i")),
        ]);
        let expected = Value::Dict(vec![
            (Value::Int(1), s("c")),
            (Value::Int(0), s("f")),
            (Value::Float(1.5), s("g")),
            (Value::Float(f64::INFINITY), s("i")),
        ]);
        assert_eq!(d, Ok(expected));
    }

    #[test]
    fn tuple_keys_compare_elementwise() {
        let d = build(vec![
            (Value::Tuple(vec![Value::Int(1), s("x")]), Value::Int(1)),
            (Value::Tuple(vec![Value::Float(1.0), s("x")]), Value::Int(2)),
        ]);
        let expected = Value::Dict(vec![(
            Value::Tuple(vec![Value::Int(1), s("x")]),
            Value::Int(2),
        )]);
        assert_eq!(d, Ok(expected));
    }

    #[test]
    fn nan_keys_never_merge() {
        let d = build(vec![
            (Value::Float(f64::NAN), Value::Int(1)),
            (Value::Float(f64::NAN), Value::Int(2)),
        ]);
        assert!(matches!(d, Ok(Value::Dict(e)) if e.len() == 2));
    }

    #[test]
    fn huge_integral_floats_do_not_saturate_into_ints() {
        // 2^63 must not collide with i64::MAX (a saturating cast would make them equal).
        let d = build(vec![
            (Value::Int(i64::MAX), Value::Int(1)),
            (Value::Float(9_223_372_036_854_775_808.0), Value::Int(2)),
            (Value::Float(1e300), Value::Int(3)),
        ]);
        assert!(matches!(d, Ok(Value::Dict(e)) if e.len() == 3));
    }

    #[test]
    fn unhashable_keys_are_rejected() {
        assert_eq!(
            build(vec![(Value::List(vec![]), Value::None)]),
            Err(Unhashable("list"))
        );
        let nested = Value::Tuple(vec![Value::Int(1), Value::Dict(vec![])]);
        assert_eq!(build(vec![(nested, Value::None)]), Err(Unhashable("dict")));
    }

    #[test]
    fn serializes_to_json_in_order() {
        let v = Value::Dict(vec![
            (s("z"), Value::None),
            (
                s("a"),
                Value::List(vec![Value::Bool(true), Value::Float(1.5)]),
            ),
            (Value::Int(3), Value::Tuple(vec![Value::Int(-1), s("é")])),
            (Value::Tuple(vec![s("k")]), Value::Dict(vec![])),
        ]);
        let json = serde_json::to_string(&v).expect("serializable");
        assert_eq!(
            json,
            r#"{"z":null,"a":[true,1.5],"3":[-1,"é"],"('k',)":{}}"#
        );
    }
}
