//! The suite's report: one row per rule checked per scenario.

use std::fmt;

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The rule held.
    Pass,
    /// The rule was broken; why, and what was expected.
    Fail(String),
    /// Not checked; why (for example nothing was declared to check it with).
    Skip(String),
}

/// One rule checked in one scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Row {
    /// The rule's id in `spec/rules.md`.
    pub rule: &'static str,
    /// The scenario, `group/name`.
    pub scenario: &'static str,
    /// How it went.
    pub outcome: Outcome,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Pass => write!(f, "PASS {:<9} {}", self.rule, self.scenario),
            Outcome::Fail(why) => write!(f, "FAIL {:<9} {}: {why}", self.rule, self.scenario),
            Outcome::Skip(why) => write!(f, "SKIP {:<9} {}: {why}", self.rule, self.scenario),
        }
    }
}

/// What [`Check::run`](crate::Check::run) found: every rule checked, per
/// scenario, with pass, fail (and why) or skip.
///
/// Prints as a table, one row per line:
///
/// ```text
/// PASS HTTP-020  forwards/response-order
/// FAIL CORE-006  forwards/streaming-response: the client got no chunk 0 ...
/// ```
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub(crate) rows: Vec<Row>,
}

impl Report {
    /// Every row, in scenario order.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The failed rows.
    pub fn failures(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
    }

    /// The ids of the failed rules, each once, in order of first failure.
    pub fn failed_rules(&self) -> Vec<&'static str> {
        let mut ids = Vec::new();
        for row in self.failures() {
            if !ids.contains(&row.rule) {
                ids.push(row.rule);
            }
        }
        ids
    }

    /// Whether `rule` failed in some scenario.
    pub fn fails(&self, rule: &str) -> bool {
        self.failures().any(|r| r.rule == rule)
    }

    /// Whether no check failed.
    pub fn is_clean(&self) -> bool {
        self.failures().next().is_none()
    }

    /// How many checks passed.
    pub fn passed(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.outcome == Outcome::Pass)
            .count()
    }

    /// Panics, printing the failures and then the whole table, unless the
    /// report is clean. The one line a conformance test ends with.
    #[track_caller]
    pub fn assert_clean(&self) {
        if self.is_clean() {
            return;
        }
        let failures: Vec<String> = self.failures().map(ToString::to_string).collect();
        panic!(
            "the middleware broke {} rule check(s):\n{}\n\nfull report:\n{self}",
            failures.len(),
            failures.join("\n")
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for row in &self.rows {
            writeln!(f, "{row}")?;
        }
        let failed = self.failures().count();
        let skipped = self
            .rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skip(_)))
            .count();
        write!(
            f,
            "{} passed, {failed} failed, {skipped} skipped",
            self.passed()
        )
    }
}
