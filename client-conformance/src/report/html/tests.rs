use std::time::{Duration, SystemTime};

use super::*;
use crate::scenario::records::{Failure, MetExpectation, StepRecord};

fn info() -> RunInfo {
    RunInfo {
        command: "fauxauth run scenarios --html out.html".to_owned(),
        version: "9.9.9".to_owned(),
        finished: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    }
}

fn event(seq: u64, endpoint: &str) -> ObservedEvent {
    ObservedEvent {
        seq,
        virtual_time_ms: 1_000_000 + seq * 1000,
        endpoint: endpoint.to_owned(),
        method: "POST".to_owned(),
        path: "/x".to_owned(),
        status: Some(200),
        ..ObservedEvent::default()
    }
}

fn result(name: &str, failures: Vec<Failure>) -> ScenarioResult {
    ScenarioResult {
        name: name.to_owned(),
        file: format!("{name}.yaml"),
        reproduces: String::new(),
        duration: Duration::from_millis(120),
        failures,
        instances: Vec::new(),
        hints: Vec::new(),
        program_clock: None,
        met: vec![MetExpectation {
            step: Some((0, "login".to_owned())),
            expected: "outcome ok".to_owned(),
            actual: "answered HTTP 200".to_owned(),
        }],
        steps: vec![StepRecord {
            index: 0,
            kind: "login",
            ..StepRecord::default()
        }],
        events: vec![event(1, "token"), event(2, "api"), event(3, "api")],
        output: None,
    }
}

fn report(results: Vec<ScenarioResult>) -> RunReport {
    RunReport {
        results,
        filtered_out: 2,
        duration: Duration::from_millis(1500),
    }
}

#[test]
fn text_from_scenarios_is_escaped_not_markup() {
    let failure = Failure {
        step: None,
        expected: "<b>bold</b> & \"quoted\"".to_owned(),
        actual: "</script><script>alert(1)</script>".to_owned(),
        events: Vec::new(),
        check: Default::default(),
    };
    let page = render(
        &report(vec![result("<img src=x onerror=alert(1)>", vec![failure])]),
        &info(),
    )
    .expect("render");
    assert!(!page.contains("<img src=x"), "a name is text, not markup");
    assert!(
        !page.contains("<script>alert(1)"),
        "a failure is text, not markup"
    );
    assert!(!page.contains("<b>bold</b>"));
    assert!(page.contains("&#60;b&#62;bold&#60;/b&#62; &#38; &#34;quoted&#34;"));
    // One script element: the inlined timeline and report scripts.
    assert_eq!(page.matches("<script>").count(), 1);
}

#[test]
fn verdict_counts_version_and_date_are_shown() {
    let failure = Failure {
        step: Some((0, "login".to_owned())),
        expected: "a refresh token held after the step".to_owned(),
        actual: "the client holds none".to_owned(),
        events: vec!["#1 [+0.000s] POST /x -> 200".to_owned()],
        check: Default::default(),
    };
    let page = render(
        &report(vec![
            result("good", Vec::new()),
            result("bad", vec![failure]),
        ]),
        &info(),
    )
    .expect("render");
    assert!(page.contains("1 passed</strong>"));
    assert!(page.contains("1 failed</strong>"));
    assert!(page.contains("2 filtered out"));
    assert!(page.contains("finished in 1.50s"));
    assert!(page.contains("fauxauth 9.9.9"));
    assert!(page.contains("2027-01-15T08:00:00Z"), "the date, RFC 3339");
    // Failed scenarios come first.
    let bad = page.find("data-scenario=\"bad\"").expect("bad");
    let good = page.find("data-scenario=\"good\"").expect("good");
    assert!(bad < good, "the failed scenario is shown first");
    assert!(page.contains("<td class=\"expected\">a refresh token held after the step</td>"));
    assert!(page.contains("<td class=\"actual\">the client holds none"));
}

#[test]
fn failures_highlight_the_events_they_name_and_only_known_ones() {
    let failure = Failure {
        step: None,
        expected: "refreshed before expiry: true".to_owned(),
        actual: "event #3: …".to_owned(),
        events: vec![
            "#3 [+1h01m00s] POST /v1/responses -> 401 invalid_token [token expired]".to_owned(),
            "… 7 more …".to_owned(),
            "#99 [+2h] POST /x -> 200".to_owned(),
            "#1 [+0.000s] POST /oauth/token -> 200".to_owned(),
        ],
        check: Default::default(),
    };
    let scenario = result("bad", vec![failure]);
    assert_eq!(highlighted(&scenario), vec![1, 3]);
    let page = render(&report(vec![scenario]), &info()).expect("render");
    assert!(page.contains("data-highlight=\"1 3\""));
}

#[test]
fn a_step_that_could_not_run_is_listed_with_its_failure() {
    let failure = Failure {
        step: Some((3, "revoke".to_owned())),
        expected: "the revoke step to run".to_owned(),
        actual: "the client holds no tokens".to_owned(),
        events: Vec::new(),
        check: Default::default(),
    };
    let page = render(&report(vec![result("bad", vec![failure])]), &info()).expect("render");
    assert!(page.contains("data-step=\"4\""), "step 4 has a row");
    assert!(page.contains("<strong>revoke</strong>"));
    assert!(page.contains("the revoke step to run"));
}

#[test]
fn a_scenario_without_events_renders_an_empty_timeline() {
    let mut scenario = result("broken", Vec::new());
    scenario.events.clear();
    let page = render(&report(vec![scenario]), &info()).expect("render");
    assert!(page.contains("data-events=\"[]\""));
}
