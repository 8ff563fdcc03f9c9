//! A pcapng writer (the IETF draft "PCAP Next Generation Dump File
//! Format"), as much of it as `xvsctl capture` needs: one Section Header
//! Block, one Interface Description Block (Ethernet, the capture point's
//! name, nanosecond timestamps) and an Enhanced Packet Block per frame,
//! with its direction (`epb_flags`) and, for a dropped frame, the drop
//! reason as a comment (`opt_comment`). Wireshark, tshark and tcpdump read
//! it. Little-endian, written as it goes: a stream (`-w -`) works.

use std::io::{self, Write};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const LINKTYPE_ETHERNET: u16 = 1;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;

/// The direction bits of `epb_flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Not known (a dropped frame).
    Unknown,
    /// Received at the interface.
    Inbound,
    /// Sent at the interface.
    Outbound,
}

/// One packet to write.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The packet's length on the wire (`data` may be shorter: cut at the
    /// snap length).
    pub original_len: u32,
    /// The bytes kept.
    pub data: &'a [u8],
    /// Received or sent at the interface.
    pub direction: Direction,
    /// A comment shown with the packet (the drop reason).
    pub comment: Option<&'a str>,
}

fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// Appends one option (code, length, value padded to 32 bits).
fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    // Option values are at most u16::MAX long; longer ones are cut.
    let value = &value[..value.len().min(u16::MAX as usize)];
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + padded(value.len()) - value.len(), 0);
}

/// Wraps a block's body (everything after the length) as a whole block.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&total.to_le_bytes());
    out
}

/// The Section Header and Interface Description blocks of a file with
/// one Ethernet interface named `interface`, packets cut at `snaplen`.
pub fn header(interface: &str, description: &str, snaplen: u32) -> Vec<u8> {
    let mut shb = Vec::new();
    shb.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    option(
        &mut shb,
        SHB_USERAPPL,
        concat!("xvsctl ", env!("CARGO_PKG_VERSION")).as_bytes(),
    );
    option(&mut shb, OPT_END, &[]);
    let mut idb = Vec::new();
    idb.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&snaplen.to_le_bytes());
    option(&mut idb, IF_NAME, interface.as_bytes());
    if !description.is_empty() {
        option(&mut idb, IF_DESCRIPTION, description.as_bytes());
    }
    // Timestamps in nanoseconds (10^-9).
    option(&mut idb, IF_TSRESOL, &[9]);
    option(&mut idb, OPT_END, &[]);
    let mut out = block(SHB, &shb);
    out.extend_from_slice(&block(IDB, &idb));
    out
}

