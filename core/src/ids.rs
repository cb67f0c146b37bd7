//! Validated identifiers. Each type can only hold a value that passes its rule, both when built from text
//! and when decoded from JSON or canonical bytes, and each rejection names the field and the rule broken.
//! The rules are listed in `docs/protocol.md` §Identifiers.

use crate::countries;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An identifier that broke its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} {value:?}: {rule}")]
pub struct IdError {
    /// The identifier kind, as it is named in JSON (`mrn`, `hs_code`, ...).
    pub field: &'static str,
    /// The offending value, cut to 64 characters.
    pub value: String,
    /// The rule broken, in plain words.
    pub rule: String,
}

impl IdError {
    fn new(field: &'static str, value: &str, rule: impl Into<String>) -> IdError {
        IdError {
            field,
            value: value.chars().take(64).collect(),
            rule: rule.into(),
        }
    }
}

macro_rules! identifier {
    ($(#[$meta:meta])* $name:ident, $field:expr, $check:path) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The name of this identifier in JSON and in error messages.
            pub const FIELD: &'static str = $field;

            pub fn parse(value: &str) -> Result<Self, IdError> {
                $check(value).map_err(|rule| IdError::new($field, value, rule))?;
                Ok($name(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                $check(&value).map_err(|rule| IdError::new($field, &value, rule))?;
                Ok($name(value))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

identifier!(
    /// ISO 3166-1 alpha-2 country code, officially assigned (plus `EU`). A member is identified by its code.
    CountryCode,
    "country",
    check_country
);
identifier!(
    /// Harmonized System code: 6 digits, optionally extended nationally up to 10 digits.
    HsCode,
    "hs_code",
    check_hs_code
);
identifier!(
    /// Movement Reference Number: 18 characters, check digit computed as in ISO 6346.
    Mrn,
    "mrn",
    check_mrn
);
identifier!(
    /// WCO Unique Consignment Reference: up to 35 characters.
    Ucr,
    "ucr",
    check_ucr
);
identifier!(
    /// Customs office reference number: country code + 6 characters.
    CustomsOffice,
    "customs_office",
    check_customs_office
);
identifier!(
    /// Economic operator id in the EORI shape: country code + up to 15 characters of national id.
    OperatorId,
    "operator_id",
    check_operator_id
);
identifier!(
    /// A certificate's number as its issuer wrote it.
    CertificateNumber,
    "certificate_number",
    check_certificate_number
);
identifier!(
    /// A stable machine-readable reason code, such as `NON_COMPLIANCE`.
    ReasonCode,
    "reason_code",
    check_reason_code
);
identifier!(
    /// Short human-readable text: names, authorities, reasons.
    Text,
    "text",
    check_text
);
identifier!(
    /// A chain's human-readable name, such as `asem-customs-testnet`.
    ChainName,
    "chain_name",
    check_chain_name
);

fn is_upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

fn check_country(v: &str) -> Result<(), String> {
    if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("must be two uppercase letters (ISO 3166-1 alpha-2)".into());
    }
    if !countries::is_assigned(v) {
        return Err("is not an assigned ISO 3166-1 alpha-2 code".into());
    }
    Ok(())
}

fn check_hs_code(v: &str) -> Result<(), String> {
    if !(6..=10).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "must be 6 to 10 digits (6-digit HS subheading plus an optional national extension)"
                .into(),
        );
    }
    let chapter: u32 = v[..2].parse().unwrap_or(0);
    if chapter == 0 || chapter > 97 || chapter == 77 {
        return Err(format!(
            "chapter {:02} does not exist in the Harmonized System (01-97, 77 reserved)",
            chapter
        ));
    }
    Ok(())
}

/// The ISO 6346 value of a character: digits are themselves; letters count from A = 10, skipping the
/// multiples of 11 (so B = 12, L = 23, V = 34).
fn iso6346_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => {
            let mut v = 10 + u32::from(c - b'A');
            v += (v - 1) / 10; // each multiple of 11 passed adds one
            Some(v)
        }
        _ => None,
    }
}

/// ISO 6346 check digit of `body`: sum of value × 2^position, modulo 11, with 10 written as 0.
pub fn iso6346_check_digit(body: &str) -> Option<u8> {
    let mut sum: u64 = 0;
    for (i, c) in body.bytes().enumerate() {
        sum += u64::from(iso6346_value(c)?) << i;
    }
    Some(((sum % 11) % 10) as u8)
}

fn check_mrn(v: &str) -> Result<(), String> {
    let b = v.as_bytes();
    if b.len() != 18 {
        return Err(format!("must be 18 characters, got {}", v.chars().count()));
    }
    if !b.iter().all(|&c| is_upper_alnum(c)) {
        return Err("must contain only digits and uppercase letters".into());
    }
    if !b[0].is_ascii_digit() || !b[1].is_ascii_digit() {
        return Err("must start with the two-digit year".into());
    }
    check_country(&v[2..4])
        .map_err(|e| format!("characters 3-4 are the country code, which {e}"))?;
    if !b[17].is_ascii_digit() {
        return Err("the last character is the check digit and must be a digit".into());
    }
    let expected = iso6346_check_digit(&v[..17]).ok_or("invalid character")?;
    let got = b[17] - b'0';
    if got != expected {
        return Err(format!(
            "check digit is {got}, the ISO 6346 computation gives {expected}"
        ));
    }
    Ok(())
}

fn check_ucr(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 35 {
        return Err("must be 1 to 35 characters".into());
    }
    if !v
        .bytes()
        .all(|b| is_upper_alnum(b) || b"-/+.:".contains(&b))
    {
        return Err("may contain only digits, uppercase letters and - / + . :".into());
    }
    Ok(())
}

fn check_customs_office(v: &str) -> Result<(), String> {
    if v.len() != 8 || !v.bytes().all(is_upper_alnum) {
        return Err(
            "must be 8 characters: a country code and 6 digits or uppercase letters".into(),
        );
    }
    check_country(&v[..2])
        .map_err(|e| format!("the first two characters are the country code, which {e}"))
}

fn check_operator_id(v: &str) -> Result<(), String> {
    if !(3..=17).contains(&v.len()) || !v.bytes().all(is_upper_alnum) {
        return Err(
            "must be a country code followed by 1 to 15 digits or uppercase letters (EORI shape)"
                .into(),
        );
    }
    check_country(&v[..2])
        .map_err(|e| format!("the first two characters are the country code, which {e}"))
}

fn check_certificate_number(v: &str) -> Result<(), String> {
    let b = v.as_bytes();
    if b.is_empty() || b.len() > 50 {
        return Err("must be 1 to 50 characters".into());
    }
    if !b[0].is_ascii_alphanumeric() {
        return Err("must start with a letter or digit".into());
    }
    if !b
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || b"-/._".contains(&c))
    {
        return Err("may contain only letters, digits and - / . _".into());
    }
    Ok(())
}

