//! The subset of RFC 8941 (Structured Field Values for HTTP) that signed requests need.
//!
//! `Signature-Input`, `Signature` (RFC 9421 sections 4.1 and 4.2) and `Content-Digest`
//! (RFC 9530 section 2) are Dictionaries; a signature's covered components are an Inner List
//! of Strings with parameters (RFC 9421 section 2.3). This module parses Dictionaries
//! (RFC 8941 section 4.2.2) whose members are Items or Inner Lists with parameters, and bare
//! items of every RFC 8941 type: Integer, Decimal, String, Token, Byte Sequence and Boolean.
//! It serializes them back in the canonical form of RFC 8941 section 4.1, which is what
//! RFC 9421 section 2.3 signs.
//!
//! Deliberate differences from a general parser:
//!
//! - A repeated Dictionary key or parameter key is an error. RFC 8941 lets the last one win,
//!   but in a signed field that would let two parsers disagree on what was signed, and
//!   RFC 9421 section 4 requires signature labels to be unique anyway.
//! - Every size and count is bounded by a named limit in [`crate::limits`].
//! - Lists (RFC 8941 section 3.1) and the types added by RFC 9651 (Date, Display String)
//!   are not parsed: no field this crate reads uses them.
//!
//! Every value type is validated on construction, so serialization cannot fail and never
//! produces text that the parser would refuse.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use crate::limits::{
    BYTE_SEQUENCE_BYTES_MAX, DICTIONARY_MEMBERS_MAX, FIELD_BYTES_MAX, INNER_LIST_ITEMS_MAX,
    KEY_BYTES_MAX, PARAMETERS_MAX, STRING_BYTES_MAX,
};

/// Largest magnitude of an Integer (RFC 8941 section 3.3.1: at most 15 decimal digits).
pub const INTEGER_MAX: i64 = 999_999_999_999_999;
/// Largest magnitude of a Decimal, in thousandths (12 integer digits, 3 fraction digits).
const DECIMAL_THOUSANDTHS_MAX: i64 = 999_999_999_999_999;

/// Byte Sequences are standard base64 (RFC 8941 section 3.3.5). Parsers "SHOULD NOT fail
/// when = padding is not present" (section 4.2.7), so padding is optional on input; trailing
/// bits must still be zero, so one byte string has one accepted encoding without padding and
/// one with it.
const BYTE_SEQUENCE_DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a structured field value was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {reason}")]
pub struct SfError {
    /// Byte offset in the field value where parsing stopped (for values built in code, 0).
    pub offset: usize,
    /// Which rule the input breaks.
    pub reason: &'static str,
}

fn construct_error(reason: &'static str) -> SfError {
    SfError { offset: 0, reason }
}

/// A Dictionary or parameter key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "."
/// / "*" )` (RFC 8941 section 3.1.2), at most [`KEY_BYTES_MAX`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    /// Checks `key` against the key grammar.
    ///
    /// # Errors
    /// [`SfError`] when it is empty, too long or has a character keys may not have.
    pub fn new(key: &str) -> Result<Self, SfError> {
        if key.len() > KEY_BYTES_MAX {
            return Err(construct_error("key is longer than KEY_BYTES_MAX"));
        }
        let mut bytes = key.bytes();
        match bytes.next() {
            Some(b) if is_key_start(b) => {}
            _ => return Err(construct_error("key must start with a-z or *")),
        }
        if !bytes.all(is_key_char) {
            return Err(construct_error(
                "key has a character outside a-z 0-9 _ - . *",
            ));
        }
        Ok(Self(key.to_owned()))
    }

    /// A key from a constant of this crate. Every such constant is checked against
    /// [`Key::new`] by a unit test, so no check is repeated at run time.
    pub(crate) fn from_static(key: &'static str) -> Self {
        Self(key.to_owned())
    }

    /// The key text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Integer within +-[`INTEGER_MAX`] (RFC 8941 section 3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Integer(i64);

