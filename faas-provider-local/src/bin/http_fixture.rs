//! A tiny HTTP function for tests: listens on `$PORT` (127.0.0.1) and answers every request
//! with `fixture:<method>:<path>:<body>`. `GET /crash` exits the process (to test restarts),
//! `GET /pid` answers its process id, `GET /secret/<name>` reads `/var/openfaas/secrets/<name>`.
//! Blocking std I/O, one connection at a time: it only has to be small and dependable.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "5000".to_owned());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    eprintln!("fixture listening on {port}");
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            continue;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        if path == "/crash" {
            eprintln!("fixture crashing on request");
            std::process::exit(3);
        }
        let answer = if path == "/pid" {
            std::process::id().to_string()
        } else if let Some(name) = path.strip_prefix("/secret/") {
            std::fs::read_to_string(format!("/var/openfaas/secrets/{name}"))
                .unwrap_or_else(|e| format!("error: {e}"))
        } else {
            println!("fixture handled {method} {path}");
            format!("fixture:{method}:{path}:{}", String::from_utf8_lossy(&body))
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
        stream.write_all(response.as_bytes())?;
    }
    Ok(())
}
