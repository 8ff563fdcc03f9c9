//! The Geneve header (RFC 8926 section 3.4) and its option TLVs (section 3.5).
//!
//! This module owns the 8-byte base header, the variable options area behind
//! it, and the TLV encoding of each option. It knows nothing of the outer
//! UDP/IPv4/Ethernet headers (see [`crate::encap`] and [`crate::decap`]).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Variable-Length Options                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Option TLV:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Option Class         |      Type     |R|R|R| Length  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Variable-Length Option Data                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Opt Len and the option Length count 4-byte words, excluding the 8-byte base
//! header and the 4-byte option header respectively.
//!
//! [`Packet`] never panics: on a buffer that has not passed
//! [`Packet::check_len`], getters read missing bytes as zero, slice accessors
//! return empty slices and setters leave missing bytes alone.

use core::iter::FusedIterator;

/// Length of the Geneve base header, without options.
pub const HEADER_LEN: usize = 8;
/// Largest options area: Opt Len is 6 bits of 4-byte words.
pub const MAX_OPTIONS_LEN: usize = 63 * 4;
/// Length of an option TLV header (class, type, length).
pub const OPTION_HEADER_LEN: usize = 4;
/// Largest option data: the option Length is 5 bits of 4-byte words.
pub const MAX_OPTION_DATA_LEN: usize = 31 * 4;
/// Largest VNI: the field is 24 bits.
pub const VNI_MAX: u32 = 0x00FF_FFFF;
/// The only Geneve version defined.
pub const VERSION: u8 = 0;
/// Bit of an option's type byte that marks it critical.
pub const OPTION_TYPE_CRITICAL: u8 = 0x80;

/// Byte offsets and bits of the base header fields.
pub mod field {
    use core::ops::Range;

    /// Byte 0: Ver (top 2 bits) and Opt Len (low 6 bits, 4-byte words).
    pub const VER_OPT_LEN: usize = 0;
    /// Byte 1: O bit, C bit, 6 reserved bits.
    pub const FLAGS: usize = 1;
    /// Protocol type (an EtherType), big-endian.
    pub const PROTOCOL: Range<usize> = 2..4;
    /// Virtual network identifier, 24 bits big-endian.
    pub const VNI: Range<usize> = 4..7;
    /// Reserved byte after the VNI.
    pub const RESERVED: usize = 7;
    /// Start of the options area.
    pub const OPTIONS: usize = 8;

    /// Version mask in byte 0.
    pub const VER_MASK: u8 = 0xC0;
    /// Version shift in byte 0.
    pub const VER_SHIFT: u32 = 6;
    /// Opt Len mask in byte 0.
    pub const OPT_LEN_MASK: u8 = 0x3F;
    /// O (OAM / control packet) bit in byte 1.
    pub const OAM_BIT: u8 = 0x80;
    /// C (critical options present) bit in byte 1.
    pub const CRITICAL_BIT: u8 = 0x40;
    /// Reserved bits in byte 1.
    pub const FLAGS_RESERVED_MASK: u8 = 0x3F;

    /// Option TLV: class, big-endian.
    pub const OPTION_CLASS: Range<usize> = 0..2;
    /// Option TLV: type.
    pub const OPTION_TYPE: usize = 2;
    /// Option TLV: 3 reserved bits and 5-bit length.
    pub const OPTION_LEN: usize = 3;
    /// Option TLV: length mask (4-byte words of data).
    pub const OPTION_LEN_MASK: u8 = 0x1F;
}

/// Errors of the Geneve header and option parsers and emitters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the base header, or than the base header
    /// plus the options length it announces; or too short to emit into.
    #[error("buffer too short for the Geneve header and options")]
    Truncated,
    /// The version field is not 0.
    #[error("unknown Geneve version {version}")]
    UnknownVersion {
        /// The version found.
        version: u8,
    },
    /// An option TLV's header or data runs past the end of the options area.
    #[error("Geneve option runs past the options area")]
    OptionTruncated,
    /// Option data to emit is not a multiple of 4 bytes or longer than 124.
    #[error("bad Geneve option data length {len} (must be a multiple of 4, at most 124)")]
    BadOptionDataLen {
        /// The data length given.
        len: usize,
    },
    /// An options length that is not a multiple of 4 bytes or above 252.
    #[error("bad Geneve options length {len} (must be a multiple of 4, at most 252)")]
    BadOptionsLen {
        /// The options length given.
        len: usize,
    },
    /// A VNI that does not fit in 24 bits.
    #[error("VNI {vni} does not fit in 24 bits")]
    VniOutOfRange {
        /// The VNI given.
        vni: u32,
    },
}

