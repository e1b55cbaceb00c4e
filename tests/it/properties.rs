//! A property test over random methods, levels and request counts: whatever happens, nothing
//! is counted twice, every request gets an end, and only a method without any lock, at read
//! committed or below, may lose acknowledged increments.

use std::sync::Arc;

use counter::hammer::{self, Control, HammerConfig, Target};
use counter::model::Isolation;
use counter::model::MethodId;
use counter::model::Outcome;
use counter::model::method::REGISTRY;
use proptest::prelude::*;

use crate::support::start_server;

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_increments_are_never_lost_or_doubled(
        method in 0..REGISTRY.len(),
        level in 0..Isolation::ALL.len(),
        requests in 1u64..80,
        concurrency in 1u64..40,
    ) {
        let (method, level) = (REGISTRY[method], Isolation::ALL[level]);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let run = runtime.block_on(async {
            let server = start_server(level, 5).await;
            let target = Target::parse(&server.handle.base_url()).unwrap();
            let mut config = HammerConfig::new(vec![target], method, requests);
            config.concurrency = concurrency;
            config.reset = true;
            let run = hammer::run(&config, Arc::new(Control::default())).await.unwrap();
            let stored = server.count(method.row_id()).await.unwrap_or(0);
            server.stop().await;
            (run, stored)
        });
        let (run, stored) = run;
        let context = format!("{method} at {level}, {requests} requests, concurrency {concurrency}: {run:?}");
        prop_assert_eq!(run.acknowledged + run.rejected + run.unknown, requests, "{}", context);
        prop_assert_eq!(run.after, Some(stored), "{}", context);
        prop_assert!(run.outcome != Outcome::Extra, "{}", context);
        let may_lose = method == MethodId::ReadModifyWrite
            && matches!(level, Isolation::ReadUncommitted | Isolation::ReadCommitted);
        if !may_lose {
            prop_assert!(run.outcome != Outcome::Lost, "{}", context);
            prop_assert!(run.change() >= Some(run.acknowledged as i64), "{}", context);
        }
    }
}
