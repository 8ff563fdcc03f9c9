//! The Geneve base header and option TLVs against the RFC 8926 layout.

use geneve::wire::{self, emit_option, options, Error, OptionTlv, Packet, Repr};
use geneve::ETHERTYPE_TEB;

#[test]
fn rfc8926_base_header_layout() {
    // Ver = 2 (top 2 bits), Opt Len = 3 words (low 6 bits): 0b10_000011.
    // Byte 1: O (0x80) and C (0x40) set, reserved bits clear.
    // Protocol 0x6558 at bytes 2-3, VNI 0xABCDEF at bytes 4-6, reserved byte 7
    // = 0xFF (must not leak into the VNI), then 12 bytes of options, then 2
    // bytes of payload.
    let bytes: [u8; 22] = [
        0x83, 0xC0, 0x65, 0x58, // ver 2, opt len 3, O|C, protocol TEB
        0xAB, 0xCD, 0xEF, 0xFF, // VNI, reserved
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, // options area
        0xAA, 0xBB, // payload
    ];
    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.version(), 2);
    assert_eq!(p.options_len(), 12);
    assert!(p.oam());
    assert!(p.critical());
    assert_eq!(p.flags_reserved(), 0);
    assert_eq!(p.protocol_type(), ETHERTYPE_TEB);
    assert_eq!(p.vni(), 0xABCDEF);
    assert_eq!(p.reserved(), 0xFF);
    assert_eq!(p.header_len(), 20);
    assert_eq!(p.options(), &bytes[8..20]);
    assert_eq!(p.payload(), &[0xAA, 0xBB]);
    // Version 2 is not Geneve version 0.
    assert_eq!(Repr::parse(&p), Err(Error::UnknownVersion { version: 2 }));
}

#[test]
fn flag_bits_are_independent() {
    let mut bytes = [0u8; 8];
    for (flags, oam, critical) in [
        (0x80u8, true, false),
        (0x40, false, true),
        (0x3F, false, false),
        (0x00, false, false),
    ] {
        bytes[1] = flags;
        let p = Packet::new_unchecked(&bytes[..]);
        assert_eq!((p.oam(), p.critical()), (oam, critical), "flags {flags:#x}");
        assert_eq!(p.flags_reserved(), flags & 0x3F);
    }
    // Opt Len counts 4-byte words, max 63.
    bytes[0] = 0x3F;
    assert_eq!(Packet::new_unchecked(&bytes[..]).options_len(), 252);
    assert_eq!(Packet::new_unchecked(&bytes[..]).version(), 0);
    bytes[0] = 0x40;
    assert_eq!(Packet::new_unchecked(&bytes[..]).version(), 1);
    assert_eq!(Packet::new_unchecked(&bytes[..]).options_len(), 0);
}

#[test]
fn setters_write_exactly_their_bits() {
    let mut p = Packet::new_unchecked([0u8; 12]);
    p.set_version(3);
    assert_eq!(p.as_ref()[0], 0xC0);
    p.set_options_len(4);
    assert_eq!(p.as_ref()[0], 0xC1);
    p.set_version(0);
    assert_eq!(p.as_ref()[0], 0x01);
    p.set_oam(true);
    assert_eq!(p.as_ref()[1], 0x80);
    p.set_critical(true);
    assert_eq!(p.as_ref()[1], 0xC0);
    p.set_oam(false);
    assert_eq!(p.as_ref()[1], 0x40);
    p.set_protocol_type(0x1234);
    assert_eq!(&p.as_ref()[2..4], &[0x12, 0x34]);
    p.set_reserved(0x77);
    p.set_vni(0xFF_AB_CD_EF); // masked to 24 bits
    assert_eq!(&p.as_ref()[4..8], &[0xAB, 0xCD, 0xEF, 0x77]);
    p.options_mut().copy_from_slice(&[9, 9, 9, 9]);
    assert_eq!(&p.as_ref()[8..12], &[9, 9, 9, 9]);
    assert!(p.payload_mut().is_empty());
}

#[test]
fn repr_round_trip_and_reserved_cleared() {
    let repr = Repr {
        oam: true,
        critical: false,
        protocol_type: ETHERTYPE_TEB,
        vni: 0x00_12_34_56,
        options_len: 8,
    };
    assert_eq!(repr.header_len(), 16);
    assert_eq!(repr.validate(), Ok(()));
    let mut buf = [0xFFu8; 20];
    let mut p = Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut p);
    assert_eq!(Repr::parse(&p), Ok(repr));
    assert_eq!(
        &buf[..8],
        &[0x02, 0x80, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00],
        "version 0, opt len 2 words, O bit, reserved bits zero"
    );
    // Options area untouched by emit.
    assert_eq!(&buf[8..16], &[0xFF; 8]);
}

#[test]
fn repr_validate() {
    let ok = Repr {
        oam: false,
        critical: false,
        protocol_type: ETHERTYPE_TEB,
        vni: wire::VNI_MAX,
        options_len: 252,
    };
    assert_eq!(ok.validate(), Ok(()));
    let vni = Repr { vni: 1 << 24, ..ok };
    assert_eq!(vni.validate(), Err(Error::VniOutOfRange { vni: 1 << 24 }));
    let odd = Repr {
        options_len: 6,
        ..ok
    };
    assert_eq!(odd.validate(), Err(Error::BadOptionsLen { len: 6 }));
    let big = Repr {
        options_len: 256,
        ..ok
    };
    assert_eq!(big.validate(), Err(Error::BadOptionsLen { len: 256 }));
}