/// A read/write view of a Geneve header (and what follows it) in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length. Accessors never panic, but
    /// read missing bytes as zero: call [`check_len`](Self::check_len) first.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the 8-byte base header and the whole
    /// options area that Opt Len announces.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.header_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn byte(&self, index: usize) -> u8 {
        self.buffer.as_ref().get(index).copied().unwrap_or(0)
    }

    /// The version field (2 bits).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.byte(field::VER_OPT_LEN) & field::VER_MASK) >> field::VER_SHIFT
    }

    /// Length of the options area in bytes (Opt Len × 4).
    #[inline]
    pub fn options_len(&self) -> usize {
        usize::from(self.byte(field::VER_OPT_LEN) & field::OPT_LEN_MASK) * 4
    }

    /// The O bit: this is a control (OAM) packet, not data to forward.
    #[inline]
    pub fn oam(&self) -> bool {
        self.byte(field::FLAGS) & field::OAM_BIT != 0
    }

    /// The C bit: critical options are present.
    #[inline]
    pub fn critical(&self) -> bool {
        self.byte(field::FLAGS) & field::CRITICAL_BIT != 0
    }

    /// The reserved bits of byte 1 (sent as zero, ignored on receipt).
    #[inline]
    pub fn flags_reserved(&self) -> u8 {
        self.byte(field::FLAGS) & field::FLAGS_RESERVED_MASK
    }

    /// The reserved byte 7 (sent as zero, ignored on receipt).
    #[inline]
    pub fn reserved(&self) -> u8 {
        self.byte(field::RESERVED)
    }

    /// The protocol type of the payload (an EtherType; 0x6558 for Ethernet).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        u16::from_be_bytes([
            self.byte(field::PROTOCOL.start),
            self.byte(field::PROTOCOL.start + 1),
        ])
    }

    /// The 24-bit virtual network identifier.
    #[inline]
    pub fn vni(&self) -> u32 {
        u32::from_be_bytes([
            0,
            self.byte(field::VNI.start),
            self.byte(field::VNI.start + 1),
            self.byte(field::VNI.start + 2),
        ])
    }

    /// Length of base header plus options, in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// The options area (empty if the buffer does not hold all of it).
    #[inline]
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(field::OPTIONS..self.header_len())
            .unwrap_or(&[])
    }

    /// What follows the header and options (empty if the buffer ends before).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn update(&mut self, index: usize, mask: u8, value: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(index) {
            *b = (*b & !mask) | (value & mask);
        }
    }

    /// Sets the version field (low 2 bits of `version`).
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        self.update(
            field::VER_OPT_LEN,
            field::VER_MASK,
            version << field::VER_SHIFT,
        );
    }

    /// Sets Opt Len from a length in bytes. `len` should be a multiple of 4 and
    /// at most 252: `len / 4` is stored, masked to 6 bits.
    #[inline]
    pub fn set_options_len(&mut self, len: usize) {
        let words = ((len / 4) & usize::from(field::OPT_LEN_MASK)) as u8;
        self.update(field::VER_OPT_LEN, field::OPT_LEN_MASK, words);
    }

    /// Sets the O bit.
    #[inline]
    pub fn set_oam(&mut self, oam: bool) {
        self.update(field::FLAGS, field::OAM_BIT, if oam { 0xFF } else { 0 });
    }

    /// Sets the C bit.
    #[inline]
    pub fn set_critical(&mut self, critical: bool) {
        self.update(
            field::FLAGS,
            field::CRITICAL_BIT,
            if critical { 0xFF } else { 0 },
        );
    }

    /// Sets the reserved bits of byte 1 (low 6 bits of `value`).
    #[inline]
    pub fn set_flags_reserved(&mut self, value: u8) {
        self.update(field::FLAGS, field::FLAGS_RESERVED_MASK, value);
    }

    /// Sets the reserved byte 7.
    #[inline]
    pub fn set_reserved(&mut self, value: u8) {
        self.update(field::RESERVED, 0xFF, value);
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, protocol_type: u16) {
        let [hi, lo] = protocol_type.to_be_bytes();
        self.update(field::PROTOCOL.start, 0xFF, hi);
        self.update(field::PROTOCOL.start + 1, 0xFF, lo);
    }

    /// Sets the VNI (low 24 bits of `vni`); the reserved byte 7 is untouched.
    #[inline]
    pub fn set_vni(&mut self, vni: u32) {
        let [_, a, b, c] = vni.to_be_bytes();
        self.update(field::VNI.start, 0xFF, a);
        self.update(field::VNI.start + 1, 0xFF, b);
        self.update(field::VNI.start + 2, 0xFF, c);
    }

    /// The options area, mutable (empty if the buffer does not hold all of it).
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        self.buffer
            .as_mut()
            .get_mut(field::OPTIONS..end)
            .unwrap_or_default()
    }

    /// What follows the header and options, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buffer.as_mut().get_mut(start..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of a Geneve base header. Options are not part of it: read them
/// with [`options`] from [`Packet::options`], write them with [`emit_option`]
/// into [`Packet::options_mut`] after [`Repr::emit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// O bit: control (OAM) packet.
    pub oam: bool,
    /// C bit: critical options present.
    pub critical: bool,
    /// Protocol type of the payload (an EtherType).
    pub protocol_type: u16,
    /// Virtual network identifier (24 bits).
    pub vni: u32,
    /// Length of the options area in bytes (a multiple of 4, at most 252).
    pub options_len: usize,
}

