//! Tests of the one dispatcher, `control::service`, over the in-memory
//! backend of `common`: every daemon op, commits (and commits that fail)
//! leaving the backend's configuration whole, capacity limits, and the
//! mapping of commit errors to protocol errors.

mod common;

use std::path::PathBuf;

use common::{readme_hv1, service, zero_stats};
use control::model::{MAX_PORTS, MAX_VIFS};
use control::ops::{Op, PortAddArgs, TransactionArgs};
use control::protocol::{ErrorCode, Response, PROTOCOL_VERSION};
use control::service::{error_body, CommitError};
use control::stats::prometheus;
use control::{Config, MacAddr, ValidationError};
use serde_json::{json, Value};

/// Sends one request line; returns the response.
fn send(service: &mut control::service::Service<common::Fake>, request: Value) -> Response {
    service.handle_line(request.to_string().as_bytes())
}

fn result(response: Response) -> Value {
    assert!(response.error.is_none(), "{}", response.to_line());
    response.result.expect("a result")
}

fn error(response: Response) -> (ErrorCode, String) {
    assert!(response.result.is_none(), "{}", response.to_line());
    let e = response.error.expect("an error");
    (e.code, e.message)
}

/// `port.add` of port `i` of many on vm1 and vm2 (VLANs 100 and up), each
/// with its own MAC.
fn many_port(i: usize) -> Op {
    let (vif, vlan) = if i < 3995 {
        ("vm1", 100 + i)
    } else {
        ("vm2", 100 + i - 3995)
    };
    let mac: MacAddr = format!("02:00:01:00:{:02x}:{:02x}", i >> 8, i & 0xff)
        .parse()
        .unwrap();
    Op::PortAdd(PortAddArgs {
        name: format!("p{i}"),
        vif: vif.into(),
        vlan: Some(vlan as u16),
        switch: "blue".into(),
        mac,
        ips: vec![],
        spoofguard: true,
        dhcp_guard: true,
        ra_guard: true,
        tags: Default::default(),
        default_action: None,
        liberal: None,
    })
}

#[test]
fn a_transaction_beyond_the_port_limit_is_refused_and_changes_nothing() {
    let mut service = service(readme_hv1());
    // The README config has 4 ports: 4,111 more is 4,115.
    let ops: Vec<Op> = (0..4111).map(many_port).collect();
    let transaction = Op::Transaction(TransactionArgs { ops });
    let request = json!({"id": 1, "op": "transaction", "args": transaction.args()});
    let (code, message) = error(send(&mut service, request));
    assert_eq!(code, ErrorCode::InvalidArgument);
    assert_eq!(
        message,
        "transaction: config: ports: too many logical ports (4115): at most 4096 are supported"
    );
    assert_eq!(service.backend().config, readme_hv1());
    assert!(service.backend().commits.is_empty());

    // Up to the limit it is taken.
    let ops: Vec<Op> = (0..MAX_PORTS - 4).map(many_port).collect();
    let transaction = Op::Transaction(TransactionArgs { ops });
    service.run(&transaction).unwrap();
    assert_eq!(service.backend().config.ports.len(), MAX_PORTS);
    assert_eq!(service.backend().commits.len(), 1);
    // One more is refused on its own too, unprefixed.
    let (code, message) = error(send(
        &mut service,
        json!({"id": 2, "op": "port.add", "args": many_port(5000).args()}),
    ));
    assert_eq!(code, ErrorCode::InvalidArgument);
    assert_eq!(
        message,
        "config: ports: too many logical ports (4097): at most 4096 are supported"
    );
    assert_eq!(service.backend().config.ports.len(), MAX_PORTS);
    assert_eq!(service.backend().commits.len(), 1);
}

#[test]
fn config_apply_beyond_the_vif_limit_is_refused() {
    let mut service = service(readme_hv1());
    let mut desired = readme_hv1();
    for i in 0..MAX_VIFS - 1 {
        desired.vifs.push(control::Vif {
            name: format!("v{i}"),
            interface: format!("tap{i}"),
        });
    }
    let request = json!({"id": 3, "op": "config.apply", "args": {"config": desired}});
    let (code, message) = error(send(&mut service, request));
    assert_eq!(code, ErrorCode::InvalidArgument);
    assert_eq!(
        message,
        "config.apply: args.config: config: vifs: too many vifs (257): at most 256 are supported"
    );
    assert_eq!(service.backend().config, readme_hv1());
    assert!(service.backend().commits.is_empty());
}

