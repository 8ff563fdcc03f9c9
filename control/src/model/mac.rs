//! Ethernet MAC addresses: [`MacAddr`], its text form (`02:00:00:00:01:0a`),
//! its serde representation (that same string) and its address-class tests.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

/// A 48-bit Ethernet MAC address.
///
/// Text form: six two-digit hexadecimal octets separated by `:`. Parsing
/// accepts upper- and lowercase digits; formatting writes lowercase. Serde
/// represents it as that string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `00:00:00:00:00:00`.
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The six octets, in wire order.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// True when the group bit (least significant bit of the first octet) is
    /// set. The broadcast address is a multicast address.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// True for `ff:ff:ff:ff:ff:ff`.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for an individual (not group) address. The all-zero address is
    /// unicast by this definition; check [`MacAddr::is_zero`] as well when
    /// an address must be usable.
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// True for `00:00:00:00:00:00`.
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

/// A string that is not a MAC address in `xx:xx:xx:xx:xx:xx` form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid MAC address {input:?}: expected six two-digit hex octets separated by ':', like 02:00:00:00:01:0a")]
pub struct MacParseError {
    /// The offending text (cut short if it was long).
    pub input: String,
}

impl MacParseError {
    /// Longest input quoted back in the error, in characters.
    const MAX_QUOTED: usize = 40;

    fn new(input: &str) -> Self {
        let mut quoted: String = input.chars().take(Self::MAX_QUOTED).collect();
        if quoted.len() < input.len() {
            quoted.push('…');
        }
        MacParseError { input: quoted }
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut octets = [0u8; 6];
        let mut parts = s.split(':');
        for octet in octets.iter_mut() {
            let part = parts.next().ok_or_else(|| MacParseError::new(s))?;
            // from_str_radix alone would accept "+f"; insist on two hex digits.
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(MacParseError::new(s));
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| MacParseError::new(s))?;
        }
        if parts.next().is_some() {
            return Err(MacParseError::new(s));
        }
        Ok(MacAddr(octets))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MacVisitor;

        impl Visitor<'_> for MacVisitor {
            type Value = MacAddr;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a MAC address string like \"02:00:00:00:01:0a\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<MacAddr, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(MacVisitor)
    }
}
