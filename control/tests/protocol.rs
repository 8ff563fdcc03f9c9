//! Tests of the wire format: parsing request lines, error codes and the
//! response form.

use control::protocol::{
    parse_request, ErrorBody, ErrorCode, Request, Response, DEFAULT_SOCKET, MAX_REQUEST_BYTES,
    PROTOCOL_VERSION,
};
use serde_json::{json, Value};

/// Parses a line that must be refused; returns the response.
fn refused(line: &str) -> Response {
    match parse_request(line.as_bytes()) {
        Ok(request) => panic!("{line}: accepted as {request:?}"),
        Err(response) => response,
    }
}

fn code_of(response: &Response) -> ErrorCode {
    assert!(response.result.is_none(), "{response:?}");
    response.error.as_ref().expect("an error").code
}

#[test]
fn constants() {
    assert_eq!(PROTOCOL_VERSION, 1);
    assert_eq!(MAX_REQUEST_BYTES, 1_048_576);
    assert_eq!(DEFAULT_SOCKET, "/run/xvswitch/xvswitchd.sock");
}

#[test]
fn parses_a_request() {
    let r = parse_request(br#"{"id": 7, "op": "port.show", "args": {"name": "pod1a"}}"#).unwrap();
    assert_eq!(r.id, json!(7));
    assert_eq!(r.op, "port.show");
    assert_eq!(r.args, json!({"name": "pod1a"}));
}

#[test]
fn absent_or_null_args_are_an_empty_object() {
    for line in [
        r#"{"id": "a", "op": "switch.list"}"#,
        r#"{"id": "a", "op": "switch.list", "args": null}"#,
    ] {
        let r = parse_request(line.as_bytes()).unwrap();
        assert_eq!(r.args, json!({}), "{line}");
        assert_eq!(r.id, json!("a"));
    }
}

#[test]
fn any_json_id_is_echoed() {
    for id in [
        json!(null),
        json!(1.5),
        json!("x"),
        json!([1, 2]),
        json!({"k": 1}),
    ] {
        let line = json!({"id": id, "op": "version"}).to_string();
        assert_eq!(parse_request(line.as_bytes()).unwrap().id, id);
    }
}

#[test]
fn malformed_json_is_a_parse_error_with_null_id() {
    for line in [
        "",
        "{",
        r#"{"id": 1, "op": "version""#,
        "{'id': 1}",
        r#"{"id": 1, "op": "version"} trailing"#,
        "\u{feff}",
    ] {
        let response = refused(line);
        assert_eq!(code_of(&response), ErrorCode::ParseError, "{line}");
        assert_eq!(response.id, Value::Null, "{line}");
    }
    // Bytes that are not UTF-8.
    let response = parse_request(b"{\"id\": 1, \"op\": \"\xff\"}").unwrap_err();
    assert_eq!(code_of(&response), ErrorCode::ParseError);
}

#[test]
fn json_that_is_not_an_object_is_invalid() {
    for line in ["[]", "1", "\"version\"", "null", "true"] {
        let response = refused(line);
        assert_eq!(code_of(&response), ErrorCode::InvalidRequest, "{line}");
        assert_eq!(response.id, Value::Null);
        let message = &response.error.unwrap().message;
        assert!(message.contains("must be a JSON object"), "{message}");
    }
}

#[test]
fn missing_op_is_invalid_and_keeps_the_id() {
    let response = refused(r#"{"id": 3, "args": {}}"#);
    assert_eq!(code_of(&response), ErrorCode::InvalidRequest);
    assert_eq!(response.id, json!(3));
    assert!(response.error.unwrap().message.contains("no `op`"));
}

#[test]
fn non_string_op_is_invalid_and_keeps_the_id() {
    for op in ["1", "null", "[\"port.add\"]", "{}"] {
        let response = refused(&format!(r#"{{"id": "x", "op": {op}}}"#));
        assert_eq!(code_of(&response), ErrorCode::InvalidRequest, "{op}");
        assert_eq!(response.id, json!("x"));
        assert!(response
            .error
            .unwrap()
            .message
            .contains("`op` must be a string"));
    }
}

#[test]
fn missing_id_is_invalid() {
    let response = refused(r#"{"op": "version"}"#);
    assert_eq!(code_of(&response), ErrorCode::InvalidRequest);
    assert_eq!(response.id, Value::Null);
    assert!(response.error.unwrap().message.contains("no `id`"));
}

#[test]
fn args_of_the_wrong_type_are_invalid() {
    for args in ["[]", "1", "\"name\"", "true"] {
        let response = refused(&format!(
            r#"{{"id": 9, "op": "port.list", "args": {args}}}"#
        ));
        assert_eq!(code_of(&response), ErrorCode::InvalidRequest, "{args}");
        assert_eq!(response.id, json!(9));
        assert!(response
            .error
            .unwrap()
            .message
            .contains("`args` must be an object"));
    }
}

#[test]
fn unknown_request_fields_are_invalid() {
    let response = refused(r#"{"id": 2, "op": "port.add", "arg": {}}"#);
    assert_eq!(code_of(&response), ErrorCode::InvalidRequest);
    assert_eq!(response.id, json!(2));
    assert!(response
        .error
        .unwrap()
        .message
        .contains("unknown field `arg`"));
}

#[test]
fn response_lines() {
    let ok = Response::ok(json!(1), json!({}));
    assert_eq!(ok.to_line(), "{\"id\":1,\"result\":{}}\n");
    let err = Response::err(
        json!("a"),
        ErrorBody::new(ErrorCode::NotFound, "port \"pod9\" not found"),
    );
    assert_eq!(
        err.to_line(),
        "{\"id\":\"a\",\"error\":{\"code\":\"not_found\",\"message\":\"port \\\"pod9\\\" not found\"}}\n"
    );
    // A null result is still a result.
    assert_eq!(
        Response::ok(json!(2), Value::Null).to_line(),
        "{\"id\":2,\"result\":null}\n"
    );
    // Round trip, a null result included.
    for response in [ok, err, Response::ok(json!(3), Value::Null)] {
        let line = response.to_line();
        assert_eq!(line.matches('\n').count(), 1);
        let back: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(back, response);
    }
}

#[test]
fn request_lines_round_trip() {
    let request = Request::new(4, "switch.show", json!({"name": "blue"}));
    let line = request.to_line();
    assert_eq!(
        line,
        "{\"id\":4,\"op\":\"switch.show\",\"args\":{\"name\":\"blue\"}}\n"
    );
    let back = parse_request(line.trim_end().as_bytes()).unwrap();
    assert_eq!(
        (back.id, back.op, back.args),
        (request.id, request.op, request.args)
    );
}

#[test]
fn error_codes_are_stable_snake_case() {
    let names = [
        "parse_error",
        "invalid_request",
        "unknown_op",
        "invalid_argument",
        "not_found",
        "already_exists",
        "in_use",
        "request_too_large",
        "apply_failed",
        "unsupported",
        "internal",
    ];
    assert_eq!(ErrorCode::ALL.len(), names.len());
    for (code, name) in ErrorCode::ALL.iter().zip(names) {
        assert_eq!(code.to_string(), name);
        assert_eq!(code.as_str(), name);
        assert_eq!(serde_json::to_value(code).unwrap(), json!(name));
        let back: ErrorCode = serde_json::from_value(json!(name)).unwrap();
        assert_eq!(back, *code);
    }
    let body = ErrorBody::new(ErrorCode::InUse, "switch \"blue\" is in use");
    assert_eq!(body.to_string(), "in_use: switch \"blue\" is in use");
}

#[test]
fn typed_requests_and_the_too_large_answer() {
    use control::ops::{NameArgs, Op};
    let op = Op::PortShow(NameArgs {
        name: "pod1a".into(),
    });
    assert_eq!(
        Request::for_op(5, &op).to_line(),
        "{\"id\":5,\"op\":\"port.show\",\"args\":{\"name\":\"pod1a\"}}\n"
    );
    assert_eq!(
        Request::for_op(6, &Op::SwitchList).to_line(),
        "{\"id\":6,\"op\":\"switch.list\",\"args\":{}}\n"
    );
    assert_eq!(
        Response::too_large().to_line(),
        "{\"id\":null,\"error\":{\"code\":\"request_too_large\",\
         \"message\":\"request line longer than 1048576 bytes\"}}\n"
    );
}
