//! The JSON report: every scenario with its failures, step records and event log.

use crate::scenario::records::RunReport;

/// The report as pretty JSON.
pub fn render(report: &RunReport) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    Ok(text)
}
