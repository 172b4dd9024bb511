//! The unsigned, volatile block of a registry card (member `volatile`).
//!
//! It carries what changes without an operator touching anything: the latest checkpoint, the
//! peer count, the node's map position. It is neither signed nor part of the ETag, so it can
//! change every second without invalidating the signature or defeating HTTP caching
//! (registry-card v0.4 "operator-edits-only ETag"). Being unsigned, it is a hint: a peer that
//! acts on the checkpoint fetches and verifies the signed checkpoint itself.
//!
//! It still follows the one JSON rule of every Treaty document: no floating point numbers,
//! integers within +-(2^53 - 1). Coordinates therefore travel as decimal strings.

use serde_json::{Map, Value};

use crate::CardError;
use crate::json::Obj;
use crate::limits::COORDINATE_BYTES_MAX;

/// JSON pointer of the block.
const VOLATILE_PATH: &str = "/volatile";

/// The `volatile` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volatile {
    /// The latest checkpoint the node has published (member `checkpoint`, optional).
    pub checkpoint: Option<CheckpointSummary>,
    /// How many peers the node currently federates with (member `peer_count`, required).
    pub peer_count: u64,
    /// Where the node is, for map displays (member `location`, optional).
    pub location: Option<Location>,
}

/// `volatile.checkpoint`: `{"size": int, "root": base64}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSummary {
    /// Tree size (at most 2^53 - 1, the JSON integer limit).
    pub size: u64,
    /// Root hash, standard padded base64 of 32 bytes, as on the checkpoint's root line.
    pub root: String,
}

/// `volatile.location`: decimal degrees as strings, e.g. `{"latitude":"53.3498",
/// "longitude":"-6.2603"}`. Parsing also accepts JSON integers and turns them into strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Degrees north, `-90` to `90`: an optional `-`, 1-3 digits, optionally `.` and 1-10
    /// digits.
    pub latitude: String,
    /// Degrees east, `-180` to `180`, same form.
    pub longitude: String,
}

impl Volatile {
    /// Checks the values' forms and ranges.
    ///
    /// # Errors
    /// [`CardError::InvalidField`] naming the member.
    pub fn validate(&self) -> Result<(), CardError> {
        if let Some(cp) = &self.checkpoint {
            if !is_root(&cp.root) {
                return Err(invalid(
                    "/volatile/checkpoint/root",
                    "not standard base64 of a 32-byte hash",
                ));
            }
        }
        if let Some(loc) = &self.location {
            if !is_coordinate(&loc.latitude, 90) {
                return Err(invalid(
                    "/volatile/location/latitude",
                    "not a decimal between -90 and 90",
                ));
            }
            if !is_coordinate(&loc.longitude, 180) {
                return Err(invalid(
                    "/volatile/location/longitude",
                    "not a decimal between -180 and 180",
                ));
            }
        }
        Ok(())
    }

    /// The JSON form. Optional members are omitted when absent.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(cp) = &self.checkpoint {
            let mut c = Map::new();
            c.insert("size".into(), cp.size.into());
            c.insert("root".into(), cp.root.as_str().into());
            m.insert("checkpoint".into(), Value::Object(c));
        }
        m.insert("peer_count".into(), self.peer_count.into());
        if let Some(loc) = &self.location {
            let mut l = Map::new();
            l.insert("latitude".into(), loc.latitude.as_str().into());
            l.insert("longitude".into(), loc.longitude.as_str().into());
            m.insert("location".into(), Value::Object(l));
        }
        Value::Object(m)
    }

    /// Parses and validates a `volatile` object.
    ///
    /// # Errors
    /// The structural errors and those of [`Volatile::validate`].
    pub fn from_value(value: &Value) -> Result<Self, CardError> {
        let o = Obj::new(value, VOLATILE_PATH)?;
        o.only(&["checkpoint", "peer_count", "location"])?;
        let checkpoint = match o.opt_obj("checkpoint")? {
            None => None,
            Some(c) => {
                c.only(&["size", "root"])?;
                Some(CheckpointSummary {
                    size: c.u64("size")?,
                    root: c.str("root")?.to_owned(),
                })
            }
        };
        let location = match o.opt_obj("location")? {
            None => None,
            Some(l) => {
                l.only(&["latitude", "longitude"])?;
                Some(Location {
                    latitude: coordinate_text(&l, "latitude")?,
                    longitude: coordinate_text(&l, "longitude")?,
                })
            }
        };
        let volatile = Volatile {
            checkpoint,
            peer_count: o.u64("peer_count")?,
            location,
        };
        volatile.validate()?;
        Ok(volatile)
    }
}

/// A coordinate member as text: a string as is, an integer in decimal.
fn coordinate_text(o: &Obj<'_>, key: &str) -> Result<String, CardError> {
    match o.req(key)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        _ => Err(crate::json::wrong_type(
            &o.at(key),
            "a decimal string or an integer",
        )),
    }
}

/// An [`CardError::InvalidField`].
fn invalid(path: &str, reason: &'static str) -> CardError {
    CardError::InvalidField {
        path: path.to_owned(),
        reason,
    }
}

/// Whether `text` is standard padded base64 of exactly 32 bytes.
fn is_root(text: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .is_ok_and(|b| b.len() == 32)
}

/// Whether `text` is `-?D{1,3}(.D{1,10})?` with magnitude at most `max` degrees.
fn is_coordinate(text: &str, max: u32) -> bool {
    if text.len() > COORDINATE_BYTES_MAX {
        return false;
    }
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str, max_len: usize| {
        !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(whole, 3) || fraction.is_some_and(|f| !digits(f, 10)) {
        return false;
    }
    // Compared in integers, not floats: whole degrees below the limit, or exactly the limit
    // with an all-zero fraction.
    let Ok(degrees) = whole.parse::<u32>() else {
        return false;
    };
    degrees < max || (degrees == max && fraction.is_none_or(|f| f.bytes().all(|b| b == b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coordinates() {
        for ok in ["53.3498", "-6.2603", "0", "90", "-90.000", "89.9999999999"] {
            assert!(is_coordinate(ok, 90), "{ok}");
        }
        assert!(is_coordinate("-179.5", 180));
        for bad in [
            "", "-", "1.", ".5", "+1", "1e3", "90.0001", "1234", "12,5", "NaN",
        ] {
            assert!(!is_coordinate(bad, 90), "{bad}");
        }
        assert!(!is_coordinate("180.5", 180));
    }

    #[test]
    fn integer_coordinates_become_strings() {
        let v = Volatile::from_value(&json!({
            "peer_count": 3,
            "location": {"latitude": 53, "longitude": "-6.2603"}
        }))
        .expect("valid");
        let loc = v.location.clone().expect("location");
        assert_eq!(loc.latitude, "53");
        assert_eq!(
            v.to_value(),
            json!({"peer_count":3,"location":{"latitude":"53","longitude":"-6.2603"}})
        );
    }

    #[test]
    fn refuses_bad_blocks() {
        for bad in [
            json!({}),
            json!({"peer_count": -1}),
            json!({"peer_count": 1, "extra": 1}),
            json!({"peer_count": 1, "checkpoint": {"size": 1, "root": "AAAA"}}),
            json!({"peer_count": 1, "location": {"latitude": "91", "longitude": "0"}}),
            json!({"peer_count": 1, "location": {"latitude": true, "longitude": "0"}}),
        ] {
            assert!(Volatile::from_value(&bad).is_err(), "{bad}");
        }
    }
}
