//! The JUnit XML report (via `quick-junit`): one test suite, one test case per scenario.
//!
//! A test case is named after the scenario, its `classname` is `fauxauth.scenarios.NAME` (the
//! scenario's name, dots as `_`), and its properties are the scenario's `file` and (when it
//! says) what it `reproduces`. A scenario that failed has a `<failure>` whose `message` is one
//! line (the first failed expectation) and whose body holds every failure with its events; one
//! that could not be judged has an `<error>` instead.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::scenario::records::{RunReport, ScenarioResult, Status};

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
    let status = match (result.status(), result.failures.first()) {
        (Status::Passed, _) | (_, None) => TestCaseStatus::success(),
        (status, Some(first)) => {
            let (kind, ty) = match status {
                Status::Error => (NonSuccessKind::Error, "error"),
                _ => (NonSuccessKind::Failure, "expectation"),
            };
            let mut non_success = TestCaseStatus::non_success(kind);
            non_success.set_message(first.message());
            non_success.set_type(ty);
            non_success.set_description(details(result));
            non_success
        }
    };
    let mut case = TestCase::new(result.name.clone(), status);
    case.set_classname(classname(&result.name));
    case.set_time(result.duration);
    case.add_property(Property::new("file", result.file.clone()));
    if !result.reproduces.is_empty() {
        case.add_property(Property::new("reproduces", result.reproduces.clone()));
    }
    if let Some(output) = &result.output {
        case.set_system_out(output.clone());
    }
    case
}

/// Every failure: where, expected, actual (as written, lines and all), and its events.
fn details(result: &ScenarioResult) -> String {
    let mut text = String::new();
    for f in &result.failures {
        text.push_str(&format!(
            "{}:\n  expected: {}\n  actual:   {}\n",
            f.place(),
            f.expected,
            f.actual
        ));
        for e in &f.events {
            text.push_str(&format!("    {e}\n"));
        }
    }
    text
}

/// `fauxauth.scenarios.NAME`, with the dots of the name as `_` (CI systems read dots in a
/// class name as packages).
fn classname(name: &str) -> String {
    format!("fauxauth.scenarios.{}", name.replace('.', "_"))
}
