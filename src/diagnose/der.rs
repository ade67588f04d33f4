//! Just enough DER to name who issued a certificate and for when it is
//! valid: the TLS probe must say "issued by CN=Corporate Inspection CA" to
//! unmask an intercepting proxy. A full X.509 library would add several
//! crates to the binary for these four fields, so this walks the
//! certificate's first fields itself (RFC 5280 §4.1) and gives up (`None`)
//! on anything unexpected.

use std::fmt::Write as _;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The fields of a certificate the TLS probe reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub subject: String,
    pub issuer: String,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// Reads a certificate's subject, issuer and validity.
pub fn summary(certificate: &[u8]) -> Option<Summary> {
    let (tag, cert, _) = tlv(certificate)?;
    let (tbs_tag, tbs, _) = tlv(cert).filter(|_| tag == SEQUENCE)?;
    if tbs_tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    let (first, _, after) = tlv(rest)?;
    if first == 0xa0 {
        rest = after; // [0] version
    }
    let (_, _, rest) = tlv(rest)?; // serialNumber
    let (_, _, rest) = tlv(rest)?; // signature algorithm
    let (_, issuer, rest) = tlv(rest)?;
    let (_, validity, rest) = tlv(rest)?;
    let (_, subject, _) = tlv(rest)?;
    let (before_tag, before, after_validity) = tlv(validity)?;
    let (after_tag, after, _) = tlv(after_validity)?;
    Some(Summary {
        subject: name(subject)?,
        issuer: name(issuer)?,
        not_before: time(before_tag, before),
        not_after: time(after_tag, after),
    })
}

/// One tag-length-value: `(tag, content, rest)`.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, input) = input.split_first()?;
    let (length, input) = match first {
        short @ 0..=0x7f => (usize::from(short), input),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            let bytes = input.get(..count)?;
            let length = bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
            (length, &input[count..])
        }
        _ => return None,
    };
    let content = input.get(..length)?;
    Some((tag, content, &input[length..]))
}

/// A distinguished name as `CN=…, O=…`, in the certificate's order.
fn name(mut rdns: &[u8]) -> Option<String> {
    let mut out = String::new();
    while !rdns.is_empty() {
        let (tag, set, rest) = tlv(rdns)?;
        rdns = rest;
        if tag != SET {
            return None;
        }
        let mut attributes = set;
        while !attributes.is_empty() {
            let (_, attribute, rest) = tlv(attributes)?;
            attributes = rest;
            let (oid_tag, oid, value) = tlv(attribute)?;
            let (value_tag, value, _) = tlv(value)?;
            if oid_tag != OID {
                return None;
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", attribute_name(oid), text(value_tag, value));
        }
    }
    Some(out)
}

fn attribute_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress".into(),
        other => dotted(other),
    }
}

/// An OID the table does not know, as `2.5.4.97`.
fn dotted(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for &byte in oid {
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn text(tag: u8, value: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16 big-endian.
        0x1e => {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // TeletexString, in practice Latin-1.
        0x14 => value.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(value).into_owned(),
    }
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn time(tag: u8, value: &[u8]) -> Option<OffsetDateTime> {
    let text = std::str::from_utf8(value).ok()?.strip_suffix('Z')?;
    let digits = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let (year, rest) = match (tag, text.len()) {
        (0x17, 12) => {
            let yy = digits(0..2)? as i32;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (0x18, 14) => (digits(0..4)? as i32, 4),
        _ => return None,
    };
    let field = |i: usize| digits(rest + 2 * i..rest + 2 * i + 2);
    let month = Month::try_from(u8::try_from(field(0)?).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(field(1)?).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(field(2)?).ok()?,
        u8::try_from(field(3)?).ok()?,
        u8::try_from(field(4)?).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = time(0x17, b"260131235959Z").unwrap();
        assert_eq!(t.to_string(), "2026-01-31 23:59:59.0 +00:00:00");
        assert_eq!(time(0x18, b"20500101000000Z").unwrap().year(), 2050);
        assert_eq!(time(0x17, b"991231000000Z").unwrap().year(), 1999);
        assert!(time(0x17, b"2601").is_none());
    }

    #[test]
    fn dotted_oids() {
        assert_eq!(dotted(&[0x55, 0x04, 0x61]), "2.5.4.97");
        assert_eq!(dotted(&[0x2a, 0x86, 0x48]), "1.2.840");
    }

    #[test]
    fn reads_a_real_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "a.example");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Société Générale CA");
        params.not_before = time::macros::datetime!(2026-01-01 00:00 UTC);
        params.not_after = time::macros::datetime!(2051-06-30 12:34:56 UTC);
        let cert = params.self_signed(&key).unwrap();
        let found = summary(cert.der()).unwrap();
        assert_eq!(found.subject, "CN=a.example, O=Société Générale CA");
        assert_eq!(found.issuer, found.subject);
        assert_eq!(found.not_before, Some(params.not_before));
        assert_eq!(
            found.not_after,
            Some(params.not_after),
            "GeneralizedTime after 2049"
        );
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for input in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x02\x30\x00",
        ] {
            assert!(summary(input).is_none());
        }
    }
}
