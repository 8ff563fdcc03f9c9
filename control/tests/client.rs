//! End-to-end tests over a real Unix socket: the client library and the
//! `xvsctl` binary against the control service (`control::service`, the
//! dispatcher xvswitchd runs) over the in-memory backend of `common`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;

use common::{readme_hv1, serve, service, README_HV1};
use control::client::{Client, ClientError};
use control::ops::{normalize, NameArgs, Op, SwitchAddArgs};
use control::protocol::ErrorCode;
use control::Config;
use serde_json::{json, Value};

/// Not a server of the protocol: a peer that answers each request line
/// with the next of `answers`, right or wrong, to test the client's checks.
fn serve_canned(path: &Path, answers: &'static [&'static str]) {
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            for answer in answers {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let _ = writer.write_all(answer.as_bytes());
            }
        }
    });
}

#[test]
fn client_calls_and_errors() {
    let dir = common::TempDir::new("client");
    let socket = dir.join("sock");
    let state = serve(&socket, service(readme_hv1()));
    let config = |state: &common::Shared| state.lock().unwrap().backend().config.clone();

    let mut client = Client::connect(&socket).unwrap();
    let version = client.run(&Op::Version).unwrap();
    assert_eq!(version["protocol"], json!(1));
    assert_eq!(version["daemon"], json!(env!("CARGO_PKG_VERSION")));

    // Typed ops: the name and args come from the op schema.
    let orange = Op::SwitchAdd(SwitchAddArgs {
        name: "orange".into(),
        vni: 5009,
        remote_teps: vec![],
        remote_macs: vec![],
    });
    assert_eq!(client.run(&orange).unwrap(), json!({}));
    assert_eq!(config(&state).switch("orange").unwrap().vni, 5009);
    let shown = client
        .run(&Op::SwitchShow(NameArgs {
            name: "orange".into(),
        }))
        .unwrap();
    assert_eq!(shown["vni"], json!(5009));
    match client.run(&orange) {
        Err(ClientError::Daemon(e)) => assert_eq!(e.code, ErrorCode::AlreadyExists),
        other => panic!("{other:?}"),
    }
    client
        .run(&Op::SwitchDelete(control::ops::DeleteArgs {
            name: "orange".into(),
            cascade: false,
        }))
        .unwrap();

    assert_eq!(
        client
            .call("switch.add", json!({"name": "red", "vni": 5003}))
            .unwrap(),
        json!({})
    );
    assert!(config(&state).switch("red").is_some());
    let tep = client.call("tep.show", Value::Null).unwrap();
    assert_eq!(tep["ip"], json!("198.18.0.1"));

    // A null result is a result.
    state.lock().unwrap().backend_mut().config = Config::default();
    assert_eq!(client.call("tep.show", json!({})).unwrap(), Value::Null);
    state.lock().unwrap().backend_mut().config = readme_hv1();
    client
        .call("switch.add", json!({"name": "red", "vni": 5003}))
        .unwrap();

    match client.call("switch.add", json!({"name": "red", "vni": 5004})) {
        Err(ClientError::Daemon(e)) => {
            assert_eq!(e.code, ErrorCode::AlreadyExists);
            assert_eq!(
                e.to_string(),
                "already_exists: switch \"red\" already exists"
            );
        }
        other => panic!("{other:?}"),
    }
    // The connection stays usable after an error.
    let switches = client.call("switch.list", json!({})).unwrap();
    assert_eq!(switches.as_array().unwrap().len(), 3);

    // A second client sees the same state.
    let mut other = Client::connect(&socket).unwrap();
    assert_eq!(
        other.call("switch.show", json!({"name": "red"})).unwrap()["vni"],
        json!(5003)
    );
}

#[test]
fn client_checks_the_response() {
    let dir = common::TempDir::new("canned");
    let socket = dir.join("sock");
    serve_canned(
        &socket,
        &[
            "{\"id\":1,\"result\":{}}\n",
            "{\"id\":99,\"result\":{}}\n",
            "not json\n",
        ],
    );
    let mut client = Client::connect(&socket).unwrap();
    assert_eq!(client.call("tep.show", json!({})).unwrap(), json!({}));
    match client.call("tep.show", json!({})) {
        Err(ClientError::Protocol(m)) => assert!(m.contains("does not match request id 2"), "{m}"),
        other => panic!("{other:?}"),
    }
    match client.call("tep.show", json!({})) {
        Err(ClientError::Protocol(m)) => assert!(m.contains("not valid"), "{m}"),
        other => panic!("{other:?}"),
    }
    // The server is gone after its answers.
    assert!(client.call("tep.show", json!({})).is_err());
}

