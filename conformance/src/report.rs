//! The result of a suite run: one [`CaseReport`] per check, rendered as a table or JUnit XML.

use std::fmt::Write as _;
use std::time::Duration;

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The implementation met the clause.
    Passed,
    /// It did not; the reason names the clause and what was observed.
    Failed(String),
    /// The check did not apply; the reason says why (never counted as passed).
    Skipped(String),
}

impl Outcome {
    /// `PASSED`, `FAILED` or `SKIPPED`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "PASSED",
            Outcome::Failed(_) => "FAILED",
            Outcome::Skipped(_) => "SKIPPED",
        }
    }

    /// The reason, empty when passed.
    pub fn reason(&self) -> &str {
        match self {
            Outcome::Passed => "",
            Outcome::Failed(r) | Outcome::Skipped(r) => r,
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseReport {
    /// The check id, e.g. `deploy::get_shows_every_field`.
    pub id: String,
    /// The SPEC.md clause it checks, e.g. `DEP-1`.
    pub clause: String,
    /// The one-line statement of the contract.
    pub statement: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took, cleanup included.
    pub duration: Duration,
}

/// Every check's result, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The suite name (`provider <name>` or `gateway <url>`).
    pub suite: String,
    /// The results.
    pub cases: Vec<CaseReport>,
}

impl Report {
    /// An empty report for `suite`.
    pub fn new(suite: impl Into<String>) -> Self {
        Self {
            suite: suite.into(),
            cases: Vec::new(),
        }
    }

    /// The result of check `id`, if it ran.
    pub fn get(&self, id: &str) -> Option<&CaseReport> {
        self.cases.iter().find(|c| c.id == id)
    }

    /// How many checks passed, failed and were skipped.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |label| {
            self.cases
                .iter()
                .filter(|c| c.outcome.label() == label)
                .count()
        };
        (count("PASSED"), count("FAILED"), count("SKIPPED"))
    }

    /// Whether no check failed.
    pub fn is_success(&self) -> bool {
        self.counts().1 == 0
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &CaseReport> {
        self.cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    /// A plain-text table: id, clause, result, time, reason; then a summary line.
    pub fn table(&self) -> String {
        let id_w = self
            .cases
            .iter()
            .map(|c| c.id.len())
            .max()
            .unwrap_or(2)
            .max(2);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<id_w$}  {:<7}  {:<7}  {:>8}  REASON",
            "ID", "CLAUSE", "RESULT", "TIME"
        );
        for c in &self.cases {
            let reason = c.outcome.reason().replace('\n', " ");
            let _ = writeln!(
                out,
                "{:<id_w$}  {:<7}  {:<7}  {:>7.2}s  {}",
                c.id,
                c.clause,
                c.outcome.label(),
                c.duration.as_secs_f64(),
                reason
            );
        }
        let (p, f, s) = self.counts();
        let _ = writeln!(out, "{}: {p} passed, {f} failed, {s} skipped", self.suite);
        out
    }

    /// JUnit XML (one `testsuite`, one `testcase` per check; skips and failures carry their
    /// reason).
    pub fn junit_xml(&self) -> String {
        let (_, failures, skipped) = self.counts();
        let total: f64 = self.cases.iter().map(|c| c.duration.as_secs_f64()).sum();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{total:.3}\">",
            xml_escape(&self.suite),
            self.cases.len()
        );
        for c in &self.cases {
            let _ = write!(
                out,
                "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                xml_escape(&c.clause),
                xml_escape(&c.id),
                c.duration.as_secs_f64()
            );
            match &c.outcome {
                Outcome::Passed => {}
                Outcome::Failed(r) => {
                    let _ = write!(out, "<failure message=\"{}\"/>", xml_escape(r));
                }
                Outcome::Skipped(r) => {
                    let _ = write!(out, "<skipped message=\"{}\"/>", xml_escape(r));
                }
            }
            out.push_str("</testcase>\n");
        }
        out.push_str("</testsuite>\n");
        out
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new("provider memory");
        for (id, outcome) in [
            ("a::ok", Outcome::Passed),
            (
                "b::bad",
                Outcome::Failed("DEP-1: lost <labels> & more".into()),
            ),
            (
                "c::skip",
                Outcome::Skipped("provider declares `logs: false`".into()),
            ),
        ] {
            r.cases.push(CaseReport {
                id: id.into(),
                clause: "DEP-1".into(),
                statement: "s".into(),
                outcome,
                duration: Duration::from_millis(1500),
            });
        }
        r
    }

    #[test]
    fn table_lists_every_case_and_a_summary() {
        let t = sample().table();
        assert!(
            t.contains("b::bad   DEP-1    FAILED      1.50s  DEP-1: lost <labels> & more"),
            "{t}"
        );
        assert!(t.contains("SKIPPED"));
        assert!(
            t.ends_with("provider memory: 1 passed, 1 failed, 1 skipped\n"),
            "{t}"
        );
        assert!(!sample().is_success());
    }

    #[test]
    fn junit_escapes_and_counts() {
        let x = sample().junit_xml();
        assert!(
            x.contains("tests=\"3\" failures=\"1\" skipped=\"1\""),
            "{x}"
        );
        assert!(
            x.contains("<failure message=\"DEP-1: lost &lt;labels&gt; &amp; more\"/>"),
            "{x}"
        );
        assert!(
            x.contains("<skipped message=\"provider declares `logs: false`\"/>"),
            "{x}"
        );
    }
}
