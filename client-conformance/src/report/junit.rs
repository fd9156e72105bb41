//! The JUnit XML report (via `quick-junit`): one test suite, one test case per scenario.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::scenario::records::{RunReport, ScenarioResult};

/// The report as JUnit XML.
pub fn render(report: &RunReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new("fauxauth");
    let mut suite = TestSuite::new("scenarios");
    for result in &report.results {
        suite.add_test_case(test_case(result));
    }
    suite.set_time(report.duration);
    junit.set_time(report.duration);
    junit.add_test_suite(suite);
    junit.to_string()
}

fn test_case(result: &ScenarioResult) -> TestCase {
    let status = if result.passed() {
        TestCaseStatus::success()
    } else {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let first = &result.failures[0];
        let at = match &first.step {
            Some((i, kind)) => format!("step {} ({kind})", i + 1),
            None => "whole run".to_owned(),
        };
        status.set_message(format!(
            "{at}: expected {}, got {}",
            first.expected, first.actual
        ));
        status.set_type("expectation");
        let mut text = String::new();
        for f in &result.failures {
            let at = match &f.step {
                Some((i, kind)) => format!("step {} ({kind})", i + 1),
                None => "whole run".to_owned(),
            };
            text.push_str(&format!(
                "{at}:\n  expected: {}\n  actual:   {}\n",
                f.expected, f.actual
            ));
            for e in &f.events {
                text.push_str(&format!("    {e}\n"));
            }
        }
        status.set_description(text);
        status
    };
    let mut case = TestCase::new(result.name.clone(), status);
    case.set_classname(format!("fauxauth.scenarios.{}", classname(&result.file)));
    case.set_time(result.duration);
    if let Some(output) = &result.output {
        case.set_system_out(output.clone());
    }
    case
}

fn classname(file: &str) -> String {
    std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().replace('.', "_"))
        .unwrap_or_default()
}
