//! Method 8, in-process lock: an application mutex around read-modify-write. While one server
//! process serves all requests it serializes them (correct at every level: each transaction
//! starts after the previous one committed). Two servers have two mutexes: at read committed
//! the updates are lost again, at repeatable read and above they are refused with 40001.

use sqlx::PgConnection;

use super::MethodContext;
use super::get_or_create::Read;
use super::transaction::{Guard, read_then_write};

pub async fn increment(
    ctx: &MethodContext,
    conn: &mut PgConnection,
    id: i64,
) -> Result<i64, sqlx::Error> {
    let _guard = ctx.local_lock.lock().await;
    read_then_write(ctx, conn, id, Guard::None, Read::Plain).await
}