#[test]
fn client_reports_a_missing_daemon() {
    let dir = common::TempDir::new("missing");
    match Client::connect(&dir.join("nothing-here")) {
        Err(ClientError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversize_request_is_refused_by_the_service() {
    let mut service = service(readme_hv1());
    let line = format!(
        "{{\"id\":1,\"op\":\"switch.list\",\"args\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(control::protocol::MAX_REQUEST_BYTES)
    );
    let response = service.handle_line(line.as_bytes());
    assert_eq!(response.error.unwrap().code, ErrorCode::RequestTooLarge);
    assert_eq!(response.id, Value::Null);
}

fn xvsctl(socket: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xvsctl"));
    command
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("XVSCTL_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeds(socket: &Path, args: &[&str]) -> String {
    let output = xvsctl(socket, args, None);
    assert!(
        output.status.success(),
        "xvsctl {args:?}: {:?}\n{}",
        output.status,
        stderr(&output)
    );
    stdout(&output)
}

#[test]
fn xvsctl_end_to_end() {
    let dir = common::TempDir::new("xvsctl");
    let socket = dir.join("sock");
    let state = serve(&socket, service(readme_hv1()));
    let port_of = |name: &str| {
        let state = state.lock().unwrap();
        state.backend().config.port(name).cloned()
    };

    let out = succeeds(&socket, &["version"]);
    assert!(out.contains("protocol   1"), "{out}");

    // Changes are silent; lists are tables.
    let out = succeeds(
        &socket,
        &[
            "port",
            "add",
            "pod1c",
            "--vif",
            "vm1",
            "--vlan",
            "12",
            "--switch",
            "green",
            "--mac",
            "02:00:00:77:00:0d",
            "--ip",
            "10.77.0.13",
            "--dhcp-guard",
            "off",
        ],
    );
    assert_eq!(out, "");
    let out = succeeds(&socket, &["port", "list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "NAME   VIF  VLAN  SWITCH  MAC                IPS         GUARDS      TAGS  FIREWALL"
    );
    assert_eq!(
        lines[1],
        "pod1a  vm1    10  blue    02:00:00:77:00:0b  10.77.0.11  sg,dhcp,ra  -     -"
    );
    assert_eq!(
        lines[3],
        "pod1c  vm1    12  green   02:00:00:77:00:0d  10.77.0.13  sg,ra       -     -"
    );
    assert_eq!(lines.len(), 6);
    succeeds(
        &socket,
        &[
            "port",
            "change",
            "pod1c",
            "--spoofguard",
            "off",
            "--dhcp-guard",
            "on",
        ],
    );
    let port = port_of("pod1c").unwrap();
    assert_eq!(
        (port.spoofguard, port.dhcp_guard, port.ra_guard),
        (false, true, true)
    );

    succeeds(
        &socket,
        &["port", "change", "pod1c", "--untagged", "--no-ips"],
    );
    let port = port_of("pod1c").unwrap();
    assert_eq!((port.vlan, port.ips.len()), (None, 0));

    let out = succeeds(&socket, &["--json", "port", "show", "pod1c"]);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["vlan"], Value::Null);

    let out = succeeds(&socket, &["switch", "show", "blue"]);
    assert!(
        out.contains("remote_macs  02:00:00:77:00:1f via 198.18.0.2"),
        "{out}"
    );
    let out = succeeds(&socket, &["tep", "show"]);
    assert_eq!(out, "UPLINK  IP          MTU\nuplink  198.18.0.1  1600\n");

    // A daemon error: exit 1 and the code and message on stderr.
    let output = xvsctl(&socket, &["switch", "delete", "blue"], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "xvsctl: in_use: switch \"blue\" is in use by ports \"pod1a\", \"pod1b\", \"pod2a\" \
         (delete them first, or use cascade)\n"
    );

    // show config prints the config JSON; apply of the README config puts
    // it back; a second apply changes nothing.
    let out = succeeds(&socket, &["show", "config"]);
    let shown: Config = serde_json::from_str(&out).unwrap();
    assert!(!shown.port("pod1c").unwrap().spoofguard);
    assert!(out.contains("\"spoofguard\": false") && !out.contains("dhcp_guard"));
    let file = dir.join("hv1.json");
    std::fs::write(&file, README_HV1).unwrap();
    let file = file.to_str().unwrap();
    let out = succeeds(&socket, &["apply", "--dry-run", "-f", file]);
    assert_eq!(out, "delete port \"pod1c\"\n");
    assert!(port_of("pod1c").is_some());
    let out = succeeds(&socket, &["apply", "-f", file]);
    assert_eq!(out, "delete port \"pod1c\"\n");
    let out = succeeds(&socket, &["apply", "-f", file]);
    assert_eq!(out, "no changes\n");
    let output = xvsctl(&socket, &["apply", "-f", "-"], Some(README_HV1));
    assert_eq!(stdout(&output), "no changes\n");

    // A transaction from stdin.
    let ops = r#"[{"op": "switch.add", "args": {"name": "red", "vni": 5003}},
                  {"op": "port.change", "args": {"name": "pod2b", "switch": "red"}}]"#;
    let output = xvsctl(&socket, &["transaction", "-f", "-"], Some(ops));
    assert!(output.status.success(), "{}", stderr(&output));
    let result: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(result, json!({"results": [{}, {}]}));
    assert_eq!(port_of("pod2b").unwrap().switch, "red");

    // raw and stats.
    let out = succeeds(&socket, &["raw", "switch.show", r#"{"name": "red"}"#]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["vni"],
        json!(5003)
    );
    let out = succeeds(&socket, &["stats"]);
    assert!(
        out.starts_with(
            "NAME   SWITCH  RX_PKTS  RX_BYTES  TX_PKTS  TX_BYTES  RX_BCAST  RX_MCAST  DROPS\n\
             pod1a  blue          0         0        0         0         0         0      0\n"
        ),
        "{out}"
    );
    assert!(out.contains("\nuplink  -  "), "{out}");
    let out = succeeds(&socket, &["stats", "--sort", "tx_bytes"]);
    assert!(out.contains("pod2b  red"), "{out}");
    let out = succeeds(&socket, &["stats", "port", "pod1a"]);
    assert!(
        out.starts_with("port          pod1a\nswitch        blue\n"),
        "{out}"
    );
    assert!(out.ends_with("\ndrops         0\n"), "{out}");
    assert_eq!(succeeds(&socket, &["stats", "clear"]), "cleared\n");
    assert_eq!(
        succeeds(&socket, &["stats", "clear", "port", "pod1a"]),
        "cleared\n"
    );
    let output = xvsctl(&socket, &["stats", "clear", "port", "pod9"], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "xvsctl: not_found: port \"pod9\" not found\n"
    );
    // metrics: the text as it is; with --json, a JSON string.
    let out = succeeds(&socket, &["metrics"]);
    assert!(
        out.starts_with("# HELP xvswitch_port_rx_packets_total "),
        "{out}"
    );
    assert!(
        out.contains("\nxvswitch_port_rx_packets_total{port=\"pod1a\",switch=\"blue\"} 0\n"),
        "{out}"
    );
    assert!(!out.ends_with("\n\n"), "{out}");
    let out = succeeds(&socket, &["--json", "metrics"]);
    let text: String = serde_json::from_str(&out).unwrap();
    assert!(text.starts_with("# HELP"), "{text}");

    // A bad file is a usage error, reported with its position.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"switches\": [}").unwrap();
    let output = xvsctl(&socket, &["apply", "-f", bad.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("line 1 column"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn xvsctl_without_a_daemon_exits_2() {
    let dir = common::TempDir::new("nodaemon");
    let socket = dir.join("sock");
    let output = xvsctl(&socket, &["port", "list"], None);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!("xvsctl: cannot connect to {}: ", socket.display())),
        "{message}"
    );
}

#[test]
fn xvsctl_socket_from_the_environment() {
    let dir = common::TempDir::new("env");
    let socket = dir.join("sock");
    serve(&socket, service(readme_hv1()));
    let output = Command::new(env!("CARGO_BIN_EXE_xvsctl"))
        .args(["vif", "list"])
        .env("XVSCTL_SOCKET", &socket)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "NAME  INTERFACE\nvm1   vm1\nvm2   vm2\n");
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The firewall through `xvsctl`: `apply -f` of a configuration with all
/// of it, the tables, tags moving group members, the conntrack commands,
/// and refusals that leave the running configuration alone.
#[test]
fn xvsctl_firewall_end_to_end() {
    let dir = common::TempDir::new("xvsctl-fw");
    let socket = dir.join("sock");
    let mut backend = service(Config::default());
    backend.backend_mut().conntrack = common::sample_conntrack();
    backend.backend_mut().hits = Some(
        [(
            "web-in".to_string(),
            control::fwstats::RuleHits {
                packets: 12,
                bytes: 3400,
                connections: 3,
            },
        )]
        .into_iter()
        .collect(),
    );
    let state = serve(&socket, backend);
    let config = || state.lock().unwrap().backend().config.clone();

    let file = dir.join("hv1-fw.json");
    std::fs::write(&file, common::hv1_fw_json()).unwrap();
    let file = file.to_str().unwrap();
    let out = succeeds(&socket, &["apply", "-f", file]);
    assert!(out.contains("add rule \"web-in\"\n"), "{out}");
    assert_eq!(normalize(&config()), normalize(&common::hv1_fw()));
    assert_eq!(succeeds(&socket, &["apply", "-f", file]), "no changes\n");
    // What `show config` prints applies back to no changes: the state
    // file's form round-trips.
    let shown = succeeds(&socket, &["show", "config"]);
    let output = xvsctl(&socket, &["apply", "-f", "-"], Some(&shown));
    assert_eq!(stdout(&output), "no changes\n", "{}", stderr(&output));

    let out = succeeds(&socket, &["group", "show", "web"]);
    assert_eq!(
        out,
        "name        web\n\
         match_tags  app=web\n\
         ports       -\n\
         cidrs       -\n\
         members     pod-a\n            pod-c\n\
         addresses   10.1.0.10/32\n            10.1.0.12/32\n            fd00:1::a/128\n"
    );
    // A tag moves pod-d into the group; the rules are untouched.
    let rules = config().rules;
    succeeds(&socket, &["port", "tag", "pod-d", "app=web"]);
    let out = succeeds(&socket, &["group", "show", "web"]);
    assert!(out.contains("            pod-d\n"), "{out}");
    assert_eq!(config().rules, rules);
    let out = succeeds(&socket, &["group", "list"]);
    assert!(
        out.lines().any(|l| words(l) == words("web app=web - - 3")),
        "{out}"
    );

    let out = succeeds(&socket, &["rule", "list", "--section", "apps"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        words(lines[0]),
        words(
            "SECTION PRIO ID DIR APPLIED_TO SOURCES DESTINATIONS SERVICE ACTION FLAGS \
             PACKETS BYTES CONNS"
        )
    );
    assert_eq!(
        words(lines[1]),
        words("apps 10 web-in in group:web any any tcp:80,8000-8080 allow log 12 3400 3")
    );
    assert_eq!(
        words(lines[3]),
        words("apps 30 ping both switch:ls-blue any any icmp:8/0 allow stateless 0 0 0")
    );
    succeeds(
        &socket,
        &words(
            "rule add ssh --section baseline --priority 2 --applied-to group:prod-web \
             --src 10.0.0.0/8 --proto tcp --dport 22 --action allow",
        ),
    );
    succeeds(&socket, &words("rule change ssh --action reject --log on"));
    let out = succeeds(&socket, &["rule", "show", "ssh"]);
    assert!(out.contains("action            reject\n"), "{out}");
    assert!(out.contains("log               on\n"), "{out}");
    assert!(out.contains("sources           10.0.0.0/8\n"), "{out}");
    let out = succeeds(&socket, &["section", "list"]);
    assert_eq!(
        out,
        "POSITION  NAME      RULES\n      10  baseline      3\n     100  apps          3\n    1000  default       2\n"
    );

    // Refusals name the field and leave the configuration alone.
    let before = config();
    let output = xvsctl(
        &socket,
        &words("rule add bad --section apps --priority 40 --proto icmp --dport 80 --action allow"),
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "xvsctl: invalid_argument: rule \"bad\": service.dst_ports: protocol icmp has no ports (dst_ports need tcp or udp)\n"
    );
    let output = xvsctl(&socket, &["group", "delete", "web"], None);
    assert_eq!(
        stderr(&output),
        "xvsctl: in_use: group \"web\" is in use by rules \"web-in\", \"db-from-web\" (remove the references first)\n"
    );
    assert_eq!(config(), before);

    succeeds(
        &socket,
        &words("firewall set --strict off --timeout udp=45 --log-rate 10"),
    );
    let out = succeeds(&socket, &["firewall", "show"]);
    assert!(out.contains("strict                    off\n"), "{out}");
    assert!(out.contains("timeouts.udp              45s\n"), "{out}");
    assert!(out.contains("default_action            drop\n"), "{out}");

    // Connections: the in-memory backend holds the README ports' sample.
    let out = succeeds(&socket, &["conntrack", "list", "--proto", "tcp"]);
    assert_eq!(
        out,
        "PORT   PROTO  SOURCE            DESTINATION    STATE        RULE    EXPIRES\n\
         pod1a  tcp    10.77.0.21:40512  10.77.0.11:80  established  web-in  431998s\n"
    );
    let out = succeeds(&socket, &["conntrack", "list", "--limit", "1"]);
    assert!(
        out.ends_with("(1 of 3 connections; --limit shows more)\n"),
        "{out}"
    );
    let out = succeeds(&socket, &["conntrack", "stats"]);
    assert!(out.starts_with("connections      3\n"), "{out}");
    let output = xvsctl(&socket, &["conntrack", "flush", "--port", "pod-a"], None);
    assert_eq!(
        stdout(&output),
        "flushed 0 connections\n",
        "{}",
        stderr(&output)
    );
    assert_eq!(
        succeeds(&socket, &["conntrack", "flush"]),
        "flushed 3 connections\n"
    );
}
