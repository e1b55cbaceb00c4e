//! What every engine's session and pooled connection do the same way with their wire.

/// The [`crate::methods::Session`] calls that every engine's session hands to its wire as
/// they are (written once; used inside each engine's `impl Session`).
macro_rules! session_through_wire {
    () => {
        async fn run_script(
            &mut self,
            statement: $crate::model::statement::Statement,
        ) -> Result<
            ($crate::model::statement::Answer, $crate::methods::TxReport),
            $crate::model::DbFailure,
        > {
            self.wire.send_foreign(statement).await
        }

        fn observe(&mut self, observer: std::sync::Arc<dyn $crate::model::statement::Observer>) {
            self.wire.observe(observer);
        }

        async fn server_id(&mut self) -> Result<Option<i64>, $crate::model::DbFailure> {
            self.wire.server_id().await
        }
    };
}
pub(crate) use session_through_wire;

/// [`Link`] for a connection of one of sqlx's own pools (MariaDB, SQLite): closing it on drop
/// keeps it from going back.
macro_rules! pooled_link {
    ($db:ty, $connection:ty, $result:ty) => {
        impl $crate::engines::wire::Link for sqlx::pool::PoolConnection<$db> {
            type Db = $db;

            fn connection(&mut self) -> &mut $connection {
                self
            }

            fn rows_written(result: &$result) -> u64 {
                result.rows_affected()
            }

            fn discard(&mut self) {
                self.close_on_drop();
            }
        }
    };
}
pub(crate) use pooled_link;