#[test]
fn a_failed_commit_changes_nothing() {
    let mut service = service(readme_hv1());
    service.backend_mut().fail_commit = Some("interface: no such device".into());
    let want = "vif \"fake\": interface: no such device";

    let (code, message) = error(send(
        &mut service,
        json!({"id": 1, "op": "switch.add", "args": {"name": "red", "vni": 7}}),
    ));
    assert_eq!((code, message.as_str()), (ErrorCode::ApplyFailed, want));

    let (code, message) = error(send(
        &mut service,
        json!({"id": 2, "op": "transaction", "args": {"ops": [
            {"op": "switch.add", "args": {"name": "red", "vni": 7}},
            {"op": "switch.list"}
        ]}}),
    ));
    assert_eq!(code, ErrorCode::ApplyFailed);
    assert_eq!(message, format!("transaction: {want}"));

    let mut desired = readme_hv1();
    desired.ports.pop();
    let (code, message) = error(send(
        &mut service,
        json!({"id": 3, "op": "config.apply", "args": {"config": desired}}),
    ));
    assert_eq!((code, message.as_str()), (ErrorCode::ApplyFailed, want));

    assert_eq!(service.backend().config, readme_hv1());
    assert!(service.backend().commits.is_empty());
    // Queries and dry runs do not commit, so they still work.
    result(send(&mut service, json!({"id": 4, "op": "switch.list"})));
    let dry = result(send(
        &mut service,
        json!({"id": 5, "op": "config.apply", "args": {"config": desired, "dry_run": true}}),
    ));
    assert_eq!(
        dry,
        json!({"changed": false, "changes": ["delete port \"pod2b\""]})
    );
    // Once commits work again, the same request succeeds.
    service.backend_mut().fail_commit = None;
    let applied = result(send(
        &mut service,
        json!({"id": 6, "op": "config.apply", "args": {"config": desired}}),
    ));
    assert_eq!(applied["changed"], json!(true));
    assert_eq!(service.backend().commits.len(), 1);
    assert!(service.backend().config.port("pod2b").is_none());
}

#[test]
fn only_changes_commit() {
    let mut service = service(readme_hv1());
    for op in [
        "switch.list",
        "port.list",
        "config.show",
        "tep.show",
        "version",
    ] {
        result(send(&mut service, json!({"id": 1, "op": op})));
    }
    result(send(&mut service, json!({"id": 1, "op": "stats.show"})));
    result(send(&mut service, json!({"id": 1, "op": "metrics.show"})));
    result(send(
        &mut service,
        json!({"id": 1, "op": "transaction", "args": {"ops": [{"op": "vif.list"}]}}),
    ));
    // Applying the running config changes nothing.
    let same = result(send(
        &mut service,
        json!({"id": 1, "op": "config.apply", "args": {"config": readme_hv1()}}),
    ));
    assert_eq!(same, json!({"changed": false, "changes": []}));
    assert!(service.backend().commits.is_empty());
    result(send(
        &mut service,
        json!({"id": 1, "op": "port.delete", "args": {"name": "pod1a"}}),
    ));
    assert_eq!(service.backend().commits.len(), 1);
    assert!(service.backend().config.port("pod1a").is_none());
}

#[test]
fn version_answers_both_versions() {
    let mut service = service(Config::default());
    let got = result(send(&mut service, json!({"id": "v", "op": "version"})));
    assert_eq!(
        got,
        json!({"protocol": PROTOCOL_VERSION, "daemon": env!("CARGO_PKG_VERSION")})
    );
}

#[test]
fn daemon_ops_refuse_unknown_args_and_keep_the_id() {
    let mut service = service(readme_hv1());
    for (op, args) in [
        ("version", json!({"x": 1})),
        ("stats.show", json!({"ports": "pod1a"})),
        ("stats.clear", json!({"all": true})),
        ("metrics.show", json!({"x": 1})),
        ("config.apply", json!({"config": readme_hv1(), "x": 1})),
        ("transaction", json!({"ops": [], "x": 1})),
    ] {
        let response = send(&mut service, json!({"id": 42, "op": op, "args": args}));
        assert_eq!(response.id, json!(42));
        let (code, message) = error(response);
        assert_eq!(code, ErrorCode::InvalidArgument, "{op}");
        assert!(
            message.starts_with(&format!("{op}: args: unknown field `")),
            "{op}: {message}"
        );
    }
    assert!(service.backend().cleared.is_empty());
    assert!(service.backend().commits.is_empty());
}