impl Integer {
    /// Checks the range.
    ///
    /// # Errors
    /// [`SfError`] when `value` has more than 15 digits.
    pub fn new(value: i64) -> Result<Self, SfError> {
        if value.unsigned_abs() > INTEGER_MAX.unsigned_abs() {
            return Err(construct_error("integer has more than 15 digits"));
        }
        Ok(Self(value))
    }

    /// The value.
    #[must_use]
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A Decimal (RFC 8941 section 3.3.2), kept exactly as a count of thousandths: the format
/// allows at most three fraction digits, so no floating point is involved anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(i64);

impl Decimal {
    /// A decimal of `thousandths` / 1000.
    ///
    /// # Errors
    /// [`SfError`] when the integer part has more than 12 digits.
    pub fn from_thousandths(thousandths: i64) -> Result<Self, SfError> {
        if thousandths.unsigned_abs() > DECIMAL_THOUSANDTHS_MAX.unsigned_abs() {
            return Err(construct_error("decimal has more than 12 integer digits"));
        }
        Ok(Self(thousandths))
    }

    /// The value in thousandths.
    #[must_use]
    pub fn thousandths(self) -> i64 {
        self.0
    }
}

/// A String (RFC 8941 section 3.3.3): printable ASCII (0x20 to 0x7E) only, at most
/// [`STRING_BYTES_MAX`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SfString(String);

impl SfString {
    /// Checks that `value` can be a String.
    ///
    /// # Errors
    /// [`SfError`] when it is too long or has a character outside 0x20 to 0x7E.
    pub fn new(value: &str) -> Result<Self, SfError> {
        if value.len() > STRING_BYTES_MAX {
            return Err(construct_error("string is longer than STRING_BYTES_MAX"));
        }
        if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(construct_error(
                "string has a character outside printable ASCII",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// A String from a component name or a constant of this crate. Derived component names
    /// and the crate's constants are checked against [`SfString::new`] by unit tests, and
    /// field names are tokens (a subset of printable ASCII without `"` or `\`), so no
    /// check is repeated at run time.
    pub(crate) fn from_trusted(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The string's value (without quotes or escapes).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Token (RFC 8941 section 3.3.4): `( ALPHA / "*" ) *( tchar / ":" / "/" )`, at most
/// [`STRING_BYTES_MAX`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(String);

impl Token {
    /// Checks the token grammar.
    ///
    /// # Errors
    /// [`SfError`] when `value` is empty, too long or has a character tokens may not have.
    pub fn new(value: &str) -> Result<Self, SfError> {
        if value.len() > STRING_BYTES_MAX {
            return Err(construct_error("token is longer than STRING_BYTES_MAX"));
        }
        let mut bytes = value.bytes();
        match bytes.next() {
            Some(b) if b.is_ascii_alphabetic() || b == b'*' => {}
            _ => return Err(construct_error("token must start with a letter or *")),
        }
        if !bytes.all(is_token_char) {
            return Err(construct_error("token has a character outside tchar : /"));
        }
        Ok(Self(value.to_owned()))
    }

    /// The token text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bare item (RFC 8941 section 3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BareItem {
    /// An Integer.
    Integer(Integer),
    /// A Decimal.
    Decimal(Decimal),
    /// A String.
    String(SfString),
    /// A Token.
    Token(Token),
    /// A Byte Sequence, decoded.
    ByteSequence(Vec<u8>),
    /// A Boolean.
    Boolean(bool),
}

/// Ordered parameters (RFC 8941 section 3.1.2). Order is kept because it is part of what
/// RFC 9421 signs; keys are unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Parameters(Vec<(Key, BareItem)>);

impl Parameters {
    /// No parameters.
    #[must_use]
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends a parameter.
    ///
    /// # Errors
    /// [`SfError`] when `key` is already present or there are [`PARAMETERS_MAX`] already.
    pub fn push(&mut self, key: Key, value: BareItem) -> Result<(), SfError> {
        if self.get(key.as_str()).is_some() {
            return Err(construct_error("parameter key repeated"));
        }
        if self.0.len() >= PARAMETERS_MAX {
            return Err(construct_error("more than PARAMETERS_MAX parameters"));
        }
        self.0.push((key, value));
        Ok(())
    }

    /// The value of parameter `key`, if present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&BareItem> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// The parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &BareItem)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// How many parameters there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An Item: a bare item with parameters (RFC 8941 section 3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Item {
    /// The value.
    pub bare: BareItem,
    /// Its parameters.
    pub params: Parameters,
}

/// An Inner List: items in parentheses, with parameters of its own (RFC 8941 section 3.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct InnerList {
    /// The items, in order. At most [`INNER_LIST_ITEMS_MAX`] when parsed.
    pub items: Vec<Item>,
    /// The list's parameters.
    pub params: Parameters,
}

/// The value of a Dictionary member (RFC 8941 section 3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemberValue {
    /// An Item (a member written without `=` is the Boolean true, with its parameters).
    Item(Item),
    /// An Inner List.
    InnerList(InnerList),
}

/// A Dictionary (RFC 8941 section 3.2): ordered members with unique keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Dictionary(Vec<(Key, MemberValue)>);

impl Dictionary {
    /// The value of member `key`, if present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&MemberValue> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &MemberValue)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// How many members there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// ---------------------------------------------------------------------------------------
// Serialization (RFC 8941 section 4.1).

impl fmt::Display for BareItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(i) => write!(f, "{}", i.0),
            Self::Decimal(d) => {
                // Section 4.1.5: integer part, ".", then the fraction without trailing
                // zeros but with at least one digit.
                let sign = if d.0 < 0 { "-" } else { "" };
                let abs = d.0.unsigned_abs();
                let mut fraction = format!("{:03}", abs % 1000);
                while fraction.len() > 1 && fraction.ends_with('0') {
                    fraction.pop();
                }
                write!(f, "{sign}{}.{fraction}", abs / 1000)
            }
            Self::String(s) => {
                // Section 4.1.6: only `"` and `\` are escaped; the type admits nothing else
                // that would need it.
                f.write_str("\"")?;
                for c in s.0.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
            Self::Token(t) => f.write_str(&t.0),
            Self::ByteSequence(b) => write!(f, ":{}:", STANDARD.encode(b)),
            Self::Boolean(b) => f.write_str(if *b { "?1" } else { "?0" }),
        }
    }
}

impl fmt::Display for Parameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.0 {
            // Section 4.1.1.2: a Boolean true parameter is written as its key alone.
            if *value == BareItem::Boolean(true) {
                write!(f, ";{key}")?;
            } else {
                write!(f, ";{key}={value}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.bare, self.params)
    }
}

impl fmt::Display for InnerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{item}")?;
        }
        write!(f, "){}", self.params)
    }
}

impl fmt::Display for MemberValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Item(item) => write!(f, "{item}"),
            Self::InnerList(list) => write!(f, "{list}"),
        }
    }
}

