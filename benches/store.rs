//! Store operations: insert a family, rotate a refresh token, redeem an authorization code.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use fauxauth_server::__bench::{CodeRecord, RefreshRules, ScopeSet, Store, new_family};

const RULES: RefreshRules = RefreshRules {
    rotation: true,
    reuse_grace: 0,
    ttl: 30 * 86_400,
};

fn store_ops(c: &mut Criterion) {
    let scope = ScopeSet::parse("openid model.request offline_access").expect("scope");
    let mut group = c.benchmark_group("store");

    let store = Store::new();
    group.bench_function("insert_family", |b| {
        b.iter(|| {
            store.insert_family(
                new_family(
                    "fauxauth-agent",
                    "user",
                    black_box(&scope),
                    0,
                    0,
                    3600,
                    Some(1_000_000),
                ),
                0,
            )
        })
    });

    let store = Store::new();
    let id = store.insert_family(
        new_family(
            "fauxauth-agent",
            "user",
            &scope,
            0,
            0,
            3600,
            Some(1_000_000),
        ),
        0,
    );
    let mut token = store.refresh_token(id, 0);
    group.bench_function("rotate_refresh", |b| {
        b.iter(|| {
            let next = store
                .use_refresh_token(
                    black_box(&token),
                    "fauxauth-agent",
                    std::time::UNIX_EPOCH + Duration::from_secs(10),
                    RULES,
                    3610,
                )
                .expect("rotates");
            token = next.refresh_token;
        })
    });

    let store = Store::new();
    group.bench_function("redeem_code", |b| {
        b.iter_batched(
            || {
                let record = CodeRecord::new(
                    "fauxauth-agent".into(),
                    None,
                    scope.clone(),
                    None,
                    None,
                    "user".into(),
                    0,
                    60,
                );
                store.insert_code(record, 0)
            },
            |code| {
                store
                    .redeem_code::<()>(
                        &code,
                        1,
                        |_| Ok(()),
                        |r| new_family(&r.client_id, &r.sub, &r.scope, 0, 1, 3601, Some(1_000_000)),
                    )
                    .expect("redeem")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    targets = store_ops
}
criterion_main!(benches);
