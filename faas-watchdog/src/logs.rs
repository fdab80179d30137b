//! [`LogSink`]: where function output and watchdog lines go, and the line reader that feeds it.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogSource {
    /// The function's standard output (http mode only: in fork modes stdout is the response).
    Stdout,
    /// The function's standard error.
    Stderr,
    /// The watchdog itself ("Forking fprocess.", "Wrote N Bytes - Duration: …").
    Watchdog,
}

impl LogSource {
    /// `stdout`, `stderr` or `watchdog`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::Watchdog => "watchdog",
        }
    }
}

/// Where function output and watchdog lines go. Lines arrive without their newline; a line
/// longer than `log_buffer_size` arrives as several pieces.
pub trait LogSink: Send + Sync + std::fmt::Debug + 'static {
    /// One line of output.
    fn line(&self, source: LogSource, text: &str);
}

/// The binary's sink: writes every line to stderr, prefixed with a UTC timestamp and the stream
/// name when `prefix` is set (`prefix_logs`).
#[derive(Debug, Clone, Copy)]
pub struct StderrSink {
    /// Whether to prefix lines (`prefix_logs`).
    pub prefix: bool,
}

impl LogSink for StderrSink {
    fn line(&self, source: LogSource, text: &str) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        // A closed stderr must not take the watchdog down: ignore write errors.
        let _ = if self.prefix {
            writeln!(err, "{} {}: {}", timestamp(), source.as_str(), text)
        } else {
            writeln!(err, "{text}")
        };
    }
}

/// `YYYY/MM/DD HH:MM:SS` in UTC, the Go `log` package's format.
fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant), valid for the Unix era.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}/{month:02}/{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Reads `reader` line by line into `sink` until EOF or a read error. Lines longer than
/// `max_line` bytes are passed on in pieces of at most `max_line` bytes; invalid UTF-8 is replaced.
pub(crate) async fn pump_lines<R: AsyncRead + Unpin>(
    reader: R,
    source: LogSource,
    sink: &dyn LogSink,
    max_line: usize,
) {
    let max_line = max_line.max(1);
    let mut reader = BufReader::with_capacity(8 * 1024, reader);
    let mut line: Vec<u8> = Vec::new();
    // Set after a piece was cut at max_line: a newline right after it ends that same line.
    let mut just_split = false;
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        if std::mem::take(&mut just_split) && buf[0] == b'\n' {
            reader.consume(1);
            continue;
        }
        let room = max_line - line.len();
        let window = &buf[..buf.len().min(room)];
        match window.iter().position(|b| *b == b'\n') {
            Some(pos) => {
                line.extend_from_slice(&window[..pos]);
                reader.consume(pos + 1);
                emit(sink, source, &mut line);
            }
            None => {
                let n = window.len();
                line.extend_from_slice(window);
                reader.consume(n);
                if line.len() >= max_line {
                    emit(sink, source, &mut line);
                    just_split = true;
                }
            }
        }
    }
    if !line.is_empty() {
        emit(sink, source, &mut line);
    }
}

fn emit(sink: &dyn LogSink, source: LogSource, line: &mut Vec<u8>) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    sink.line(source, &String::from_utf8_lossy(line));
    line.clear();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Collect(Mutex<Vec<String>>);
    impl LogSink for Collect {
        fn line(&self, _source: LogSource, text: &str) {
            self.0.lock().unwrap().push(text.to_owned());
        }
    }

    #[tokio::test]
    async fn splits_long_lines_and_keeps_going() {
        let mut input = vec![b'a'; 10];
        input.push(b'\n');
        input.extend(vec![b'b'; 25]);
        input.extend_from_slice(b"\nlast");
        let sink = Collect::default();
        pump_lines(&input[..], LogSource::Stderr, &sink, 8).await;
        let lines = sink.0.into_inner().unwrap();
        assert_eq!(
            lines,
            vec![
                "aaaaaaaa", "aa", "bbbbbbbb", "bbbbbbbb", "bbbbbbbb", "b", "last"
            ]
        );
    }

    #[test]
    fn timestamp_has_go_log_shape() {
        let ts = timestamp();
        assert_eq!(ts.len(), 19, "{ts}");
        assert_eq!(&ts[4..5], "/");
    }
}
