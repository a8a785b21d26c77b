//! `kapsel tenant …` and `kapsel token …`: the admin's command line, a thin client of the
//! `/kapsel/v1` API over the daemon's unix socket (or TCP with an admin token).

use std::io::{Read, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::config::{AdminTarget, DEFAULT_DATA_ROOT, Listen, TenantAction, TokenAction, parse_host};

/// Runs a `tenant` command; prints the daemon's JSON answer.
pub fn tenant(target: &AdminTarget, action: &TenantAction) -> ExitCode {
    let result = (|| -> Result<(u16, Value), String> {
        match action {
            TenantAction::Create { name, quotas, defaults } => {
                let body = json!({"name": name, "quotas": json_arg(quotas)?, "defaults": json_arg(defaults)?});
                call(target, "POST", "/kapsel/v1/tenants", Some(&body))
            }
            TenantAction::Ls => call(target, "GET", "/kapsel/v1/tenants", None),
            TenantAction::Inspect { name } => call(target, "GET", &format!("/kapsel/v1/tenants/{name}"), None),
            TenantAction::Update { name, quotas, defaults } => {
                let mut body = json!({});
                if quotas.is_some() {
                    body["quotas"] = json_arg(quotas)?;
                }
                if defaults.is_some() {
                    body["defaults"] = json_arg(defaults)?;
                }
                call(target, "PUT", &format!("/kapsel/v1/tenants/{name}"), Some(&body))
            }
            TenantAction::Rm { name } => call(target, "DELETE", &format!("/kapsel/v1/tenants/{name}"), None),
        }
    })();
    finish(result)
}

/// Runs a `token` command; `create` prints the token alone on its last line.
pub fn token(target: &AdminTarget, action: &TokenAction) -> ExitCode {
    let result = match action {
        TokenAction::Create { tenant } => call(target, "POST", &format!("/kapsel/v1/tenants/{tenant}/tokens"), None),
        TokenAction::Revoke { id } => call(target, "DELETE", &format!("/kapsel/v1/tokens/{id}"), None),
    };
    finish(result)
}

fn json_arg(text: &Option<String>) -> Result<Value, String> {
    match text {
        Some(text) => serde_json::from_str(text).map_err(|e| format!("not JSON: {e}: {text}")),
        None => Ok(json!({})),
    }
}

fn finish(result: Result<(u16, Value), String>) -> ExitCode {
    match result {
        Ok((status, body)) if status < 300 => {
            if !body.is_null() {
                println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            let message =
                body.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| body.to_string());
            eprintln!("kapsel: {message} (HTTP {status})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("kapsel: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One HTTP/1.1 request with `Connection: close`; the status and the JSON body (null when
/// empty).
fn call(target: &AdminTarget, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let host = target.host.clone().unwrap_or_else(|| format!("unix://{DEFAULT_DATA_ROOT}/kapsel.sock"));
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: kapsel\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    if let Some(token) = &target.token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let mut answer = Vec::new();
    match parse_host(&host)? {
        Listen::Unix(path) => {
            let mut stream =
                std::os::unix::net::UnixStream::connect(&path).map_err(|e| format!("connecting to {host}: {e}"))?;
            stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
            stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
        }
        Listen::Tcp(addr) => {
            let mut stream = std::net::TcpStream::connect(&addr).map_err(|e| format!("connecting to {host}: {e}"))?;
            stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
            stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
        }
    }
    parse_response(&answer)
}

fn parse_response(answer: &[u8]) -> Result<(u16, Value), String> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("the daemon's answer has no end of headers")?;
    let status =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("the daemon's answer has no status")?;
    let chunked =
        head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    let value = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?
    };
    Ok((status, value))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_plain_and_chunked() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-length: 13\r\n\r\n{\"token\":\"x\"}";
        assert_eq!(parse_response(plain).unwrap(), (201, json!({"token": "x"})));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (200, json!({"a": 1})));
        assert_eq!(parse_response(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap(), (204, Value::Null));
    }
}
