//! IP networks: [`Cidr`], an IPv4 or IPv6 prefix such as `10.0.0.0/24` or
//! `fd00:1::/64`, its text form and its serde representation (that same
//! string).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

/// An IPv4 or IPv6 network: an address and a prefix length, with every
/// host bit (after the prefix) zero.
///
/// Text form: `address/prefix`, like `10.0.0.0/24` or `fd00:1::/64`. A bare
/// address is read as the network of that one host (`10.0.0.7` is
/// `10.0.0.7/32`, `fd00::7` is `fd00::7/128`) and written with its prefix.
/// A network with host bits set (`10.0.0.1/24`) is refused, not silently
/// truncated: the error names the network that was probably meant. Serde
/// represents it as the text form. Ordered by family (IPv4 first), then
/// address, then prefix length.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a text or an (address, prefix) pair is not a [`Cidr`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CidrError {
    /// Not `address/prefix` with a valid address and a decimal prefix.
    #[error("invalid CIDR {input:?}: expected an IPv4 or IPv6 address and a prefix length, like 10.0.0.0/24 or fd00::/64")]
    Syntax {
        /// The offending text (cut short if it was long).
        input: String,
    },
    /// The prefix is longer than the address (32 for IPv4, 128 for IPv6).
    #[error("invalid CIDR {input:?}: prefix length {prefix} is more than {max}")]
    Prefix {
        /// The offending text.
        input: String,
        /// The prefix length given.
        prefix: u32,
        /// The longest prefix of the family.
        max: u8,
    },
    /// Bits after the prefix are set.
    #[error("invalid CIDR {input:?}: host bits are set (the network is {network})")]
    HostBits {
        /// The offending text.
        input: String,
        /// The network with the host bits cleared.
        network: Cidr,
    },
}

/// Longest input quoted back in an error, in characters.
const MAX_QUOTED: usize = 60;

fn quoted(input: &str) -> String {
    let mut q: String = input.chars().take(MAX_QUOTED).collect();
    if q.len() < input.len() {
        q.push_str("...");
    }
    q
}

/// `addr` with every bit after the first `prefix` cleared.
fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl Cidr {
    /// The network `addr/prefix`; refuses a prefix longer than the family's
    /// and host bits that are set.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let input = || format!("{addr}/{prefix}");
        let max = max_prefix(addr);
        if prefix > max {
            return Err(CidrError::Prefix {
                input: input(),
                prefix: prefix.into(),
                max,
            });
        }
        let network = masked(addr, prefix);
        if network != addr {
            return Err(CidrError::HostBits {
                input: input(),
                network: Cidr {
                    addr: network,
                    prefix,
                },
            });
        }
        Ok(Cidr { addr, prefix })
    }

    /// The network of the one host `addr`: `/32` or `/128`.
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// True for an IPv4 network.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// True if `ip` is in this network (never across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && masked(ip, self.prefix) == self.addr
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cidr({self})")
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || CidrError::Syntax { input: quoted(s) };
        let (addr, prefix) = match s.split_once('/') {
            None => (s, None),
            Some((addr, prefix)) => (addr, Some(prefix)),
        };
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let Some(prefix) = prefix else {
            return Ok(Cidr::host(addr));
        };
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let prefix: u32 = prefix.parse().map_err(|_| syntax())?;
        let max = max_prefix(addr);
        if prefix > u32::from(max) {
            return Err(CidrError::Prefix {
                input: quoted(s),
                prefix,
                max,
            });
        }
        // prefix <= 128 here.
        let prefix = prefix as u8;
        Cidr::new(addr, prefix).map_err(|e| match e {
            CidrError::HostBits { network, .. } => CidrError::HostBits {
                input: quoted(s),
                network,
            },
            other => other,
        })
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CidrVisitor;

        impl Visitor<'_> for CidrVisitor {
            type Value = Cidr;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CIDR string like \"10.0.0.0/24\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cidr, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(CidrVisitor)
    }
}