#[test]
fn truncation_checked_up_front() {
    let hdr = [0x00, 0x00, 0x65, 0x58, 0, 0, 1, 0];
    assert_eq!(Packet::new_checked(&hdr[..7]).err(), Some(Error::Truncated));
    assert!(Packet::new_checked(&hdr[..]).is_ok());
    // Opt Len 1 word but only 3 option bytes present.
    let short = [0x01, 0x00, 0x65, 0x58, 0, 0, 1, 0, 0, 0, 0];
    assert_eq!(
        Packet::new_checked(&short[..]).err(),
        Some(Error::Truncated)
    );
    assert_eq!(
        Repr::parse(&Packet::new_unchecked(&short[..])),
        Err(Error::Truncated)
    );
    let exact = [0x01, 0x00, 0x65, 0x58, 0, 0, 1, 0, 0, 0, 0, 0];
    let p = Packet::new_checked(&exact[..]).unwrap();
    assert!(p.payload().is_empty());
}

#[test]
fn unchecked_short_buffers_never_panic() {
    for len in 0..12 {
        let mut buf = vec![0xFFu8; len];
        let p = Packet::new_unchecked(&buf[..]);
        let _ = (p.version(), p.options_len(), p.oam(), p.critical());
        let _ = (p.protocol_type(), p.vni(), p.header_len(), p.reserved());
        let _ = (p.options(), p.payload(), p.check_len(), Repr::parse(&p));
        let mut p = Packet::new_unchecked(&mut buf[..]);
        Repr {
            oam: true,
            critical: true,
            protocol_type: 1,
            vni: 2,
            options_len: 252,
        }
        .emit(&mut p);
        let _ = p.options_mut().len() + p.payload_mut().len();
    }
}

#[test]
fn option_tlvs_parse() {
    // Options area of 24 bytes: three options.
    let area: [u8; 24] = [
        0x01, 0x02, 0x03, 0x01, // class 0x0102, type 0x03 (not critical), 1 word
        0xDE, 0xAD, 0xBE, 0xEF, //   data
        0xFF, 0xFF, 0x85,
        0xE2, // class 0xFFFF, type 0x85 (critical), reserved bits 111, 2 words
        1, 2, 3, 4, 5, 6, 7, 8, //   data
        0x00, 0x00, 0x00, 0x00, // class 0, type 0, no data
    ];
    let opts: Vec<OptionTlv<'_>> = options(&area).collect::<Result<_, _>>().unwrap();
    assert_eq!(opts.len(), 3);
    assert_eq!(
        opts[0],
        OptionTlv {
            class: 0x0102,
            option_type: 0x03,
            data: &[0xDE, 0xAD, 0xBE, 0xEF]
        }
    );
    assert!(!opts[0].critical());
    assert_eq!(opts[0].wire_len(), 8);
    assert_eq!(opts[1].class, 0xFFFF);
    assert_eq!(opts[1].option_type, 0x85);
    assert!(opts[1].critical());
    assert_eq!(opts[1].data, &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(opts[2].data.is_empty());
    assert!(options(&[]).next().is_none());
}

#[test]
fn option_running_past_area_is_an_error() {
    // Length says 2 words but only 1 word of data is in the area.
    let area = [0x01, 0x02, 0x03, 0x02, 0xDE, 0xAD, 0xBE, 0xEF];
    let mut it = options(&area);
    assert_eq!(it.next(), Some(Err(Error::OptionTruncated)));
    assert_eq!(it.next(), None);
    // A good option followed by a partial option header.
    let area = [0x01, 0x02, 0x03, 0x00, 0xAA, 0xBB];
    let mut it = options(&area);
    assert!(matches!(
        it.next(),
        Some(Ok(OptionTlv { class: 0x0102, .. }))
    ));
    assert_eq!(it.next(), Some(Err(Error::OptionTruncated)));
    assert_eq!(it.next(), None);
}

#[test]
fn emit_option_round_trip() {
    let mut buf = [0u8; 16];
    let n = emit_option(&mut buf, 0x0104, 0x81, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    assert_eq!(n, 12);
    assert_eq!(&buf[..4], &[0x01, 0x04, 0x81, 0x02]);
    let n2 = emit_option(&mut buf[n..], 0x0001, 0x02, &[]).unwrap();
    assert_eq!(n2, 4);
    let opts: Vec<_> = options(&buf).collect::<Result<_, _>>().unwrap();
    assert_eq!(opts.len(), 2);
    assert!(opts[0].critical());
    assert_eq!(opts[0].data, &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!((opts[1].class, opts[1].option_type), (1, 2));

    assert_eq!(
        emit_option(&mut buf, 1, 1, &[0; 3]),
        Err(Error::BadOptionDataLen { len: 3 })
    );
    assert_eq!(
        emit_option(&mut [0u8; 200], 1, 1, &[0; 128]),
        Err(Error::BadOptionDataLen { len: 128 })
    );
    assert!(emit_option(&mut [0u8; 128], 1, 1, &[0; 124]).is_ok());
    assert_eq!(
        emit_option(&mut buf[..7], 1, 1, &[0; 4]),
        Err(Error::Truncated)
    );
}

#[test]
fn header_with_emitted_options() {
    let mut buf = [0u8; 8 + 8 + 4];
    let repr = Repr {
        oam: false,
        critical: true,
        protocol_type: ETHERTYPE_TEB,
        vni: 7,
        options_len: 8,
    };
    let mut p = Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut p);
    emit_option(p.options_mut(), 0x0105, 0x80, &[0xAA; 4]).unwrap();
    p.payload_mut().copy_from_slice(&[1, 2, 3, 4]);
    let p = Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(Repr::parse(&p), Ok(repr));
    let opt = options(p.options()).next().unwrap().unwrap();
    assert_eq!(
        (opt.class, opt.option_type, opt.data),
        (0x0105, 0x80, &[0xAA; 4][..])
    );
    assert_eq!(p.payload(), &[1, 2, 3, 4]);
}
