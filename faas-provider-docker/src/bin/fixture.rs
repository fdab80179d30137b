//! `faas-docker-fixture`: a tiny multi-call program for test function images (std only, so it
//! links statically into a `FROM scratch` image).
//!
//! - `faas-docker-fixture echo` copies stdin to stdout;
//! - `faas-docker-fixture env` prints the environment, one `KEY=value` per line, sorted;
//! - `faas-docker-fixture cat PATH` prints a file (a secret, for instance);
//! - `faas-docker-fixture serve` is a minimal classic watchdog for images built before the real
//!   `faas-watchdog` is available: HTTP/1.1 on `:8080` (or `$PORT`), `GET /_/health` answers
//!   200, every other request runs the `fprocess` command (split on whitespace, no shell) with
//!   the request body on stdin and answers with its stdout (500 with stderr when it fails).
//!   It logs one line per request to stdout, so service logs have something to show.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("echo") => echo(),
        Some("env") => env(),
        Some("cat") => match args.get(1) {
            Some(path) => cat(path),
            None => Err("usage: faas-docker-fixture cat PATH".to_owned()),
        },
        Some("serve") => serve(),
        _ => Err("usage: faas-docker-fixture echo | env | cat PATH | serve".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faas-docker-fixture: {e}");
            ExitCode::FAILURE
        }
    }
}

fn echo() -> Result<(), String> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| e.to_string())?;
    std::io::stdout()
        .write_all(&input)
        .map_err(|e| e.to_string())
}

fn env() -> Result<(), String> {
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    let mut out = std::io::stdout().lock();
    for (k, v) in vars {
        writeln!(out, "{k}={v}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn cat(path: &str) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    std::io::stdout()
        .write_all(&bytes)
        .map_err(|e| e.to_string())
}

fn serve() -> Result<(), String> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let listener = TcpListener::bind(format!("0.0.0.0:{port}")).map_err(|e| e.to_string())?;
    println!("faas-docker-fixture: listening on :{port}");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || {
                    if let Err(e) = handle(stream) {
                        eprintln!("faas-docker-fixture: {e}");
                    }
                });
            }
            Err(e) => eprintln!("faas-docker-fixture: accept: {e}"),
        }
    }
    Ok(())
}

fn handle(stream: TcpStream) -> Result<(), String> {
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("/").to_owned();
        let mut content_length = 0usize;
        let mut close = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).map_err(|e| e.to_string())? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim();
                if k == "content-length" {
                    content_length = v.parse().map_err(|_| "bad content-length".to_owned())?;
                } else if k == "connection" && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        let (status, out) = if path == "/_/health" {
            ("200 OK", b"OK".to_vec())
        } else {
            println!("faas-docker-fixture: {method} {path}");
            run_fprocess(&body)
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            out.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        writer
            .write_all(head.as_bytes())
            .map_err(|e| e.to_string())?;
        writer.write_all(&out).map_err(|e| e.to_string())?;
        writer.flush().map_err(|e| e.to_string())?;
        if close {
            return Ok(());
        }
    }
}

fn run_fprocess(body: &[u8]) -> (&'static str, Vec<u8>) {
    let fprocess = std::env::var("fprocess").unwrap_or_default();
    let mut words = fprocess.split_whitespace();
    let Some(program) = words.next() else {
        return (
            "500 Internal Server Error",
            b"fprocess is not set\n".to_vec(),
        );
    };
    let child = Command::new(program)
        .args(words)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return (
                "500 Internal Server Error",
                format!("{program}: {e}\n").into_bytes(),
            );
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input closes the pipe early; that is fine.
        let _ = stdin.write_all(body);
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() => ("200 OK", out.stdout),
        Ok(out) => ("500 Internal Server Error", out.stderr),
        Err(e) => (
            "500 Internal Server Error",
            format!("{program}: {e}\n").into_bytes(),
        ),
    }
}