fn check_reason_code(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| is_upper_alnum(b) || b == b'_') {
        return Err("must be 1 to 32 characters of uppercase letters, digits and _".into());
    }
    Ok(())
}

/// Longest [`Text`], in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 256;

fn check_text(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > MAX_TEXT_BYTES {
        return Err(format!("must be 1 to {MAX_TEXT_BYTES} bytes of UTF-8"));
    }
    if v.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if v.trim() != v {
        return Err("must not start or end with white space".into());
    }
    Ok(())
}

fn check_chain_name(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may contain only lowercase letters, digits and -".into());
    }
    Ok(())
}

impl CustomsOffice {
    /// The country (and so the member) that owns this office.
    pub fn country(&self) -> CountryCode {
        CountryCode(self.0[..2].to_owned())
    }
}

impl OperatorId {
    /// The country that issued this operator id.
    pub fn country(&self) -> CountryCode {
        CountryCode(self.0[..2].to_owned())
    }
}

impl Mrn {
    /// The country part of the MRN (characters 3 and 4).
    pub fn country(&self) -> CountryCode {
        CountryCode(self.0[2..4].to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mrn_with_check(body17: &str) -> String {
        format!("{body17}{}", iso6346_check_digit(body17).unwrap())
    }

    #[test]
    fn iso6346_container_example() {
        // The standard's worked example: container CSQU 305438, check digit 3.
        assert_eq!(iso6346_check_digit("CSQU305438"), Some(3));
        assert_eq!(iso6346_value(b'A'), Some(10));
        assert_eq!(iso6346_value(b'B'), Some(12));
        assert_eq!(iso6346_value(b'K'), Some(21));
        assert_eq!(iso6346_value(b'L'), Some(23));
        assert_eq!(iso6346_value(b'U'), Some(32));
        assert_eq!(iso6346_value(b'V'), Some(34));
        assert_eq!(iso6346_value(b'Z'), Some(38));
    }

    #[test]
    fn mrn_rules() {
        let good = mrn_with_check("26DE1234567890123");
        assert!(Mrn::parse(&good).is_ok());
        let mrn = Mrn::parse(&good).unwrap();
        assert_eq!(mrn.country().as_str(), "DE");

        let last = good.as_bytes()[17] - b'0';
        let wrong = format!("{}{}", &good[..17], (last + 1) % 10);
        let err = Mrn::parse(&wrong).unwrap_err();
        assert_eq!(err.field, "mrn");
        assert!(err.rule.contains("check digit"), "{err}");

        assert!(
            Mrn::parse("26DE123")
                .unwrap_err()
                .rule
                .contains("18 characters")
        );
        assert!(
            Mrn::parse(&mrn_with_check("26XX1234567890123"))
                .unwrap_err()
                .rule
                .contains("country")
        );
        assert!(
            Mrn::parse(&mrn_with_check("AADE1234567890123"))
                .unwrap_err()
                .rule
                .contains("year")
        );
        assert!(Mrn::parse("26de12345678901234").is_err());
    }

    #[test]
    fn hs_code_rules() {
        for ok in ["010121", "85171300", "8517130000"] {
            assert!(HsCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "01012",
            "85171300001",
            "00012",
            "770000",
            "980000",
            "85-713",
        ] {
            let e = HsCode::parse(bad).unwrap_err();
            assert_eq!(e.field, "hs_code", "{bad}");
        }
    }

    #[test]
    fn office_operator_ucr_certificate() {
        assert!(CustomsOffice::parse("DE004701").is_ok());
        assert_eq!(
            CustomsOffice::parse("KZ123456").unwrap().country().as_str(),
            "KZ"
        );
        assert!(
            CustomsOffice::parse("XX004701")
                .unwrap_err()
                .rule
                .contains("country")
        );
        assert!(CustomsOffice::parse("DE00470").is_err());

        assert!(OperatorId::parse("DE123456789012345").is_ok());
        assert!(OperatorId::parse("KZ1").is_ok());
        assert!(OperatorId::parse("DE1234567890123456").is_err());
        assert!(OperatorId::parse("DE").is_err());
        assert!(OperatorId::parse("de12345").is_err());

        assert!(Ucr::parse("6DE123456789-AB/12").is_ok());
        assert!(Ucr::parse("").is_err());
        assert!(Ucr::parse(&"A".repeat(36)).is_err());
        assert!(Ucr::parse("abc").is_err());

        assert!(CertificateNumber::parse("KZ-CO-2026/000123").is_ok());
        assert!(CertificateNumber::parse("-12").is_err());
        assert!(CertificateNumber::parse("A B").is_err());
    }

    #[test]
    fn text_and_codes() {
        assert!(Text::parse("Kazakhstan State Revenue Committee").is_ok());
        assert!(Text::parse(" padded").is_err());
        assert!(Text::parse("line\nbreak").is_err());
        assert!(Text::parse(&"x".repeat(257)).is_err());
        assert!(ReasonCode::parse("NON_COMPLIANCE").is_ok());
        assert!(ReasonCode::parse("lower").is_err());
        assert!(ChainName::parse("asem-customs-1").is_ok());
        assert!(ChainName::parse("ASEM").is_err());
    }

    #[test]
    fn validation_applies_when_decoding_json_and_binary() {
        let err = serde_json::from_str::<CountryCode>("\"XX\"").unwrap_err();
        assert!(err.to_string().contains("invalid country"), "{err}");
        let bytes = crate::encoding::encode(&"XX".to_string());
        assert!(crate::encoding::decode::<CountryCode>(&bytes, 64, "country").is_err());
        let bytes = crate::encoding::encode(&"KZ".to_string());
        assert_eq!(
            crate::encoding::decode::<CountryCode>(&bytes, 64, "country")
                .unwrap()
                .as_str(),
            "KZ"
        );
    }
}