/// Serializes one Dictionary member, `key=value` (RFC 8941 section 4.1.2). Fields that
/// carry one signature are a Dictionary of one member, so this is how they are written.
#[must_use]
pub fn serialize_member(key: &Key, value: &MemberValue) -> String {
    match value {
        // A Boolean true member is written as its key and parameters alone.
        MemberValue::Item(Item {
            bare: BareItem::Boolean(true),
            params,
        }) => format!("{key}{params}"),
        _ => format!("{key}={value}"),
    }
}

impl fmt::Display for Dictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&serialize_member(key, value))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Parsing (RFC 8941 section 4.2).

fn is_key_start(b: u8) -> bool {
    b.is_ascii_lowercase() || b == b'*'
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')
}

/// `tchar` (RFC 9110 section 5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn is_token_char(b: u8) -> bool {
    is_tchar(b) || b == b':' || b == b'/'
}

/// Parses a field value as a Dictionary (RFC 8941 section 4.2, with section 4.2.2).
///
/// Several field lines of one name are combined by joining them with `", "` before calling
/// this (RFC 8941 section 4.2, RFC 9110 section 5.3).
///
/// # Errors
/// [`SfError`] with the byte offset and the broken rule; never panics, whatever the input.
pub fn parse_dictionary(input: &str) -> Result<Dictionary, SfError> {
    if input.len() > FIELD_BYTES_MAX {
        return Err(SfError {
            offset: FIELD_BYTES_MAX,
            reason: "field is longer than FIELD_BYTES_MAX",
        });
    }
    let mut p = Parser {
        input: input.as_bytes(),
        pos: 0,
    };
    p.skip_sp();
    let dict = p.dictionary()?;
    p.skip_sp();
    if p.pos != p.input.len() {
        return Err(p.error("unexpected characters after the dictionary"));
    }
    Ok(dict)
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn error(&self, reason: &'static str) -> SfError {
        SfError {
            offset: self.pos,
            reason,
        }
    }

    fn consume(&mut self, byte: u8, reason: &'static str) -> Result<(), SfError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// OWS: spaces and horizontal tabs, allowed around the commas of a Dictionary.
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Section 4.2.2.
    fn dictionary(&mut self) -> Result<Dictionary, SfError> {
        let mut members: Vec<(Key, MemberValue)> = Vec::new();
        while self.peek().is_some() {
            let start = self.pos;
            let key = self.key()?;
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.item_or_inner_list()?
            } else {
                MemberValue::Item(Item {
                    bare: BareItem::Boolean(true),
                    params: self.parameters()?,
                })
            };
            if members.iter().any(|(k, _)| *k == key) {
                return Err(SfError {
                    offset: start,
                    reason: "dictionary key repeated",
                });
            }
            if members.len() >= DICTIONARY_MEMBERS_MAX {
                return Err(SfError {
                    offset: start,
                    reason: "more than DICTIONARY_MEMBERS_MAX members",
                });
            }
            members.push((key, value));
            self.skip_ows();
            if self.peek().is_none() {
                break;
            }
            self.consume(b',', "expected ',' between dictionary members")?;
            self.skip_ows();
            if self.peek().is_none() {
                return Err(self.error("trailing ',' in dictionary"));
            }
        }
        Ok(Dictionary(members))
    }

    /// Section 4.2.1.1.
    fn item_or_inner_list(&mut self) -> Result<MemberValue, SfError> {
        if self.peek() == Some(b'(') {
            Ok(MemberValue::InnerList(self.inner_list()?))
        } else {
            Ok(MemberValue::Item(self.item()?))
        }
    }

    /// Section 4.2.1.2.
    fn inner_list(&mut self) -> Result<InnerList, SfError> {
        self.consume(b'(', "expected '('")?;
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.peek() == Some(b')') {
                self.pos += 1;
                let params = self.parameters()?;
                return Ok(InnerList { items, params });
            }
            if items.len() >= INNER_LIST_ITEMS_MAX {
                return Err(self.error("more than INNER_LIST_ITEMS_MAX items in an inner list"));
            }
            items.push(self.item()?);
            match self.peek() {
                Some(b' ' | b')') => {}
                Some(_) => return Err(self.error("expected ' ' or ')' after an inner-list item")),
                None => return Err(self.error("inner list is not closed")),
            }
        }
    }

    /// Section 4.2.3.
    fn item(&mut self) -> Result<Item, SfError> {
        let bare = self.bare_item()?;
        let params = self.parameters()?;
        Ok(Item { bare, params })
    }

    /// Section 4.2.3.1.
    fn bare_item(&mut self) -> Result<BareItem, SfError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => Ok(BareItem::String(self.string()?)),
            Some(b':') => Ok(BareItem::ByteSequence(self.byte_sequence()?)),
            Some(b'?') => Ok(BareItem::Boolean(self.boolean()?)),
            Some(b) if b.is_ascii_alphabetic() || b == b'*' => Ok(BareItem::Token(self.token()?)),
            Some(_) => Err(self.error("not the start of an item")),
            None => Err(self.error("expected an item, found the end of the field")),
        }
    }

    /// Section 4.2.3.2.
    fn parameters(&mut self) -> Result<Parameters, SfError> {
        let mut params = Parameters::new();
        while self.peek() == Some(b';') {
            self.pos += 1;
            self.skip_sp();
            let start = self.pos;
            let key = self.key()?;
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            params.push(key, value).map_err(|e| SfError {
                offset: start,
                reason: e.reason,
            })?;
        }
        Ok(params)
    }

    /// Section 4.2.3.3.
    fn key(&mut self) -> Result<Key, SfError> {
        let start = self.pos;
        match self.peek() {
            Some(b) if is_key_start(b) => self.pos += 1,
            _ => return Err(self.error("expected a key (a-z or *)")),
        }
        while self.peek().is_some_and(is_key_char) {
            self.pos += 1;
            if self.pos - start > KEY_BYTES_MAX {
                return Err(self.error("key is longer than KEY_BYTES_MAX"));
            }
        }
        Ok(Key(self.text(start)))
    }

    /// Section 4.2.4.
    fn number(&mut self) -> Result<BareItem, SfError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(self.error("expected a digit"));
        }
        let mut integer: i64 = 0;
        let mut integer_digits = 0usize;
        let mut fraction: Option<(i64, usize)> = None;
        while let Some(b) = self.peek() {
            match (b, &mut fraction) {
                (b'0'..=b'9', None) => {
                    integer_digits += 1;
                    if integer_digits > 15 {
                        return Err(self.error("integer has more than 15 digits"));
                    }
                    integer = integer * 10 + i64::from(b - b'0');
                }
                (b'.', None) => {
                    if integer_digits > 12 {
                        return Err(self.error("decimal has more than 12 integer digits"));
                    }
                    fraction = Some((0, 0));
                }
                (b'0'..=b'9', Some((value, digits))) => {
                    *digits += 1;
                    if *digits > 3 {
                        return Err(self.error("decimal has more than 3 fraction digits"));
                    }
                    *value = *value * 10 + i64::from(b - b'0');
                }
                _ => break,
            }
            self.pos += 1;
        }
        let sign = if negative { -1 } else { 1 };
        match fraction {
            None => Ok(BareItem::Integer(Integer(sign * integer))),
            Some((_, 0)) => Err(self.error("decimal ends with '.'")),
            Some((value, digits)) => {
                // Scale the fraction to thousandths: ".5" is 500, ".25" is 250.
                let scale = match digits {
                    1 => 100,
                    2 => 10,
                    _ => 1,
                };
                let thousandths = integer * 1000 + value * scale;
                Decimal::from_thousandths(sign * thousandths)
                    .map(BareItem::Decimal)
                    .map_err(|e| SfError {
                        offset: start,
                        reason: e.reason,
                    })
            }
        }
    }

    /// Section 4.2.5.
    fn string(&mut self) -> Result<SfString, SfError> {
        self.consume(b'"', "expected '\"'")?;
        let mut out = String::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("string is not closed"));
            };
            self.pos += 1;
            match b {
                b'\\' => match self.peek() {
                    Some(c @ (b'"' | b'\\')) => {
                        self.pos += 1;
                        out.push(char::from(c));
                    }
                    _ => return Err(self.error("only '\"' and '\\' may be escaped in a string")),
                },
                b'"' => return Ok(SfString(out)),
                0x20..=0x7e => out.push(char::from(b)),
                _ => {
                    self.pos -= 1;
                    return Err(self.error("string has a character outside printable ASCII"));
                }
            }
            if out.len() > STRING_BYTES_MAX {
                return Err(self.error("string is longer than STRING_BYTES_MAX"));
            }
        }
    }

    /// Section 4.2.6.
    fn token(&mut self) -> Result<Token, SfError> {
        let start = self.pos;
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'*' => self.pos += 1,
            _ => return Err(self.error("expected a token")),
        }
        while self.peek().is_some_and(is_token_char) {
            self.pos += 1;
            if self.pos - start > STRING_BYTES_MAX {
                return Err(self.error("token is longer than STRING_BYTES_MAX"));
            }
        }
        Ok(Token(self.text(start)))
    }

    /// Section 4.2.7.
    fn byte_sequence(&mut self) -> Result<Vec<u8>, SfError> {
        self.consume(b':', "expected ':'")?;
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b == b':' {
                break;
            }
            if !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
                return Err(self.error("byte sequence has a character outside base64"));
            }
            self.pos += 1;
        }
        let encoded = self.input.get(start..self.pos).unwrap_or_default();
        // Four base64 characters carry three bytes: refuse before decoding anything large,
        // then check the exact length once decoded.
        let too_long = SfError {
            offset: start,
            reason: "byte sequence is longer than BYTE_SEQUENCE_BYTES_MAX",
        };
        if encoded.len() > BYTE_SEQUENCE_BYTES_MAX.div_ceil(3) * 4 {
            return Err(too_long);
        }
        self.consume(b':', "byte sequence is not closed")?;
        let decoded = BYTE_SEQUENCE_DECODER.decode(encoded).map_err(|_| SfError {
            offset: start,
            reason: "byte sequence is not valid base64",
        })?;
        if decoded.len() > BYTE_SEQUENCE_BYTES_MAX {
            return Err(too_long);
        }
        Ok(decoded)
    }

    /// Section 4.2.8.
    fn boolean(&mut self) -> Result<bool, SfError> {
        self.consume(b'?', "expected '?'")?;
        let value = match self.peek() {
            Some(b'1') => true,
            Some(b'0') => false,
            _ => return Err(self.error("boolean must be ?0 or ?1")),
        };
        self.pos += 1;
        Ok(value)
    }

    /// The input from `start` to the current position. Callers only advance over ASCII
    /// bytes, so the slice is valid UTF-8; the lossy conversion never substitutes anything.
    fn text(&self, start: usize) -> String {
        String::from_utf8_lossy(self.input.get(start..self.pos).unwrap_or_default()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(input: &str) -> String {
        parse_dictionary(input)
            .unwrap_or_else(|e| panic!("{input:?}: {e}"))
            .to_string()
    }

    #[test]
    fn parses_and_serializes_signature_input() {
        let input = r#"sig1=("@method" "@target-uri" "@authority" "content-digest");created=1618884475;keyid="test-key-rsa-pss""#;
        assert_eq!(roundtrip(input), input);
        let dict = parse_dictionary(input).expect("valid test input");
        let Some(MemberValue::InnerList(list)) = dict.get("sig1") else {
            panic!("not an inner list")
        };
        assert_eq!(list.items.len(), 4);
        assert_eq!(
            list.params.get("created"),
            Some(&BareItem::Integer(Integer(1_618_884_475)))
        );
    }

    #[test]
    fn canonicalizes_white_space() {
        assert_eq!(
            roundtrip("  a=1 ,\tb=( \"x\"  \"y\" );p ,c"),
            "a=1, b=(\"x\" \"y\");p, c"
        );
    }

    #[test]
    fn every_bare_item_type() {
        let input =
            r#"i=-42, d=3.140, s="a \"q\" \\ b", t=foo/bar:baz, b=:aGVsbG8=:, y=?1, n=?0, k;x=*a"#;
        let dict = parse_dictionary(input).expect("valid test input");
        assert_eq!(
            dict.get("d"),
            Some(&MemberValue::Item(Item {
                bare: BareItem::Decimal(Decimal(3140)),
                params: Parameters::new()
            }))
        );
        assert_eq!(
            dict.to_string(),
            r#"i=-42, d=3.14, s="a \"q\" \\ b", t=foo/bar:baz, b=:aGVsbG8=:, y, n=?0, k;x=*a"#
        );
    }

    #[test]
    fn byte_sequence_padding_is_optional_but_bits_are_strict() {
        let dict = parse_dictionary("a=:aGVsbG8:").expect("valid test input");
        assert_eq!(
            dict.get("a"),
            Some(&MemberValue::Item(Item {
                bare: BareItem::ByteSequence(b"hello".to_vec()),
                params: Parameters::new()
            }))
        );
        // "aGVsbG9=" would decode to "hello" only by ignoring non-zero trailing bits.
        assert!(parse_dictionary("a=:aGVsbG9=:").is_err());
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in [
            "a=",
            "a=1,",
            "a=1,,b=2",
            "A=1",
            "1a=1",
            "a=(1 2",
            "a=(1 2)x",
            "a=(1,2)",
            "a=\"unterminated",
            "a=\"bad \\n escape\"",
            "a=\"tab\tinside\"",
            "a=:not base64!:",
            "a=:aGVsbG8=",
            "a=?2",
            "a=1.",
            "a=1.2345",
            "a=1234567890123.5",
            "a=1234567890123456",
            "a=-",
            "a=1;",
            "a=1;B=2",
            "a=1 b=2",
            "a=1, a=2",
            "a=1;p;p",
            "a=@1",
            "a=%\"x\"",
            "a=1\n",
            "a=\u{e9}",
        ] {
            assert!(parse_dictionary(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let many: Vec<String> = (0..=DICTIONARY_MEMBERS_MAX)
            .map(|i| format!("k{i}=1"))
            .collect();
        assert!(parse_dictionary(&many.join(", ")).is_err());
        let items = vec!["1"; INNER_LIST_ITEMS_MAX + 1].join(" ");
        assert!(parse_dictionary(&format!("a=({items})")).is_err());
        let params: String = (0..=PARAMETERS_MAX).map(|i| format!(";p{i}")).collect();
        assert!(parse_dictionary(&format!("a=1{params}")).is_err());
        let long_key = "k".repeat(KEY_BYTES_MAX + 1);
        assert!(parse_dictionary(&format!("{long_key}=1")).is_err());
        let long_string = "x".repeat(STRING_BYTES_MAX + 1);
        assert!(parse_dictionary(&format!("a=\"{long_string}\"")).is_err());
        let long_bytes = STANDARD.encode(vec![0u8; BYTE_SEQUENCE_BYTES_MAX + 3]);
        assert!(parse_dictionary(&format!("a=:{long_bytes}:")).is_err());
        assert!(parse_dictionary(&"a=1, ".repeat(FIELD_BYTES_MAX)).is_err());
        // Exactly at the limits is fine.
        let items = vec!["1"; INNER_LIST_ITEMS_MAX].join(" ");
        assert!(parse_dictionary(&format!("a=({items})")).is_ok());
        assert!(parse_dictionary("a=999999999999999, b=-999999999999.999").is_ok());
    }

    #[test]
    fn constructors_validate() {
        assert!(Key::new("sig-b26").is_ok());
        assert!(Key::new("Sig").is_err());
        assert!(Key::new("").is_err());
        assert!(SfString::new("treaty/v1").is_ok());
        assert!(SfString::new("caf\u{e9}").is_err());
        assert!(SfString::new("line\nbreak").is_err());
        assert!(Token::new("ed25519").is_ok());
        assert!(Token::new("25519").is_err());
        assert!(Token::new("a b").is_err());
        assert!(Integer::new(INTEGER_MAX).is_ok());
        assert!(Integer::new(INTEGER_MAX + 1).is_err());
        assert!(Integer::new(i64::MIN).is_err());
        assert_eq!(
            BareItem::Decimal(Decimal::from_thousandths(-1500).expect("valid test input"))
                .to_string(),
            "-1.5"
        );
        assert_eq!(
            BareItem::Decimal(Decimal::from_thousandths(2000).expect("valid test input"))
                .to_string(),
            "2.0"
        );
    }

    /// A deterministic generator, so the garbage test replays exactly.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn garbage_never_panics_and_accepted_input_round_trips() {
        const ALPHABET: &[u8] = b"abcz*09-_.;=,() \t\"\\:?+/AZ@%\x01\x7f";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let len = (xorshift(&mut state) % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(xorshift(&mut state) % ALPHABET.len() as u64) as usize])
                .collect();
            let input = String::from_utf8_lossy(&bytes);
            if let Ok(dict) = parse_dictionary(&input) {
                // Whatever is accepted serializes to text that parses to the same value.
                let again = parse_dictionary(&dict.to_string())
                    .unwrap_or_else(|e| panic!("{input:?} -> {dict} : {e}"));
                assert_eq!(again, dict, "{input:?}");
            }
        }
    }
}
