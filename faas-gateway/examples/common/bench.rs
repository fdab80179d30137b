//! Helpers the benchmark examples share: ports, `/proc` readings and `wrk` output parsing.
#![allow(dead_code)]

/// A port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `/proc/loadavg`, for the header of a run.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The unit of `/proc/<pid>/stat` times: Linux's USER_HZ, 100 on every architecture we run on.
const USER_HZ: u64 = 100;

/// CPU time of `pid` in µs: utime + stime, plus its waited-for children's (a classic
/// watchdog's forked function processes) when `children`.
pub(crate) fn cpu_us(pid: u32, children: bool) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // After ')': state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    let ticks = f.first()? + f.get(1)? + if children { f.get(2)? + f.get(3)? } else { 0 };
    Some(ticks * 1_000_000 / USER_HZ)
}

/// A wrk latency figure (`12.3us`, `1.5ms`, `2s`) in µs.
pub(crate) fn parse_latency(text: &str) -> f64 {
    let text = text.trim();
    let (num, mult) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1000.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000.0)
    } else {
        (text, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * mult
}

/// The request count of wrk's "N requests in …" line.
pub(crate) fn wrk_requests(text: &str) -> u64 {
    text.lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{text}"))
}