/// The Enhanced Packet Block of one packet on interface 0.
pub fn packet(p: &Packet<'_>) -> Vec<u8> {
    let mut body = Vec::with_capacity(20 + padded(p.data.len()) + 32);
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&((p.ts_ns >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(p.ts_ns as u32).to_le_bytes());
    body.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
    body.extend_from_slice(&p.original_len.max(p.data.len() as u32).to_le_bytes());
    body.extend_from_slice(p.data);
    body.resize(body.len() + padded(p.data.len()) - p.data.len(), 0);
    let flags: u32 = match p.direction {
        Direction::Unknown => 0,
        Direction::Inbound => 1,
        Direction::Outbound => 2,
    };
    let mut options = false;
    if flags != 0 {
        option(&mut body, EPB_FLAGS, &flags.to_le_bytes());
        options = true;
    }
    if let Some(c) = p.comment {
        option(&mut body, OPT_COMMENT, c.as_bytes());
        options = true;
    }
    if options {
        option(&mut body, OPT_END, &[]);
    }
    block(EPB, &body)
}

/// Writes a pcapng stream: the header first, then packets as they come.
pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    /// Writes the header (see [`header`]) to `out`.
    pub fn new(mut out: W, interface: &str, description: &str, snaplen: u32) -> io::Result<Self> {
        out.write_all(&header(interface, description, snaplen))?;
        Ok(Writer { out })
    }

    /// Writes one packet.
    pub fn write(&mut self, p: &Packet<'_>) -> io::Result<()> {
        self.out.write_all(&packet(p))
    }

    /// Flushes what was written.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Gives the output back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    /// The options of a block body from `at`: (code, value).
    fn options(body: &[u8], mut at: usize) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        while at + 4 <= body.len() {
            let (code, len) = (u16_at(body, at), u16_at(body, at + 2) as usize);
            if code == 0 {
                break;
            }
            out.push((code, body[at + 4..at + 4 + len].to_vec()));
            at += 4 + padded(len);
        }
        out
    }

    /// A reader of what [`Writer`] writes: every block as (type, body),
    /// checking both lengths of each.
    fn blocks(file: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut at = 0;
        let mut out = Vec::new();
        while at < file.len() {
            let kind = u32_at(file, at);
            let len = u32_at(file, at + 4) as usize;
            assert_eq!(len % 4, 0, "block length {len} is not a multiple of 4");
            assert_eq!(u32_at(file, at + len - 4), len as u32, "trailing length");
            out.push((kind, file[at + 8..at + len - 4].to_vec()));
            at += len;
        }
        assert_eq!(at, file.len());
        out
    }

    #[test]
    fn the_header_is_the_expected_bytes() {
        let h = header("p", "", 256);
        #[rustfmt::skip]
        let want_idb: Vec<u8> = vec![
            1, 0, 0, 0,                 // IDB
            40, 0, 0, 0,                // total length
            1, 0, 0, 0,                 // Ethernet, reserved
            0, 1, 0, 0,                 // snaplen 256
            2, 0, 1, 0, b'p', 0, 0, 0,  // if_name "p"
            9, 0, 1, 0, 9, 0, 0, 0,     // if_tsresol 9
            0, 0, 0, 0,                 // end of options
            40, 0, 0, 0,
        ];
        assert_eq!(&h[h.len() - want_idb.len()..], &want_idb[..]);
        // Section header: type, magic, version 1.0, unknown length.
        assert_eq!(&h[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
        assert_eq!(&h[8..12], &[0x4d, 0x3c, 0x2b, 0x1a]);
        assert_eq!(&h[12..16], &[1, 0, 0, 0]);
        assert_eq!(&h[16..24], &[0xff; 8]);
    }

    #[test]
    fn a_packet_block_is_the_expected_bytes() {
        let b = packet(&Packet {
            ts_ns: 0x1_0000_0002,
            original_len: 60,
            data: &[0xaa, 0xbb, 0xcc],
            direction: Direction::Outbound,
            comment: Some("x"),
        });
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            6, 0, 0, 0, 56, 0, 0, 0,
            0, 0, 0, 0,                 // interface 0
            1, 0, 0, 0, 2, 0, 0, 0,     // timestamp high, low
            3, 0, 0, 0, 60, 0, 0, 0,    // captured, original
            0xaa, 0xbb, 0xcc, 0,        // data, padded
            2, 0, 4, 0, 2, 0, 0, 0,     // epb_flags: outbound
            1, 0, 1, 0, b'x', 0, 0, 0,  // opt_comment "x"
            0, 0, 0, 0,                 // end of options
            56, 0, 0, 0,
        ];
        assert_eq!(b, want);
        // No direction, no comment: no options at all.
        let plain = packet(&Packet {
            ts_ns: 0,
            original_len: 4,
            data: &[1, 2, 3, 4],
            direction: Direction::Unknown,
            comment: None,
        });
        assert_eq!(plain.len(), 12 + 20 + 4);
    }

    #[test]
    fn a_stream_reads_back() {
        let mut w = Writer::new(Vec::new(), "pod1a", "port \"pod1a\"", 128).unwrap();
        let frames: Vec<Vec<u8>> = (1..=5u8).map(|n| vec![n; 60 + n as usize]).collect();
        for (i, f) in frames.iter().enumerate() {
            w.write(&Packet {
                ts_ns: 1_700_000_000_000_000_000 + i as u64,
                original_len: f.len() as u32 + 100,
                data: f,
                direction: if i % 2 == 0 {
                    Direction::Inbound
                } else {
                    Direction::Unknown
                },
                comment: (i == 3).then_some("dropped: firewall_drop"),
            })
            .unwrap();
        }
        let file = w.into_inner();
        let blocks = blocks(&file);
        assert_eq!(blocks.len(), 2 + frames.len());
        assert_eq!(blocks[0].0, SHB);
        assert_eq!(blocks[1].0, IDB);
        let idb = options(&blocks[1].1, 8);
        assert!(idb.contains(&(IF_NAME, b"pod1a".to_vec())), "{idb:?}");
        assert!(idb.contains(&(IF_TSRESOL, vec![9])));
        for (i, ((kind, body), f)) in blocks[2..].iter().zip(&frames).enumerate() {
            assert_eq!(*kind, EPB);
            let ts = (u64::from(u32_at(body, 4)) << 32) | u64::from(u32_at(body, 8));
            assert_eq!(ts, 1_700_000_000_000_000_000 + i as u64);
            let (cap, orig) = (u32_at(body, 12) as usize, u32_at(body, 16) as usize);
            assert_eq!((cap, orig), (f.len(), f.len() + 100));
            assert_eq!(&body[20..20 + cap], &f[..]);
            let opts = options(body, 20 + padded(cap));
            let flags = opts.iter().find(|(c, _)| *c == EPB_FLAGS);
            assert_eq!(flags.is_some(), i % 2 == 0);
            let comment = opts.iter().find(|(c, _)| *c == OPT_COMMENT);
            assert_eq!(
                comment.map(|(_, v)| v.as_slice()),
                (i == 3).then_some(&b"dropped: firewall_drop"[..])
            );
        }
    }
}
