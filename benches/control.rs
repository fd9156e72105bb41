//! What the test instrument costs per request: recording an event (memory only, and with a
//! JSONL file), consulting the fault rules, and a full request through the fault/event layer.
// `criterion_group!` generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fauxauth_server::__bench::{self, RequestFacts};
use fauxauth_server::events::{Event, EventDetails, EventLog};
use fauxauth_server::{EndpointKind, MockServer};
use fauxauth_server::{FaultRule, FaultSet};

fn event() -> Event {
    Event {
        seq: 0,
        real_time_ms: 1_764_064_800_123,
        virtual_time_ms: 1_764_068_460_123,
        endpoint: EndpointKind::Token,
        method: "POST".into(),
        path: "/oauth/token".into(),
        status: Some(200),
        error: None,
        fault: None,
        latency_us: 812,
        details: EventDetails {
            client_id: Some("fauxauth-agent".into()),
            grant_type: Some("refresh_token".into()),
            family: Some("fam_3".into()),
            presented_refresh: Some("9f2c1d0a4b7e".into()),
            issued_access: Some("0a1b2c3d4e5f".into()),
            issued_refresh: Some("5f4e3d2c1b0a".into()),
            access_exp: Some(1_764_068_460),
            ..EventDetails::default()
        },
    }
}

fn events(c: &mut Criterion) {
    let log = EventLog::new(100_000);
    c.bench_function("events/record (memory)", |b| {
        b.iter(|| black_box(__bench::record(&log, event())))
    });
    let path = std::env::temp_dir().join(format!("fauxauth-bench-{}.jsonl", std::process::id()));
    let file_log = EventLog::with_file(100_000, &path).expect("event file");
    c.bench_function("events/record (memory + JSONL file)", |b| {
        b.iter(|| black_box(__bench::record(&file_log, event())))
    });
    __bench::close(&file_log);
    let _ = std::fs::remove_file(&path);
    c.bench_function("events/query since last 100 of 100k", |b| {
        let since = log.last_seq().saturating_sub(100);
        b.iter(|| black_box(log.since(since).len()))
    });
}

fn faults(c: &mut Criterion) {
    let facts = RequestFacts {
        endpoint: EndpointKind::Api,
        grant_type: None,
        client_id: Some("fauxauth-agent"),
    };
    let empty = FaultSet::new();
    c.bench_function("faults/check (no rules)", |b| {
        b.iter(|| black_box(__bench::check_faults(&empty, black_box(&facts))))
    });
    let ten = FaultSet::new();
    for _ in 0..10 {
        let rule: FaultRule = serde_json::from_str(
            r#"{"match": {"endpoint": "token", "grant_type": "refresh_token"}, "action": "hang"}"#,
        )
        .expect("rule");
        ten.add(rule).expect("valid");
    }
    c.bench_function("faults/check (10 rules, none match)", |b| {
        b.iter(|| black_box(__bench::check_faults(&ten, black_box(&facts))))
    });
}

fn request(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (server, http) =
        runtime.block_on(async { (MockServer::start().await, reqwest::Client::new()) });
    let url = format!("{}/.well-known/jwks.json", server.url());
    c.bench_function("http/GET jwks through the layer (keep-alive)", |b| {
        b.to_async(&runtime).iter(|| async {
            let r = http.get(&url).send().await.expect("jwks");
            black_box(r.bytes().await.expect("body").len())
        })
    });
    runtime.block_on(server.shutdown());
}

criterion_group!(benches, events, faults, request);
criterion_main!(benches);