#[test]
fn daemon_ops_cannot_be_in_a_transaction() {
    let mut service = service(readme_hv1());
    for op in ["version", "stats.show", "stats.clear", "metrics.show"] {
        let (code, message) = error(send(
            &mut service,
            json!({"id": 1, "op": "transaction", "args": {"ops": [
                {"op": "port.delete", "args": {"name": "pod1a"}},
                {"op": op}
            ]}}),
        ));
        assert_eq!(code, ErrorCode::UnknownOp);
        assert_eq!(
            message,
            format!("ops[1] ({op}): op {op:?} is a daemon op; it cannot be part of a transaction")
        );
    }
    assert_eq!(service.backend().config, readme_hv1());
    // A typed transaction holding a daemon op is refused by the op engine.
    let typed = Op::Transaction(TransactionArgs {
        ops: vec![Op::SwitchList, Op::MetricsShow],
    });
    let e = service.run(&typed).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownOp);
    assert_eq!(
        e.message,
        "ops[1] (metrics.show): op \"metrics.show\" is a daemon op; it cannot be part of a \
         transaction"
    );
}

#[test]
fn stats_show_clear_and_metrics() {
    let mut service = service(readme_hv1());
    let all = result(send(&mut service, json!({"id": 1, "op": "stats.show"})));
    assert_eq!(
        all,
        serde_json::to_value(zero_stats(&readme_hv1())).unwrap()
    );
    let one = result(send(
        &mut service,
        json!({"id": 1, "op": "stats.show", "args": {"port": "pod1a"}}),
    ));
    let ports: Vec<&String> = one["ports"].as_object().unwrap().keys().collect();
    assert_eq!(ports, ["pod1a"]);
    assert_eq!(one["vifs"], all["vifs"]);
    let (code, message) = error(send(
        &mut service,
        json!({"id": 1, "op": "stats.show", "args": {"port": "pod9"}}),
    ));
    assert_eq!(
        (code, message.as_str()),
        (ErrorCode::NotFound, "port \"pod9\" not found")
    );

    result(send(&mut service, json!({"id": 1, "op": "stats.clear"})));
    result(send(
        &mut service,
        json!({"id": 1, "op": "stats.clear", "args": {"port": "pod1b"}}),
    ));
    let (code, message) = error(send(
        &mut service,
        json!({"id": 1, "op": "stats.clear", "args": {"port": "pod9"}}),
    ));
    assert_eq!(
        (code, message.as_str()),
        (ErrorCode::NotFound, "port \"pod9\" not found")
    );
    assert_eq!(service.backend().cleared, [None, Some("pod1b".to_string())]);

    let text = result(send(&mut service, json!({"id": 1, "op": "metrics.show"})));
    assert_eq!(text, json!(prometheus(&zero_stats(&readme_hv1()))));
}

#[test]
fn commit_errors_map_to_codes() {
    let cases = [
        (
            CommitError::Invalid(ValidationError::new(
                "port \"p\"",
                "vlan",
                "4095 is reserved",
            )),
            ErrorCode::InvalidArgument,
            "port \"p\": vlan: 4095 is reserved",
        ),
        (
            CommitError::Capacity {
                object: "vif \"vm9\"".into(),
                kind: "vifs",
                limit: 256,
            },
            ErrorCode::ApplyFailed,
            "vif \"vm9\": too many vifs: at most 256 are supported",
        ),
        (
            CommitError::Attach {
                object: "local_tep".into(),
                reason: "uplink: no such device".into(),
            },
            ErrorCode::ApplyFailed,
            "local_tep: uplink: no such device",
        ),
        (
            CommitError::Persist {
                path: PathBuf::from("/var/lib/xvswitch/state.json"),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            },
            ErrorCode::Internal,
            "saving the state file /var/lib/xvswitch/state.json: permission denied",
        ),
        (
            CommitError::NotFound {
                object: "port \"pod9\"".into(),
            },
            ErrorCode::NotFound,
            "port \"pod9\" not found",
        ),
        (
            CommitError::Internal("the worker did not answer".into()),
            ErrorCode::Internal,
            "the worker did not answer",
        ),
        (
            CommitError::Unsupported {
                op: "conntrack.list",
            },
            ErrorCode::Unsupported,
            "conntrack.list: not yet implemented by this daemon",
        ),
    ];
    for (e, code, message) in cases {
        let body = error_body(&e);
        assert_eq!((body.code, body.message.as_str()), (code, message));
    }
}
