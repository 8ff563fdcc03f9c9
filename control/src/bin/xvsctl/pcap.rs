//! The one packet `xvsctl trace --pcap` takes from a capture file: the
//! classic pcap format (both byte orders, micro- and nanosecond magics),
//! Ethernet link type only.

/// The bytes of packet `index` (1 = the first) of a pcap file.
pub fn packet(file: &[u8], index: usize) -> Result<Vec<u8>, String> {
    if file.len() < 24 {
        return Err("not a pcap file (shorter than its header)".into());
    }
    let magic = [file[0], file[1], file[2], file[3]];
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return Err("not a pcap file (unknown magic; pcapng is not read)".into()),
    };
    let u32_at = |at: usize| {
        let b = [file[at], file[at + 1], file[at + 2], file[at + 3]];
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link = u32_at(20) & 0x0fff_ffff;
    if link != 1 {
        return Err(format!("link type {link}: only Ethernet (1) is traced"));
    }
    if index == 0 {
        return Err("--pcap-index counts from 1".into());
    }
    let mut at = 24;
    let mut n = 0;
    while at + 16 <= file.len() {
        let captured = u32_at(at + 8) as usize;
        let original = u32_at(at + 12) as usize;
        let start = at + 16;
        let end = start
            .checked_add(captured)
            .filter(|e| *e <= file.len())
            .ok_or_else(|| format!("packet {} runs past the end of the file", n + 1))?;
        n += 1;
        if n == index {
            if captured < original {
                return Err(format!(
                    "packet {index} was captured cut ({captured} of {original} bytes)"
                ));
            }
            return Ok(file[start..end].to_vec());
        }
        at = end;
    }
    Err(format!("the file holds {n} packets, not {index}"))
}

#[cfg(test)]
mod tests {
    use super::packet;

    fn pcap(packets: &[&[u8]]) -> Vec<u8> {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        for p in packets {
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&(p.len() as u32).to_le_bytes());
            f.extend_from_slice(&(p.len() as u32).to_le_bytes());
            f.extend_from_slice(p);
        }
        f
    }

    #[test]
    fn reads_the_packet_asked_for() {
        let f = pcap(&[b"first-frame-bytes", b"second"]);
        assert_eq!(packet(&f, 1).unwrap(), b"first-frame-bytes");
        assert_eq!(packet(&f, 2).unwrap(), b"second");
        assert_eq!(
            packet(&f, 3).unwrap_err(),
            "the file holds 2 packets, not 3"
        );
        assert!(packet(&f[..f.len() - 1], 2)
            .unwrap_err()
            .contains("past the end"));
        assert!(packet(b"garbage garbage garbage garbage", 1)
            .unwrap_err()
            .contains("magic"));
    }
}