impl Repr {
    /// Parses a header: checks the length (base header and options present)
    /// and the version (0). Reserved bits are ignored, as the RFC asks.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        packet.check_len()?;
        let version = packet.version();
        if version != VERSION {
            return Err(Error::UnknownVersion { version });
        }
        Ok(Repr {
            oam: packet.oam(),
            critical: packet.critical(),
            protocol_type: packet.protocol_type(),
            vni: packet.vni(),
            options_len: packet.options_len(),
        })
    }

    /// Checks that the fields fit the wire format: VNI in 24 bits, options
    /// length a multiple of 4 and at most 252. [`emit`](Self::emit) masks
    /// fields that do not; call this first when the values are not trusted.
    #[inline]
    pub fn validate(&self) -> Result<(), Error> {
        if self.vni > VNI_MAX {
            return Err(Error::VniOutOfRange { vni: self.vni });
        }
        if self.options_len % 4 != 0 || self.options_len > MAX_OPTIONS_LEN {
            return Err(Error::BadOptionsLen {
                len: self.options_len,
            });
        }
        Ok(())
    }

    /// Length of the header this emits: 8 plus the options length.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len
    }

    /// Writes the base header (version 0, reserved bits zero). The options
    /// area is not touched. Never panics: on a buffer shorter than 8 bytes
    /// the missing bytes are not written.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version(VERSION);
        packet.set_options_len(self.options_len);
        packet.set_flags_reserved(0);
        packet.set_oam(self.oam);
        packet.set_critical(self.critical);
        packet.set_protocol_type(self.protocol_type);
        packet.set_vni(self.vni);
        packet.set_reserved(0);
    }
}

/// One option TLV, borrowed from the options area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionTlv<'a> {
    /// Option class (namespace of the type).
    pub class: u16,
    /// Option type; its high bit (0x80) marks the option critical.
    pub option_type: u8,
    /// Option data (a multiple of 4 bytes, at most 124).
    pub data: &'a [u8],
}

impl OptionTlv<'_> {
    /// The option is critical: an endpoint that does not understand it must
    /// drop the packet.
    #[inline]
    pub fn critical(&self) -> bool {
        self.option_type & OPTION_TYPE_CRITICAL != 0
    }

    /// Bytes the option takes on the wire: 4-byte header plus data.
    #[inline]
    pub fn wire_len(&self) -> usize {
        OPTION_HEADER_LEN + self.data.len()
    }
}

/// Iterator over the option TLVs of an options area; see [`options`].
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

/// Iterates the option TLVs of an options area (as from [`Packet::options`]).
///
/// Yields `Ok` for each whole option and stops after the first `Err`: an
/// option whose header or data runs past the end of `buf` yields
/// [`Error::OptionTruncated`].
#[inline]
pub fn options(buf: &[u8]) -> Options<'_> {
    Options { rest: buf }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<OptionTlv<'a>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        // Whatever happens, this iteration consumes or abandons the input.
        self.rest = &[];
        let (class, option_type, len_byte) = match rest.get(..OPTION_HEADER_LEN) {
            Some(&[c0, c1, t, l]) => (u16::from_be_bytes([c0, c1]), t, l),
            _ => return Some(Err(Error::OptionTruncated)),
        };
        let data_len = usize::from(len_byte & field::OPTION_LEN_MASK) * 4;
        let end = OPTION_HEADER_LEN + data_len;
        match (rest.get(OPTION_HEADER_LEN..end), rest.get(end..)) {
            (Some(data), Some(after)) => {
                self.rest = after;
                Some(Ok(OptionTlv {
                    class,
                    option_type,
                    data,
                }))
            }
            _ => Some(Err(Error::OptionTruncated)),
        }
    }
}

impl FusedIterator for Options<'_> {}

/// Writes one option TLV at the start of `buf` and returns the bytes written
/// (4 + `data.len()`). `data` must be a multiple of 4 bytes, at most 124.
/// The 3 reserved bits are written as zero.
#[inline]
pub fn emit_option(
    buf: &mut [u8],
    class: u16,
    option_type: u8,
    data: &[u8],
) -> Result<usize, Error> {
    if data.len() % 4 != 0 || data.len() > MAX_OPTION_DATA_LEN {
        return Err(Error::BadOptionDataLen { len: data.len() });
    }
    let total = OPTION_HEADER_LEN + data.len();
    let out = buf.get_mut(..total).ok_or(Error::Truncated)?;
    let (header, body) = out.split_at_mut(OPTION_HEADER_LEN);
    let [c0, c1] = class.to_be_bytes();
    // data.len() <= 124, so the word count fits the 5-bit field.
    header.copy_from_slice(&[c0, c1, option_type, (data.len() / 4) as u8]);
    body.copy_from_slice(data);
    Ok(total)
}
