//! The two DNS messages the DNS probe needs: an A or AAAA query, and the
//! header and addresses of its reply (RFC 1035 §4). Written by hand because
//! it is this small, and a resolver library would hide exactly what the
//! probe wants to see: NXDOMAIN versus an empty answer versus silence.

use std::net::IpAddr;

/// Record types the probe asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QType {
    A,
    Aaaa,
}

impl QType {
    fn code(self) -> u16 {
        match self {
            QType::A => 1,
            QType::Aaaa => 28,
        }
    }
}

/// Response codes the probe tells apart.
pub const RCODE_NXDOMAIN: u8 = 3;

/// What a reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub id: u16,
    pub rcode: u8,
    /// The reply was cut (TC): its answer section cannot be trusted to be complete.
    pub truncated: bool,
    /// Addresses of the asked type in the answer section.
    pub addresses: Vec<IpAddr>,
}

/// Why a message cannot be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsMessageError {
    #[error("{0:?} is not a valid DNS name")]
    BadName(String),
    #[error("malformed DNS reply: {0}")]
    Malformed(&'static str),
}

/// A recursive query for `name` (`RD` set), one question.
pub fn query(id: u16, name: &str, qtype: QType) -> Result<Vec<u8>, DnsMessageError> {
    let bad = || DnsMessageError::BadName(name.to_string());
    let mut message = Vec::with_capacity(18 + name.len());
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(bad());
    }
    for label in trimmed.split('.') {
        let length = u8::try_from(label.len())
            .ok()
            .filter(|&n| (1..=63).contains(&n))
            .ok_or_else(bad)?;
        message.push(length);
        message.extend_from_slice(label.as_bytes());
    }
    message.push(0);
    message.extend_from_slice(&qtype.code().to_be_bytes());
    message.extend_from_slice(&1u16.to_be_bytes());
    Ok(message)
}

/// Reads a reply to a query of `qtype`.
pub fn parse(message: &[u8], qtype: QType) -> Result<Reply, DnsMessageError> {
    let mut reader = Reader { message, at: 0 };
    let id = reader.u16()?;
    let flags = reader.u16()?;
    if flags & 0x8000 == 0 {
        return Err(DnsMessageError::Malformed("not a response"));
    }
    let questions = reader.u16()?;
    let answers = reader.u16()?;
    reader.skip(4)?;
    for _ in 0..questions {
        reader.skip_name()?;
        reader.skip(4)?;
    }
    let mut addresses = Vec::new();
    for _ in 0..answers {
        reader.skip_name()?;
        let rtype = reader.u16()?;
        reader.skip(6)?;
        let length = usize::from(reader.u16()?);
        let data = reader.take(length)?;
        if rtype != qtype.code() {
            continue;
        }
        match data.len() {
            4 => addresses.push(IpAddr::from(
                <[u8; 4]>::try_from(data).map_err(|_| short())?,
            )),
            16 => addresses.push(IpAddr::from(
                <[u8; 16]>::try_from(data).map_err(|_| short())?,
            )),
            _ => return Err(DnsMessageError::Malformed("address of the wrong length")),
        }
    }
    Ok(Reply {
        id,
        rcode: (flags & 0x000f) as u8,
        truncated: flags & 0x0200 != 0,
        addresses,
    })
}

fn short() -> DnsMessageError {
    DnsMessageError::Malformed("message too short")
}

struct Reader<'a> {
    message: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DnsMessageError> {
        let end = self.at.checked_add(n).ok_or_else(short)?;
        let bytes = self.message.get(self.at..end).ok_or_else(short)?;
        self.at = end;
        Ok(bytes)
    }

    fn skip(&mut self, n: usize) -> Result<(), DnsMessageError> {
        self.take(n).map(|_| ())
    }

    fn u16(&mut self) -> Result<u16, DnsMessageError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// Skips a name: labels up to the root, or up to a compression pointer
    /// (which ends the name where it stands; its target is not needed).
    fn skip_name(&mut self) -> Result<(), DnsMessageError> {
        // A name has at most 127 labels; more means a malformed message.
        for _ in 0..128 {
            let length = self.take(1)?[0];
            match length {
                0 => return Ok(()),
                l if l & 0xc0 == 0xc0 => return self.skip(1),
                l if l & 0xc0 == 0 => self.skip(usize::from(l))?,
                _ => return Err(DnsMessageError::Malformed("unknown label type")),
            }
        }
        Err(DnsMessageError::Malformed("name too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as a server builds it: the question echoed, then `answers`
    /// (type, rdata) under a compression pointer to the question's name.
    fn reply(id: u16, rcode: u8, question: &[u8], answers: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1]);
        m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(&question[12..]);
        for (rtype, data) in answers {
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&rtype.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    #[test]
    fn query_layout() {
        let q = query(0x1234, "services.odoo.com.", QType::Aaaa).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x08services\x04odoo\x03com\x00\x00\x1c\x00\x01");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(query(1, "", QType::A).is_err());
        assert!(query(1, "a..b", QType::A).is_err());
        assert!(query(1, &"x".repeat(64), QType::A).is_err());
    }

    #[test]
    fn reads_addresses_nxdomain_and_empty_answers() {
        let q = query(7, "services.odoo.com", QType::A).unwrap();
        let answer = reply(7, 0, &q, &[(5, b"\x00"), (1, &[203, 0, 113, 7])]);
        let parsed = parse(&answer, QType::A).unwrap();
        assert_eq!(parsed.addresses, vec![IpAddr::from([203, 0, 113, 7])]);
        assert_eq!(parsed.rcode, 0);
        assert_eq!(
            parse(&reply(7, 3, &q, &[]), QType::A).unwrap().rcode,
            RCODE_NXDOMAIN
        );
        assert!(
            parse(&reply(7, 0, &q, &[]), QType::A)
                .unwrap()
                .addresses
                .is_empty()
        );
    }

    #[test]
    fn truncated_or_hostile_replies_are_errors_not_panics() {
        let q = query(7, "a.example", QType::A).unwrap();
        let good = reply(7, 0, &q, &[(1, &[10, 0, 0, 1])]);
        for cut in 0..good.len() {
            let _ = parse(&good[..cut], QType::A);
        }
        assert!(parse(&q, QType::A).is_err(), "a query is not a response");
        let mut looped = reply(7, 0, &q, &[]);
        looped.truncate(12);
        looped.extend_from_slice(&[0x3f; 200]);
        assert!(parse(&looped, QType::A).is_err());
    }
}
