//! `xvs-probe`: traffic helpers the testbed runs inside pod and node-VM
//! namespaces: a checksummed TCP transfer (sender and receiver), a raw
//! frame sender, and the firewall tests' helpers (an echo server and a
//! one-shot connect that names how it failed, a connected-UDP error probe,
//! an endless TCP stream and its reader, many new flows in raw frames).
//! Every loop is bounded in count and time.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Testbed traffic helpers (checksummed TCP transfer, raw frames)")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Accept one TCP connection, read to EOF, print `bytes=N fnv=HEX`.
    TcpRecv {
        #[arg(long)]
        port: u16,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Connect, send N pseudo-random bytes from SEED, print `bytes=N fnv=HEX`.
    TcpSend {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long)]
        bytes: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Send COUNT numbered UDP datagrams, one every INTERVAL_US; print `sent=N`.
    UdpSend {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long)]
        count: u32,
        #[arg(long, default_value_t = 1000)]
        interval_us: u64,
    },
    /// Count distinct numbered datagrams until COUNT arrived, TIMEOUT passed,
    /// or 3 s passed without one; print `received=N`.
    UdpRecv {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        count: u32,
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// GET http://ADDR/PATH and print the body (HTTP/1.0, 10 s timeout).
    HttpGet {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value = "/metrics")]
        path: String,
    },
    /// Send COUNT crafted Ethernet frames out of IFACE (optionally
    /// 802.1Q-tagged), at most PPS per second; print `sent=N bytes=B` (B: the
    /// frames' bytes without the tag).
    SendFrames {
        #[arg(long)]
        iface: String,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        vlan: Option<u16>,
        #[arg(long)]
        src_mac: control::MacAddr,
        #[arg(long, default_value = "ff:ff:ff:ff:ff:ff")]
        dst_mac: control::MacAddr,
        /// raw (ethertype 0x88b5), ipv4 (UDP), arp (gratuitous reply), na
        /// (IPv6 neighbour advertisement), ra (IPv6 router advertisement),
        /// ra-dstopts (an RA behind a destination-options header),
        /// ra-fragment (an RA in a first fragment), dhcp-server (UDP 67 ->
        /// 68), dhcp6-server (UDP 547 -> 546); geneve-* (a Geneve packet
        /// from --src-ip to --dst-ip with one flaw: oam (O bit), version 1,
        /// critical (an unknown critical option), protocol (not Ethernet),
        /// truncated (options past the packet)).
        #[arg(long, default_value = "raw")]
        kind: Kind,
        /// Frame lengths in bytes (without the tag), used in turn.
        #[arg(long, value_delimiter = ',', default_value = "60")]
        sizes: Vec<usize>,
        /// IPv4 source (ipv4, dhcp-server) or ARP sender address.
        #[arg(long, default_value = "10.77.0.11")]
        src_ip: std::net::Ipv4Addr,
        #[arg(long, default_value = "10.77.0.12")]
        dst_ip: std::net::Ipv4Addr,
        /// IPv6 source (na, ra); default: the link-local of --src-mac.
        #[arg(long)]
        src_ip6: Option<std::net::Ipv6Addr>,
        /// NA target address.
        #[arg(long, default_value = "fd00::1")]
        target: std::net::Ipv6Addr,
        #[arg(long, default_value_t = 20000)]
        pps: u32,
    },
    /// TCP echo server: accept connections (each echoed on its own thread)
    /// on PORT, IPv6 and IPv4 (IPv4 only when IPv6 is off), until TIMEOUT
    /// seconds passed; prints `listening` once bound.
    TcpServe {
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// One TCP connect with a short timeout; once connected, send 4 bytes
    /// and wait for them to come back. Prints `result=ok`, `result=refused`,
    /// `result=timeout`, `result=unreachable` or `result=error`, with
    /// `errno=N ms=ELAPSED`; exits 0 whatever the result.
    TcpConnect {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
    },
    /// A connected UDP socket sends a datagram to TO and waits INTERVAL_MS
    /// for an answer or an error, up to COUNT times; stops at the first
    /// error (an ICMP error the kernel reported) and prints `sent=N errno=E`
    /// (E = 0: no error).
    UdpProbe {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long, default_value_t = 5)]
        count: u32,
        #[arg(long, default_value_t = 300)]
        interval_ms: u64,
    },
    /// Accept one TCP connection on PORT and write to it without pause
    /// until TIMEOUT seconds passed or the connection fails.
    StreamServe {
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Connect to a stream-serve and read for DURATION_MS; every
    /// INTERVAL_MS print `t=UNIX_MS bytes=TOTAL` (flushed); at the end
    /// `end=duration` or `end=eof`/`end=error:...` (exit 0).
    StreamRecv {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long, default_value_t = 10_000)]
        duration_ms: u64,
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
    },
    /// COUNT new IPv4 flows as raw frames out of IFACE: TCP SYNs or UDP
    /// datagrams from SRC_IP to DST_IP:DPORT, each from its own source port
    /// (distinct for up to 60,000 frames), at most PPS per second, with
    /// correct checksums; prints `sent=N`.
    Flows {
        #[arg(long)]
        iface: String,
        #[arg(long)]
        proto: FlowProto,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        src_mac: control::MacAddr,
        #[arg(long)]
        dst_mac: control::MacAddr,
        #[arg(long)]
        src_ip: std::net::Ipv4Addr,
        #[arg(long)]
        dst_ip: std::net::Ipv4Addr,
        #[arg(long)]
        dport: u16,
        /// Varies the source ports between runs (added to each, mod 60,000).
        #[arg(long, default_value_t = 0)]
        seed: u32,
        #[arg(long, default_value_t = 100_000)]
        pps: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FlowProto {
    /// TCP SYNs.
    Syn,
    /// UDP datagrams (8 bytes of payload).
    Udp,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Kind {
    Raw,
    Ipv4,
    Arp,
    Na,
    Ra,
    RaDstopts,
    RaFragment,
    DhcpServer,
    Dhcp6Server,
    GeneveOam,
    GeneveVersion,
    GeneveCritical,
    GeneveProtocol,
    GeneveTruncated,
}

/// FNV-1a, 64-bit: the transfer checksum both ends compute.
struct Fnv(u64);
impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, data: &[u8]) {
        for b in data {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

fn tcp_recv(port: u16, timeout: Duration) -> Result<(), String> {
    let listener = TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("bind: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    println!("listening");
    let deadline = Instant::now() + timeout;
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err("no connection before the timeout".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let (mut total, mut fnv, mut buf) = (0u64, Fnv::new(), vec![0u8; 65536]);
    loop {
        if Instant::now() > deadline {
            return Err(format!("timeout after {total} bytes"));
        }
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("read after {total} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        fnv.update(&buf[..n]);
        total += n as u64;
    }
    println!("bytes={total} fnv={:016x}", fnv.0);
    Ok(())
}

fn tcp_send(to: SocketAddr, bytes: u64, seed: u64, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut stream = loop {
        match TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => return Err(format!("connect: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let (mut sent, mut fnv, mut state) = (0u64, Fnv::new(), seed | 1);
    let mut buf = vec![0u8; 65536];
    while sent < bytes {
        if Instant::now() > deadline {
            return Err(format!("timeout after {sent} bytes"));
        }
        let n = ((bytes - sent) as usize).min(buf.len());
        for chunk in buf[..n].chunks_mut(8) {
            // xorshift64: deterministic, incompressible test data.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        stream
            .write_all(&buf[..n])
            .map_err(|e| format!("write after {sent} bytes: {e}"))?;
        fnv.update(&buf[..n]);
        sent += n as u64;
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    // Wait for the receiver to close, so every byte has been read.
    let mut end = [0u8; 1];
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.read(&mut end);
    println!("bytes={sent} fnv={:016x}", fnv.0);
    Ok(())
}

fn udp_send(to: SocketAddr, count: u32, interval: Duration) -> Result<(), String> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut sent = 0u32;
    for seq in 0..count {
        let due = start + interval * seq;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if sock.send_to(&seq.to_be_bytes(), to).is_ok() {
            sent += 1;
        }
    }
    println!("sent={sent}");
    Ok(())
}

fn udp_recv(port: u16, count: u32, timeout: Duration) -> Result<(), String> {
    let sock = std::net::UdpSocket::bind(("0.0.0.0", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    println!("listening");
    let deadline = Instant::now() + timeout;
    let mut seen = vec![false; count as usize];
    let (mut received, mut last) = (0u32, None::<Instant>);
    let mut buf = [0u8; 64];
    while received < count && Instant::now() < deadline {
        if last.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
            break;
        }
        let Ok(n) = sock.recv(&mut buf) else { continue };
        if n < 4 {
            continue;
        }
        last = Some(Instant::now());
        let seq = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if let Some(s) = seen.get_mut(seq) {
            if !*s {
                *s = true;
                received += 1;
            }
        }
    }
    println!("received={received}");
    Ok(())
}

fn http_get(addr: SocketAddr, path: &str) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .map_err(|e| format!("read: {e}"))?;
    let (head, body) = resp.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    if !head.starts_with("HTTP/1.0 200") {
        return Err(format!(
            "HTTP error: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    print!("{body}");
    Ok(())
}

/// Options of one crafted frame.
struct Craft {
    kind: Kind,
    src: [u8; 6],
    dst: [u8; 6],
    src_ip: std::net::Ipv4Addr,
    dst_ip: std::net::Ipv4Addr,
    src_ip6: std::net::Ipv6Addr,
    target: std::net::Ipv6Addr,
}

fn link_local(mac: &[u8; 6]) -> std::net::Ipv6Addr {
    let mut a = [0u8; 16];
    a[..2].copy_from_slice(&[0xfe, 0x80]);
    a[8..16].copy_from_slice(&[
        mac[0] ^ 2,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]);
    std::net::Ipv6Addr::from(a)
}

/// An untagged frame of `len` bytes (padded; headers may make it longer).
fn craft(c: &Craft, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&c.dst);
    f.extend_from_slice(&c.src);
    let udp = |f: &mut Vec<u8>, src: std::net::Ipv4Addr, sport: u16, dport: u16| {
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        let total = (len.max(42) - 14) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&c.dst_ip.octets());
        let sum = geneve::ipv4_header_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&(total - 20).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
    };
    // An IPv6 packet to ff02::1 whose first next header is `next`.
    let ip6 = |f: &mut Vec<u8>, next: u8, payload: &[u8]| {
        f.extend_from_slice(&0x86ddu16.to_be_bytes());
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        f.extend_from_slice(&[next, 255]);
        f.extend_from_slice(&c.src_ip6.octets());
        f.extend_from_slice(
            &"ff02::1"
                .parse::<std::net::Ipv6Addr>()
                .expect("ip")
                .octets(),
        );
        f.extend_from_slice(payload);
    };
    let icmp6 = |f: &mut Vec<u8>, icmp: &[u8]| ip6(f, 58, icmp);
    const RA: [u8; 16] = [134, 0, 0, 0, 64, 0, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0];
    // IPv4 + UDP (checksum 0) + Geneve (VNI 5001) around a 60-byte inner
    // broadcast, from --src-ip to --dst-ip, with one flaw.
    let geneve = |f: &mut Vec<u8>, kind: Kind| {
        let mut g = vec![0x00, 0x00, 0x65, 0x58, 0x00, 0x13, 0x89, 0x00];
        match kind {
            Kind::GeneveOam => g[1] |= 0x80,
            Kind::GeneveVersion => g[0] |= 0x40,
            Kind::GeneveProtocol => g[2..4].copy_from_slice(&[0x08, 0x00]),
            Kind::GeneveCritical => {
                g[0] |= 1; // 4 bytes of options
                g[1] |= 0x40; // C: a critical option is present
                g.extend_from_slice(&[0x01, 0x02, 0x85, 0x00]);
            }
            _ => g[0] |= 0x3f, // 252 bytes of options: past the packet
        }
        g.extend_from_slice(&[0xff; 6]);
        g.extend_from_slice(&c.src);
        g.extend_from_slice(&0x88b5u16.to_be_bytes());
        g.resize(g.len() + 46, 0);
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        let total = (20 + 8 + g.len()) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&c.src_ip.octets());
        ip.extend_from_slice(&c.dst_ip.octets());
        let sum = geneve::ipv4_header_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&50000u16.to_be_bytes());
        f.extend_from_slice(&6081u16.to_be_bytes());
        f.extend_from_slice(&(total - 20).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&g);
    };
    match c.kind {
        Kind::Raw => f.extend_from_slice(&0x88b5u16.to_be_bytes()),
        Kind::Ipv4 => udp(&mut f, c.src_ip, 40000, 40001),
        Kind::DhcpServer => udp(&mut f, c.src_ip, 67, 68),
        Kind::Arp => {
            f.extend_from_slice(&0x0806u16.to_be_bytes());
            f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
            f.extend_from_slice(&c.src);
            f.extend_from_slice(&c.src_ip.octets());
            f.extend_from_slice(&[0xff; 6]);
            f.extend_from_slice(&c.src_ip.octets());
        }
        Kind::Na => {
            let mut m = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
            m.extend_from_slice(&c.target.octets());
            m.extend_from_slice(&[2, 1]);
            m.extend_from_slice(&c.src);
            icmp6(&mut f, &m);
        }
        Kind::Ra => icmp6(&mut f, &RA),
        Kind::RaDstopts => {
            // Destination options (8 bytes: PadN) then the RA (RFC 7113).
            let mut p = vec![58, 0, 1, 4, 0, 0, 0, 0];
            p.extend_from_slice(&RA);
            ip6(&mut f, 60, &p);
        }
        Kind::RaFragment => {
            // A first fragment (offset 0, M set) holding the RA.
            let mut p = vec![58, 0, 0, 1, 0, 0, 0x12, 0x34];
            p.extend_from_slice(&RA);
            ip6(&mut f, 44, &p);
        }
        Kind::Dhcp6Server => {
            let mut u = Vec::new();
            u.extend_from_slice(&547u16.to_be_bytes());
            u.extend_from_slice(&546u16.to_be_bytes());
            u.extend_from_slice(&12u16.to_be_bytes());
            u.extend_from_slice(&[0, 0, 2, 0, 0, 1]); // ADVERTISE
            ip6(&mut f, 17, &u);
        }
        Kind::GeneveOam
        | Kind::GeneveVersion
        | Kind::GeneveCritical
        | Kind::GeneveProtocol
        | Kind::GeneveTruncated => geneve(&mut f, c.kind),
    }
    if f.len() < len.max(60) {
        f.resize(len.max(60), 0x5a);
    }
    f
}

fn send_frames(
    iface: &str,
    count: u32,
    vlan: Option<u16>,
    c: &Craft,
    sizes: &[usize],
    pps: u32,
) -> Result<(), String> {
    let ifindex = testbed::ifindex(iface)?;
    let sizes = if sizes.is_empty() { &[60][..] } else { sizes };
    let frames: Vec<Vec<u8>> = sizes
        .iter()
        .map(|len| {
            let mut f = craft(c, *len);
            if let Some(v) = vlan {
                let tag = [0x81, 0x00, (v >> 8) as u8, v as u8];
                f.splice(12..12, tag);
            }
            f
        })
        .collect();
    let tag_len = if vlan.is_some() { 4 } else { 0 };
    let start = Instant::now();
    let (mut sent, mut bytes) = (0u32, 0u64);
    // SAFETY: a raw packet socket we own; sendto reads a frame and the
    // sockaddr_ll we built; the fd is closed at the end.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&c.dst);
        for i in 0..count {
            let due = start + Duration::from_secs_f64(i as f64 / pps.max(1) as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let frame = &frames[i as usize % frames.len()];
            let r = libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            if r == frame.len() as isize {
                sent += 1;
                bytes += (frame.len() - tag_len) as u64;
            }
        }
        libc::close(fd);
    }
    println!("sent={sent} bytes={bytes}");
    if sent != count {
        return Err(format!("only {sent} of {count} frames sent"));
    }
    Ok(())
}

fn tcp_serve(port: u16, timeout: Duration) -> Result<(), String> {
    let listener = TcpListener::bind(("::", port))
        .or_else(|_| TcpListener::bind(("0.0.0.0", port)))
        .map_err(|e| format!("bind: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    println!("listening");
    let _ = std::io::stdout().flush();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((mut s, _)) => {
                std::thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut buf = [0u8; 4096];
                    for _ in 0..10_000 {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
    Ok(())
}

/// The result word of a failed connect or exchange.
fn failure_word(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) | Some(libc::ECONNRESET) => "refused",
        Some(libc::ETIMEDOUT) | Some(libc::EAGAIN) => "timeout",
        Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) | Some(libc::EACCES) => "unreachable",
        _ if e.kind() == std::io::ErrorKind::TimedOut => "timeout",
        _ if e.kind() == std::io::ErrorKind::WouldBlock => "timeout",
        _ => "error",
    }
}

fn tcp_connect(to: SocketAddr, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    let exchange = || -> std::io::Result<()> {
        let mut s = TcpStream::connect_timeout(&to, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(b"xvs\n")?;
        let mut back = [0u8; 4];
        s.read_exact(&mut back)?;
        if &back != b"xvs\n" {
            return Err(std::io::Error::other("echo differs"));
        }
        Ok(())
    };
    let (word, errno) = match exchange() {
        Ok(()) => ("ok", 0),
        Err(e) => (failure_word(&e), e.raw_os_error().unwrap_or(0)),
    };
    println!(
        "result={word} errno={errno} ms={}",
        start.elapsed().as_millis()
    );
    Ok(())
}

fn udp_probe(to: SocketAddr, count: u32, interval: Duration) -> Result<(), String> {
    let any: SocketAddr = if to.is_ipv6() {
        "[::]:0".parse().expect("addr")
    } else {
        "0.0.0.0:0".parse().expect("addr")
    };
    let sock = std::net::UdpSocket::bind(any).map_err(|e| format!("bind: {e}"))?;
    sock.connect(to).map_err(|e| format!("connect: {e}"))?;
    sock.set_read_timeout(Some(interval))
        .map_err(|e| e.to_string())?;
    let (mut sent, mut errno) = (0u32, 0i32);
    let mut buf = [0u8; 64];
    'probe: for seq in 0..count {
        match sock.send(&seq.to_be_bytes()) {
            Ok(_) => sent += 1,
            Err(e) => {
                errno = e.raw_os_error().unwrap_or(-1);
                break;
            }
        }
        let end = Instant::now() + interval;
        while Instant::now() < end {
            match sock.recv(&mut buf) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    errno = e.raw_os_error().unwrap_or(-1);
                    break 'probe;
                }
            }
        }
    }
    println!("sent={sent} errno={errno}");
    Ok(())
}

fn stream_serve(port: u16, timeout: Duration) -> Result<(), String> {
    let listener = TcpListener::bind(("::", port))
        .or_else(|_| TcpListener::bind(("0.0.0.0", port)))
        .map_err(|e| format!("bind: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    println!("listening");
    let _ = std::io::stdout().flush();
    let deadline = Instant::now() + timeout;
    let mut s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err("no connection before the timeout".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    s.set_nonblocking(false).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let buf = vec![0x5au8; 16384];
    while Instant::now() < deadline {
        match s.write(&buf) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    Ok(())
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn stream_recv(to: SocketAddr, duration: Duration, interval: Duration) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut next = start + interval;
    let (mut total, mut buf) = (0u64, vec![0u8; 65536]);
    let mut out = std::io::stdout();
    let end = loop {
        if Instant::now() >= next {
            let _ = writeln!(out, "t={} bytes={total}", unix_ms());
            let _ = out.flush();
            next += interval;
        }
        if start.elapsed() >= duration {
            break "duration".to_string();
        }
        match s.read(&mut buf) {
            Ok(0) => break "eof".to_string(),
            Ok(n) => total += n as u64,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => break format!("error:{}", e.raw_os_error().unwrap_or(0)),
        }
    };
    let _ = writeln!(out, "t={} bytes={total}", unix_ms());
    let _ = writeln!(out, "end={end}");
    let _ = out.flush();
    Ok(())
}

/// The ones' complement sum of `data` folded to 16 bits, added to `sum`.
fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    for pair in data.chunks(2) {
        let word = (pair[0] as u32) << 8 | pair.get(1).copied().unwrap_or(0) as u32;
        sum += word;
    }
    sum
}

fn csum_fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 frame carrying a TCP SYN or an 8-byte UDP datagram.
#[allow(clippy::too_many_arguments)]
fn flow_frame(
    proto: FlowProto,
    src: &[u8; 6],
    dst: &[u8; 6],
    src_ip: std::net::Ipv4Addr,
    dst_ip: std::net::Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(20);
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    let ip_proto = match proto {
        FlowProto::Syn => {
            l4.extend_from_slice(&seq.to_be_bytes());
            l4.extend_from_slice(&0u32.to_be_bytes()); // ack
            l4.extend_from_slice(&[0x50, 0x02]); // 20 bytes, SYN
            l4.extend_from_slice(&64240u16.to_be_bytes()); // window
            l4.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent
            6u8
        }
        FlowProto::Udp => {
            l4.extend_from_slice(&16u16.to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
            l4.extend_from_slice(&seq.to_be_bytes());
            l4.extend_from_slice(&[0x78, 0x76, 0x73, 0x21]);
            17u8
        }
    };
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src_ip.octets());
    pseudo.extend_from_slice(&dst_ip.octets());
    pseudo.extend_from_slice(&[0, ip_proto]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    let sum = csum_fold(csum_add(csum_add(0, &pseudo), &l4));
    let at = if ip_proto == 6 { 16 } else { 6 };
    l4[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    let total = (20 + l4.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, ip_proto, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
    ip.extend_from_slice(&src_ip.octets());
    ip.extend_from_slice(&dst_ip.octets());
    let sum = geneve::ipv4_header_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(dst);
    f.extend_from_slice(src);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

#[allow(clippy::too_many_arguments)]
fn flows(
    iface: &str,
    proto: FlowProto,
    count: u32,
    src: &[u8; 6],
    dst: &[u8; 6],
    src_ip: std::net::Ipv4Addr,
    dst_ip: std::net::Ipv4Addr,
    dport: u16,
    seed: u32,
    pps: u32,
) -> Result<(), String> {
    let ifindex = testbed::ifindex(iface)?;
    let start = Instant::now();
    let mut sent = 0u32;
    // SAFETY: a raw packet socket we own; sendto reads a frame and the
    // sockaddr_ll we built; the fd is closed at the end.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(dst);
        for i in 0..count {
            let due = start + Duration::from_secs_f64(i as f64 / pps.max(1) as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            // Distinct source ports 2000..62000 for up to 60,000 flows.
            let sport = 2000 + ((i.wrapping_add(seed)) % 60_000) as u16;
            let seq = i.wrapping_mul(2_654_435_761).wrapping_add(seed);
            let frame = flow_frame(proto, src, dst, src_ip, dst_ip, sport, dport, seq);
            // A full socket buffer (ENOBUFS) is retried a few times.
            for _ in 0..100 {
                let r = libc::sendto(
                    fd,
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&addr as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                );
                if r == frame.len() as isize {
                    sent += 1;
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        libc::close(fd);
    }
    println!("sent={sent}");
    if sent != count {
        return Err(format!("only {sent} of {count} frames sent"));
    }
    Ok(())
}

fn main() -> ExitCode {
    let r = match Args::parse().cmd {
        Cmd::TcpRecv { port, timeout } => tcp_recv(port, Duration::from_secs(timeout)),
        Cmd::TcpSend {
            to,
            bytes,
            seed,
            timeout,
        } => tcp_send(to, bytes, seed, Duration::from_secs(timeout)),
        Cmd::UdpSend {
            to,
            count,
            interval_us,
        } => udp_send(to, count, Duration::from_micros(interval_us)),
        Cmd::UdpRecv {
            port,
            count,
            timeout,
        } => udp_recv(port, count, Duration::from_secs(timeout)),
        Cmd::HttpGet { addr, path } => http_get(addr, &path),
        Cmd::SendFrames {
            iface,
            count,
            vlan,
            src_mac,
            dst_mac,
            kind,
            sizes,
            src_ip,
            dst_ip,
            src_ip6,
            target,
            pps,
        } => {
            let c = Craft {
                kind,
                src: src_mac.0,
                dst: dst_mac.0,
                src_ip,
                dst_ip,
                src_ip6: src_ip6.unwrap_or_else(|| link_local(&src_mac.0)),
                target,
            };
            send_frames(&iface, count, vlan, &c, &sizes, pps)
        }
        Cmd::TcpServe { port, timeout } => tcp_serve(port, Duration::from_secs(timeout)),
        Cmd::TcpConnect { to, timeout_ms } => tcp_connect(to, Duration::from_millis(timeout_ms)),
        Cmd::UdpProbe {
            to,
            count,
            interval_ms,
        } => udp_probe(to, count, Duration::from_millis(interval_ms)),
        Cmd::StreamServe { port, timeout } => stream_serve(port, Duration::from_secs(timeout)),
        Cmd::StreamRecv {
            to,
            duration_ms,
            interval_ms,
        } => stream_recv(
            to,
            Duration::from_millis(duration_ms),
            Duration::from_millis(interval_ms),
        ),
        Cmd::Flows {
            iface,
            proto,
            count,
            src_mac,
            dst_mac,
            src_ip,
            dst_ip,
            dport,
            seed,
            pps,
        } => flows(
            &iface, proto, count, &src_mac.0, &dst_mac.0, src_ip, dst_ip, dport, seed, pps,
        ),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvs-probe: {e}");
            ExitCode::FAILURE
        }
    }
}
